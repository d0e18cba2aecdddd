"""The database side of a backup: a consistent snapshot out, a restore into an empty database.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies the whole database in
  one step into a file beside the backup being written: a consistent snapshot while the hub
  keeps writing (WAL: the writer is never blocked). Restored by writing the file.
- PostgreSQL: the real ``pg_dump --format=custom --no-owner`` of the hub's schema, streamed.
  The dump runs on a snapshot exported from a read-only repeatable-read transaction that also
  counts the rows, so the counts in the manifest are those of the dump. Restored with
  ``pg_restore --no-owner --single-transaction``: all or nothing.

The facts kept in the manifest (:class:`DatabaseFacts`): the kind, the schema, the Alembic
revision, the row count of every table, and the evidence chains' heads when there are any.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.request import pathname2url

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from lienthong.backup.errors import BackupError
from lienthong.store.db import make_engine, normalize_url, redact_url, sqlite_file

__all__ = [
    "DatabaseFacts",
    "check_empty_target",
    "postgresql_dump",
    "restore_postgresql",
    "restore_sqlite",
    "sqlite_snapshot",
]

#: The evidence chains' heads (issue 13), read when the table exists.
EVIDENCE_HEAD = "evidence_head"


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What the manifest says of the database a backup holds."""

    kind: str
    """``sqlite`` or ``postgresql``."""
    schema: str | None
    """PostgreSQL: the schema dumped (``public`` unless the hub runs in another)."""
    revision: str | None
    tables: dict[str, int] = field(default_factory=dict)
    """Row count per table."""
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per side: the head's ``seq`` and ``digest``."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "schema": self.schema,
            "revision": self.revision,
            "tables": self.tables,
            "evidence_heads": self.evidence,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> DatabaseFacts:
        if value["kind"] not in ("sqlite", "postgresql"):
            raise ValueError(f"unknown database kind {value['kind']!r}")
        return cls(
            kind=str(value["kind"]),
            schema=value.get("schema"),
            revision=value.get("revision"),
            tables={str(name): int(count) for name, count in dict(value["tables"]).items()},
            evidence=dict(value.get("evidence_heads") or {}),
        )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _facts(
    kind: str, schema: str | None, tables: Iterable[str], rows: Callable[[str], Sequence[Any]]
) -> DatabaseFacts:
    """The facts of a database whose tables are ``tables``, read with ``rows(sql)``."""
    names = sorted(tables)
    counts = {name: int(rows(f"SELECT count(*) FROM {_quoted(name)}")[0][0]) for name in names}
    revision = None
    if "alembic_version" in counts:
        found = rows("SELECT version_num FROM alembic_version")
        revision = str(found[0][0]) if found else None
    evidence: dict[str, dict[str, Any]] = {}
    if EVIDENCE_HEAD in counts:
        for side, seq, digest in rows(
            f"SELECT side, seq, digest FROM {EVIDENCE_HEAD} ORDER BY side"
        ):
            evidence[str(side)] = {"seq": int(seq), "digest": str(digest)}
    return DatabaseFacts(kind, schema, revision, counts, evidence)


def sqlite_facts(path: Path) -> DatabaseFacts:
    """The facts of a SQLite file, read without changing it (``immutable``: no lock, no WAL)."""
    connection = sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?immutable=1", uri=True)

    def rows(sql: str) -> Sequence[Any]:
        return connection.execute(sql).fetchall()

    try:
        tables = [
            row[0]
            for row in rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return _facts("sqlite", None, tables, rows)
    finally:
        connection.close()


def _postgresql_facts(connection: Connection, schema: str) -> DatabaseFacts:
    def rows(sql: str) -> Sequence[Any]:
        return connection.exec_driver_sql(sql).all()

    tables = connection.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = %(schema)s AND table_type = 'BASE TABLE'",
        {"schema": schema},
    ).scalars()
    return _facts("postgresql", schema, list(tables), rows)


# -- SQLite ------------------------------------------------------------------------------------


