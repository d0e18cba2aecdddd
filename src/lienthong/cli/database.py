"""What every command that opens a database or a port shares: one way to say, on a first run,
what is wrong (a bad URL, an unreachable server, a missing role, database or folder, a port in
use) in Vietnamese and English, and exit with code 2, never with a traceback.

Folders are never created silently: only the default database's folder (``var/`` in the
working directory) is created, and the command says so.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lienthong.cli.output import err_console, fail
from lienthong.cli.reports import safe
from lienthong.store.db import (
    DEFAULT_URL,
    DatabaseProblem,
    check_database,
    database_problem,
    make_engine,
    session_factory,
    sqlite_file,
    upgrade,
)

__all__ = [
    "DATABASE_ENV",
    "DatabaseOption",
    "check_port",
    "database_url",
    "open_database",
    "open_sessions",
    "ready_database",
]

#: Environment variable with the database URL of every hub command that takes ``--database``.
DATABASE_ENV = "LIENTHONG_DATABASE_URL"

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help=f"Database URL; default ${DATABASE_ENV} or {DEFAULT_URL}.",
        show_default=False,
    ),
]


def database_url(database: str | None) -> str:
    """``--database``, else ``$LIENTHONG_DATABASE_URL``, else the embedded default."""
    return database or os.environ.get(DATABASE_ENV) or DEFAULT_URL


def _problem(problem: DatabaseProblem) -> NoReturn:
    fail(problem.vi, problem.en)


def ready_database(url: str, default: str = DEFAULT_URL) -> None:
    """Exit 2 with a bilingual message unless ``url`` can be connected to. The folder of the
    default SQLite file is created (and said so); any other missing folder is an error."""
    path = sqlite_file(url) if url == default else None
    if path is not None and not path.parent.exists():
        path.parent.mkdir(parents=True)
        err_console.print(
            f"Đã tạo thư mục {safe(path.parent)} cho cơ sở dữ liệu mặc định / "
            f"created the folder {safe(path.parent)} for the default database"
        )
    try:
        check_database(url)
    except DatabaseProblem as problem:
        _problem(problem)


@contextmanager
def open_database(database: str | None) -> Iterator[Engine]:
    """An upgraded engine for ``--database`` (see :func:`database_url`); every database problem
    becomes a bilingual error with exit code 2."""
    url = database_url(database)
    ready_database(url)
    engine = make_engine(url)
    try:
        try:
            upgrade(engine)
        except (SQLAlchemyError, OSError) as exc:
            _problem(database_problem(url, exc))
        yield engine
    finally:
        engine.dispose()


@contextmanager
def open_sessions(database: str | None) -> Iterator[sessionmaker[Session]]:
    """Sessions on the upgraded database of ``--database``, as :func:`open_database`."""
    with open_database(database) as engine:
        yield session_factory(engine)


def check_port(host: str, port: int, option: str = "--port") -> None:
    """Exit 2 with a bilingual message unless ``host:port`` can be listened on now (tried by
    binding, as the server will: before any banner or worker)."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        fail(
            f"không dùng được địa chỉ {where}: {exc}; kiểm tra --host",
            f"cannot use the address {where}: {exc}; check --host",
        )
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"cổng {port} đang được dùng ({where}): dừng chương trình đang nghe ở đó hoặc "
                f"chọn cổng khác ({option})",
                f"port {port} is in use ({where}): stop the program listening there or "
                f"choose another port ({option})",
            )
        if exc.errno == errno.EACCES:
            fail(
                f"không được phép nghe ở cổng {port} ({where}): chọn cổng từ 1024 trở lên "
                f"({option})",
                f"not allowed to listen on port {port} ({where}): choose a port of 1024 or "
                f"more ({option})",
            )
        fail(
            f"không nghe được ở {where}: {exc.strerror}; kiểm tra --host và {option}",
            f"cannot listen on {where}: {exc.strerror}; check --host and {option}",
        )
