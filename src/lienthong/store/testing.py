"""Test helpers: one fresh database per test, on SQLite and on PostgreSQL.

The project's ``tests/conftest.py`` builds its fixtures from these (``blank_engine``: empty;
``engine``: upgraded; ``sessions``: ``session_factory(engine)``)::

    @pytest.fixture(params=database_urls())
    def blank_engine(request, tmp_path):
        with ExitStack() as stack:
            try:
                engine = stack.enter_context(temporary_database(request.param, tmp_path))
            except DatabaseUnavailable as exc:
                if os.environ.get("CI") == "true":
                    pytest.fail(str(exc))
                pytest.skip(str(exc))
            yield engine

    @pytest.fixture
    def engine(blank_engine):
        upgrade(blank_engine)
        return blank_engine

- ``"sqlite"``: a new database file in the given directory.
- ``"postgresql"``: ``$LIENTHONG_TEST_PG_URL`` (default
  ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each test gets its own schema
  ``lt_<pid>_<8 hex>`` (``search_path`` is set on every connection), dropped with CASCADE
  afterwards, so parallel runs never collide. If the server cannot be reached,
  :class:`DatabaseUnavailable` says why; on CI (``CI=true``) the fixture fails instead of
  skipping, so a broken PostgreSQL service can never turn into a green run.
"""

from __future__ import annotations

import os
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from lienthong.store.db import make_engine, normalize_url, redact_url

__all__ = [
    "DEFAULT_TEST_PG_URL",
    "PG_URL_ENV",
    "DatabaseUnavailable",
    "database_urls",
    "postgresql_url",
    "temporary_database",
    "writer_lock_is_free",
]

#: Environment variable naming the PostgreSQL server of the tests.
PG_URL_ENV = "LIENTHONG_TEST_PG_URL"
#: The CI service: PostgreSQL on localhost, user postgres (trust), database test.
DEFAULT_TEST_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class DatabaseUnavailable(RuntimeError):
    """The test database cannot be reached; the message says which and why."""


def database_urls() -> list[str]:
    """The kinds of database every store test runs on: ``["sqlite", "postgresql"]``.

    PostgreSQL is always listed; whether a test skips or fails without it is the fixture's call.
    """
    return ["sqlite", "postgresql"]


def postgresql_url() -> str:
    """``$LIENTHONG_TEST_PG_URL`` or :data:`DEFAULT_TEST_PG_URL`."""
    return os.environ.get(PG_URL_ENV) or DEFAULT_TEST_PG_URL


@contextmanager
def temporary_database(kind: str, directory: Path) -> Iterator[Engine]:
    """An engine on a fresh, empty database of ``kind`` (not yet upgraded), removed afterwards."""
    if kind == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)  # make_engine never creates folders
        engine = make_engine(f"sqlite:///{directory / 'lienthong.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r} (expected one of {database_urls()})")
    url = normalize_url(postgresql_url())
    admin = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        admin.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise DatabaseUnavailable(
            f"PostgreSQL at {redact_url(url)} is not reachable ({PG_URL_ENV} to change it): "
            f"{reason[0] if reason else type(exc).__name__}"
        ) from exc
    schema = f"lt_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = make_engine(url, schema=schema)
    try:
        yield engine
    finally:
        engine.dispose()
        try:
            with admin.begin() as connection:
                connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except SQLAlchemyError as exc:  # pragma: no cover - a test leaked a connection
            warnings.warn(f"could not drop test schema {schema}: {exc}", stacklevel=2)
        finally:
            admin.dispose()


def writer_lock_is_free(engine: Engine) -> bool:
    """Whether another thread could take this process's SQLite writer lock of ``engine`` now
    (see :func:`lienthong.store.db.begin_sqlite_write`): no transaction holds it."""
    from lienthong.store.db import _writer_lock

    free: list[bool] = []

    def probe() -> None:
        lock = _writer_lock(engine)
        taken = lock.acquire(blocking=False)
        if taken:
            lock.release()
        free.append(taken)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return free[0]
