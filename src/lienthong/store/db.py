"""Engines, migrations and sessions: SQLite embedded (WAL), PostgreSQL (psycopg 3) in production.

>>> engine = make_engine("sqlite:///var/lienthong.db")   # or "postgresql+psycopg://user@host/db"
>>> upgrade(engine)                                       # Alembic ``upgrade head``, idempotent
>>> sessions = session_factory(engine)
>>> with sessions.begin() as session:
...     ...

The migrations live in this package (``lienthong/store/migrations``); no ``alembic.ini`` is
needed. Datetimes in the tables are timezone-aware and come back in UTC on both databases
(``tables.UtcDateTime``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import StaticPool

__all__ = [
    "DEFAULT_URL",
    "MIGRATIONS_DIR",
    "DatabaseProblem",
    "alembic_config",
    "begin_sqlite_write",
    "check_database",
    "current_revision",
    "database_problem",
    "head_revision",
    "lz4_supported",
    "make_engine",
    "normalize_url",
    "redact_url",
    "session_factory",
    "sqlite_file",
    "upgrade",
]

logger = logging.getLogger("lienthong.store")

#: The embedded default: a SQLite file under ``./var`` (relative to the working directory).
DEFAULT_URL = "sqlite:///var/lienthong.db"

#: Alembic's script directory (``env.py``, ``versions/``), shipped as package data.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: A schema name we are willing to put in ``SET search_path`` (tests create ``lt_<pid>_<hex>``).
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    # A background thread checkpoints the WAL (_WalCheckpointer); the automatic checkpoint,
    # which runs inside whichever commit crosses the threshold, is only the safety net.
    "PRAGMA wal_autocheckpoint=16384",
)

#: Seconds a PostgreSQL connection attempt may take (unless the URL sets ``connect_timeout``).
CONNECT_TIMEOUT = 10

#: Seconds between background WAL checkpoints of a SQLite file database.
CHECKPOINT_INTERVAL = 1.0


class _WalCheckpointer(threading.Thread):
    """Copies committed WAL pages into a SQLite database file off the request path.

    With the automatic checkpoint at its default (1000 pages), every second commit of a
    1000-record batch paid for a checkpoint. ``PASSIVE`` never blocks readers or writers. The
    thread opens the file read-write only (``mode=rw``: it never creates a database, so a file
    or folder removed under it stays removed), holds the engine weakly, and ends when the engine
    is garbage-collected or disposed.
    """

    def __init__(self, engine: Engine, path: Path) -> None:
        super().__init__(name="lienthong-wal-checkpoint", daemon=True)
        self._engine = weakref.ref(engine)
        self._uri = "file:" + pathname2url(str(path.resolve())) + "?mode=rw"
        self._stop = threading.Event()
        event.listen(engine, "engine_disposed", lambda _engine: self._stop.set())

    def run(self) -> None:
        while not self._stop.wait(CHECKPOINT_INTERVAL):
            if self._engine() is None:
                return
            try:
                connection = sqlite3.connect(self._uri, uri=True, timeout=0.1)
            except sqlite3.Error:
                continue  # not created yet, or gone: mode=rw never creates it
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:  # busy: the next round, or the automatic checkpoint
                logger.debug("background WAL checkpoint failed", exc_info=True)
            finally:
                connection.close()


def _json_dumps(value: Any) -> str:
    """Compact UTF-8 JSON text (orjson; the standard library for what orjson refuses)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except (TypeError, ValueError):
        return json.dumps(value, separators=(",", ":"))