@contextmanager
def sqlite_snapshot(engine: Engine, directory: Path) -> Iterator[tuple[Path, DatabaseFacts]]:
    """A consistent copy of the SQLite database of ``engine`` in ``directory`` (removed
    afterwards) and its facts."""
    handle, name = tempfile.mkstemp(prefix=".lienthong-snapshot-", suffix=".db", dir=directory)
    os.close(handle)
    copy = Path(name)
    try:
        target = sqlite3.connect(copy)
        try:
            with engine.connect() as connection:
                source = connection.connection.driver_connection
                assert isinstance(source, sqlite3.Connection)
                source.backup(target)  # pages=-1: one step, one read transaction, consistent
        finally:
            target.close()
        yield copy, sqlite_facts(copy)
    finally:
        copy.unlink(missing_ok=True)


def _sqlite_has_tables(path: Path) -> bool:
    try:
        return bool(sqlite_facts(path).tables)
    except sqlite3.DatabaseError:  # not a database: something else that is not ours to replace
        return True


def restore_sqlite(target: Path, chunks: Iterator[bytes], expected: DatabaseFacts) -> None:
    """Write the database file at ``target`` from the decrypted ``chunks``: into a file beside
    it, checked (every chunk authenticated, SQLite's integrity check, the row counts), then
    moved into place. ``target`` may exist only empty or as a database without tables."""
    check_empty_target(f"sqlite:///{target}")
    handle, name = tempfile.mkstemp(prefix=".lienthong-restore-", suffix=".db", dir=target.parent)
    written = Path(name)
    try:
        with os.fdopen(handle, "wb") as sink:
            for chunk in chunks:
                sink.write(chunk)
            sink.flush()
            os.fsync(sink.fileno())
        connection = sqlite3.connect(written)
        try:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            connection.close()
        if verdict != "ok":
            raise BackupError(
                "backup.restore_failed",
                f"cơ sở dữ liệu khôi phục không qua kiểm tra toàn vẹn của SQLite: {verdict}",
                f"the restored database fails SQLite's integrity check: {verdict}",
            )
        _check_counts(expected, sqlite_facts(written))
        for stale in (
            target.with_name(target.name + "-wal"),
            target.with_name(target.name + "-shm"),
        ):
            stale.unlink(missing_ok=True)
        os.replace(written, target)
    finally:
        written.unlink(missing_ok=True)


def _check_counts(expected: DatabaseFacts, found: DatabaseFacts) -> None:
    if found.tables != expected.tables:
        differing = sorted(
            name
            for name in set(expected.tables) | set(found.tables)
            if expected.tables.get(name) != found.tables.get(name)
        )
        raise BackupError(
            "backup.restore_counts",
            f"số dòng sau khôi phục khác bản kê ở các bảng: {', '.join(differing)}",
            f"the row counts after the restore differ from the manifest in: {', '.join(differing)}",
        )