def _json_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` are mapped to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL as text with its password hidden (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparseable: shown as given, but never what may be credentials
        text = str(url)[:200]
        if "@" not in text:
            return text
        head, _, host = text.rpartition("@")
        scheme = head.split("://", 1)[0] + "://" if "://" in head else ""
        return f"{scheme}***@{host}"


class DatabaseProblem(Exception):
    """A database that cannot be used, said for its operator: what is wrong, with the URL
    (password hidden), and what to do, in Vietnamese and English."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(en)
        self.vi = vi
        self.en = en


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite file URL; None for other databases, in-memory ones and ``uri``
    URLs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or _sqlite_is_memory(parsed):
        return None
    if parsed.query.get("uri") or not parsed.database:
        return None
    return Path(parsed.database).expanduser()


#: Known server answers (psycopg's text) -> (Vietnamese, English) advice; ``{0}`` is the name
#: quoted in the answer.
_SERVER_ANSWERS = (
    (
        re.compile(r'role "([^"]*)" does not exist'),
        "vai trò (người dùng) {0} không tồn tại trên máy chủ: tạo nó (createuser {0}) "
        "hoặc sửa tên người dùng trong địa chỉ",
        "the role (user) {0} does not exist on the server: create it (createuser {0}) "
        "or fix the user name in the URL",
    ),
    (
        re.compile(r'database "([^"]*)" does not exist'),
        "cơ sở dữ liệu {0} không tồn tại: tạo nó (createdb {0}) hoặc sửa tên trong địa chỉ",
        "the database {0} does not exist: create it (createdb {0}) or fix its name in the URL",
    ),
    (
        re.compile(r'password authentication failed for user "([^"]*)"'),
        "sai mật khẩu của {0}",
        "wrong password for {0}",
    ),
    (
        re.compile(
            r"(Connection refused|timeout expired|could not translate host name|"
            r"No route to host|Network is unreachable|Name or service not known)"
        ),
        "không kết nối được máy chủ ({0}): máy chủ có chạy và nhận kết nối ở máy và cổng "
        "trong địa chỉ không?",
        "cannot reach the server ({0}): is it running and accepting connections at the host "
        "and port of the URL?",
    ),
)


def database_problem(url: str | URL, exc: BaseException) -> DatabaseProblem:
    """``exc``, raised while opening ``url``, as a :class:`DatabaseProblem`."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = redact_url(url)
    detail = str(getattr(exc, "orig", None) or exc).strip()
    first = detail.splitlines()[0] if detail else type(exc).__name__
    if isinstance(exc, NoSuchModuleError | ArgumentError) or (
        isinstance(exc, ValueError) and not isinstance(exc, DatabaseProblem)
    ):
        return DatabaseProblem(
            f"địa chỉ cơ sở dữ liệu không hợp lệ: {shown} ({first}); cần dạng "
            "sqlite:///thu-muc/tep.db hoặc postgresql://nguoi-dung@may-chu/ten-csdl",
            f"invalid database URL: {shown} ({first}); expected sqlite:///folder/file.db "
            "or postgresql://user@host/database",
        )
    if isinstance(exc, ImportError):
        return DatabaseProblem(
            f"thiếu trình điều khiển cho {shown}: {first}", f"no driver for {shown}: {first}"
        )
    for pattern, vi, en in _SERVER_ANSWERS:
        found = pattern.search(detail)
        if found:
            return DatabaseProblem(
                f"{shown}: {vi.format(found.group(1))}", f"{shown}: {en.format(found.group(1))}"
            )
    return DatabaseProblem(
        f"không mở được cơ sở dữ liệu {shown}: {first}",
        f"cannot open the database {shown}: {first}",
    )


def check_database(url: str | URL) -> None:
    """Raise :class:`DatabaseProblem` unless ``url`` names a database one can connect to:
    a parseable URL of a known kind, a SQLite file in an existing folder, a reachable server
    that knows the role and the database. Connects once and disconnects."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        path = sqlite_file(url)
    except Exception as exc:  # unparseable: SQLAlchemy's ArgumentError
        raise database_problem(url, exc) from None
    if path is not None and not path.parent.is_dir():
        shown = redact_url(url)
        folder = path.parent
        raise DatabaseProblem(
            f"thư mục {folder} của cơ sở dữ liệu {shown} không tồn tại: tạo nó "
            f"(mkdir -p {folder}) hoặc chọn đường dẫn khác; lienthong không tự tạo thư mục",
            f"the folder {folder} of the database {shown} does not exist: create it "
            f"(mkdir -p {folder}) or choose another path; lienthong does not create folders",
        )
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise database_problem(url, exc) from None
    try:
        with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as exc:
        raise database_problem(url, exc) from None
    finally:
        engine.dispose()


def _sqlite_is_memory(url: URL) -> bool:
    database = url.database
    return not database or database == ":memory:" or "mode=memory" in database


def make_engine(url: str | URL, *, schema: str | None = None) -> Engine:
    """An engine for ``url`` with the project's connection settings.

    SQLite: the folder of the file must exist (it is never created: a typo in a path must not
    leave a database where nobody looks for it); every connection runs in WAL mode with
    foreign keys on, ``synchronous=NORMAL`` and a 5 s busy timeout; connections may be shared
    across threads. An in-memory database uses a single shared connection.

    PostgreSQL: ``postgresql://`` and ``postgresql+psycopg://`` both use psycopg 3. With
    ``schema`` (used by the tests), every connection sets ``search_path`` to that schema, and
    the schema is created if missing.
    """
    parsed = normalize_url(url)
    common: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("schema= is only supported on PostgreSQL")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if _sqlite_is_memory(parsed):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(parsed, **common, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        if "poolclass" not in kwargs and not parsed.query.get("uri") and parsed.database:
            _WalCheckpointer(engine, Path(parsed.database).expanduser()).start()
        return engine
    if backend == "postgresql" and "connect_timeout" not in parsed.query:
        # an unreachable server is reported after 10 s instead of the system's minutes
        common["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    engine = create_engine(parsed, **common)
    if schema is not None:
        if backend != "postgresql":
            raise ValueError("schema= is only supported on PostgreSQL")
        if _SCHEMA_RE.fullmatch(schema) is None:
            raise ValueError(f"invalid schema name: {schema!r}")
        _install_search_path(engine, schema)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _install_search_path(engine: Engine, schema: str) -> None:
    created = False
    lock = threading.Lock()

    # insert=True: runs before the dialect's first-connect initialisation, so that
    # ``dialect.default_schema_name`` is the test schema too.
    @event.listens_for(engine, "connect", insert=True)
    def _set_search_path(dbapi_connection: Any, _record: Any) -> None:
        nonlocal created
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                with lock:
                    if not created:
                        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                        created = True
                cursor.execute(f'SET search_path TO "{schema}"')
        finally:
            dbapi_connection.autocommit = autocommit


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


# --------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the bundled migrations, without an ini file.

    With ``connection``, ``env.py`` migrates on it; without, ``env.py`` opens
    ``$LIENTHONG_DATABASE_URL`` (or :data:`DEFAULT_URL`). To write a new migration::

        from alembic import command
        from lienthong.store.db import alembic_config
        command.revision(alembic_config(), message="...", autogenerate=True)
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision of the bundled migrations."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` before the first upgrade)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table_schema": _version_schema(connection)}
        )
        return context.get_current_revision()


def _version_schema(connection: Connection) -> str | None:
    """PostgreSQL: the current schema (from ``search_path``) holds the version table."""
    if connection.dialect.name != "postgresql":
        return None
    schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    return str(schema) if schema else None


def lz4_supported(connection: Connection) -> bool:
    """Whether the server compresses TOASTed values with lz4 (PostgreSQL 14+ built with it):
    about half pglz's time on a 1 MB body (migrations 0008 and 0017 use it for kept bodies)."""
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(
        text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
    ).first()
    return found is not None


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest migration (Alembic ``upgrade head``); idempotent.

    Safe when several processes start at once: PostgreSQL takes a transaction-level advisory
    lock per schema; SQLite takes an exclusive lock on ``<database>.migrate-lock`` beside the file.
    """
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        schema = _version_schema(connection)
        if schema is not None:
            key = int.from_bytes(hashlib.sha256(f"lienthong:{schema}".encode()).digest()[:8], "big")
            connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(%(key)s)", {"key": key - (1 << 63)}
            )
        config = alembic_config(connection)
        config.attributes["version_table_schema"] = schema
        command.upgrade(config, "head")


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    url = engine.url
    if url.get_backend_name() != "sqlite" or _sqlite_is_memory(url) or url.query.get("uri"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    assert url.database is not None
    lock_path = Path(url.database).expanduser()
    lock_path = lock_path.with_name(lock_path.name + ".migrate-lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- writers of one process on SQLite ---------------------------------------------------------

#: One writer lock per SQLite engine, shared by the threads of this process.
_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()
_HOLDS_WRITER_LOCK = "lienthong.writer_lock"
#: A writer that waited this long goes on to SQLite's own lock (and its busy timeout): the lock
#: here only orders this process's threads, it is never what keeps the data right.
WRITER_LOCK_WAIT_SECONDS = 5.0


def begin_sqlite_write(connection: Connection) -> None:
    """Start ``connection``'s transaction as a writer on SQLite (nothing on other databases, or
    when its transaction is already open): ``BEGIN IMMEDIATE``, after queuing on a lock of this
    process that is released when the transaction commits or rolls back, or the connection goes
    back to the pool.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock first, so the transaction's reads are part of
    it. The process lock is for the threads of one server (concurrent requests, background
    workers): on SQLite's own lock a waiting writer retries after sleeps of up to 100 ms, so a
    short write could wait far longer than the writer ahead of it.
    """
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw is None or getattr(raw, "in_transaction", True):
        return
    lock = _writer_lock(connection.engine)
    held = lock.acquire(timeout=WRITER_LOCK_WAIT_SECONDS)
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if held:
            lock.release()
        raise
    if held:
        connection.info[_HOLDS_WRITER_LOCK] = lock


def _writer_lock(engine: Engine) -> threading.Lock:
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(engine)
        if lock is None:
            lock = _WRITER_LOCKS[engine] = threading.Lock()
            event.listen(engine, "commit", _release_writer_lock)
            event.listen(engine, "rollback", _release_writer_lock)
            # a connection given back or dropped without either (an error) releases it too
            event.listen(engine, "reset", _release_on_reset)
            event.listen(engine, "invalidate", _release_on_invalidate)
        return lock


def _release_writer_lock(connection: Connection) -> None:
    lock = connection.info.pop(_HOLDS_WRITER_LOCK, None)
    if lock is not None:
        lock.release()


def _release_pooled(record: Any) -> None:
    lock = record.info.pop(_HOLDS_WRITER_LOCK, None)
    if lock is not None:
        lock.release()


def _release_on_reset(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
    _release_pooled(record)


def _release_on_invalidate(dbapi_connection: Any, record: Any, exception: Any) -> None:
    _release_pooled(record)


#: At most this many expired rows are deleted by one :func:`purge_expired` (a purge never holds
#: the request that runs it for long).
PURGE_BATCH = 500


def purge_expired(
    session: Session,
    key: InstrumentedAttribute[Any],
    at: InstrumentedAttribute[Any],
    before: datetime,
    *conditions: ColumnElement[bool],
    batch: int = PURGE_BATCH,
) -> None:
    """Delete up to ``batch`` rows whose ``at`` is ``before`` or earlier (and that meet
    ``conditions``), oldest first, identified by their primary ``key``. Rows another
    transaction is deleting are skipped rather than waited for (PostgreSQL), so two purges
    never block each other; SQLite has one writer anyway."""
    expired = (
        select(key)
        .where(at <= before, *conditions)
        .order_by(at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(key.class_).where(key.in_(expired)))


def insert_ignoring_duplicates(session: Session, table: type[Any]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the session's database (the two the store
    supports); add ``.values(...)`` and, to learn whether a row went in, ``.returning(...)``
    (psycopg may not report ``rowcount``)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise ValueError(f"lienthong stores data in SQLite or PostgreSQL, not {dialect}")