# -- PostgreSQL --------------------------------------------------------------------------------


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for the client tools (no driver, no password) and the
    environment carrying the password."""
    plain = url.set(drivername="postgresql", password=None)
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    return plain.render_as_string(hide_password=False), environment


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            "backup.tool_missing",
            f"không tìm thấy {name}: cài gói postgresql-client (cùng phiên bản với máy chủ)",
            f"{name} is not installed: install postgresql-client (of the server's version)",
        )
    return found


def _tool_failed(name: str, stderr: bytes) -> BackupError:
    detail = stderr.decode("utf-8", "replace").strip()[-2000:] or "?"
    return BackupError(
        "backup.tool_failed",
        f"{name} không thành công: {detail}",
        f"{name} failed: {detail}",
    )


@contextmanager
def postgresql_dump(engine: Engine) -> Iterator[tuple[IO[bytes], DatabaseFacts]]:
    """``pg_dump``'s output (custom format) of the current schema of ``engine``, to be read to
    the end inside the block, and the facts of the same snapshot."""
    pg_dump = _tool("pg_dump")
    uri, environment = _libpq(engine.url)
    with engine.connect() as connection:
        connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        schema = str(connection.exec_driver_sql("SELECT current_schema()").scalar_one())
        snapshot = str(connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
        facts = _postgresql_facts(connection, schema)
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                [
                    pg_dump,
                    "--format=custom",
                    "--no-owner",
                    f"--schema={schema}",
                    f"--snapshot={snapshot}",
                    f"--dbname={uri}",
                ],
                stdout=subprocess.PIPE,
                stderr=errors,
                env=environment,
            )
            assert process.stdout is not None
            try:
                yield process.stdout, facts
            finally:
                process.stdout.close()
                code = process.wait()
            if code != 0:
                errors.seek(0)
                raise _tool_failed("pg_dump", errors.read())
        connection.exec_driver_sql("COMMIT")


def check_empty_target(url: str | URL, schema: str | None = None) -> None:
    """:class:`BackupError` ``backup.target_not_empty`` unless the database of ``url`` holds no
    table: a SQLite file that is absent, empty or without tables; on PostgreSQL, neither the
    URL's current schema nor ``schema`` (the backup's) holds a table."""
    shown = redact_url(url)
    path = sqlite_file(url)
    if normalize_url(url).get_backend_name() == "sqlite":
        if path is None:
            raise BackupError(
                "backup.target",
                f"khôi phục SQLite cần một tệp: {shown}",
                f"a SQLite restore needs a file: {shown}",
            )
        if path.exists() and path.stat().st_size > 0 and _sqlite_has_tables(path):
            raise _not_empty(shown)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema IN (current_schema(), %(schema)s)",
                {"schema": schema or ""},
            ).scalar_one()
    except SQLAlchemyError as exc:
        raise BackupError(
            "backup.target",
            f"không mở được cơ sở dữ liệu đích {shown}: {getattr(exc, 'orig', exc)}",
            f"cannot open the target database {shown}: {getattr(exc, 'orig', exc)}",
        ) from None
    finally:
        engine.dispose()
    if found:
        raise _not_empty(shown)


def _not_empty(shown: str) -> BackupError:
    return BackupError(
        "backup.target_not_empty",
        f"cơ sở dữ liệu đích {shown} không rỗng (đã có bảng): chỉ khôi phục vào một cơ sở dữ "
        "liệu mới; không gì bị ghi đè",
        f"the target database {shown} is not empty (it has tables): a backup is restored into "
        "a fresh database only; nothing was overwritten",
    )


def restore_postgresql(url: str | URL, chunks: Iterator[bytes], expected: DatabaseFacts) -> None:
    """``pg_restore --no-owner --single-transaction`` of the decrypted dump into the empty
    database of ``url``: a chunk that fails its check stops it before its commit. The row
    counts are then compared with the manifest's."""
    schema = expected.schema or "public"
    check_empty_target(url, schema)
    pg_restore = _tool("pg_restore")
    uri, environment = _libpq(normalize_url(url))
    _drop_empty_schema(url, schema)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [
                pg_restore,
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={uri}",
            ],
            stdin=subprocess.PIPE,
            stderr=errors,
            env=environment,
        )
        assert process.stdin is not None
        try:
            for chunk in chunks:
                process.stdin.write(chunk)
            process.stdin.close()
        except BrokenPipeError:
            pass  # pg_restore stopped: its exit code and message say why
        except BaseException:
            process.kill()  # the single transaction is rolled back
            process.wait()
            raise
        if process.wait() != 0:
            errors.seek(0)
            raise _tool_failed("pg_restore", errors.read())
    engine = make_engine(url, schema=None if schema == "public" else schema)
    try:
        with engine.connect() as connection:
            _check_counts(expected, _postgresql_facts(connection, schema))
    finally:
        engine.dispose()


def _drop_empty_schema(url: str | URL, schema: str) -> None:
    """pg_restore creates the backup's schema (``public`` too: pg_dump names it when asked for
    it): an empty one of that name (no object at all) is dropped first (``DROP SCHEMA``
    without CASCADE refuses anything else). The restored schema belongs to the restoring role
    (``--no-owner``)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s", {"schema": schema}
            ).first()
            if exists:
                connection.exec_driver_sql(f"DROP SCHEMA {_quoted(schema)}")
    except SQLAlchemyError:
        raise _not_empty(f"{redact_url(url)} ({schema})") from None
    finally:
        engine.dispose()
