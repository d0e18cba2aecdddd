"""One running agent per agent database.

Two agents delivering from one outbox would send rows twice and could reorder a dossier's
updates. The process that runs the workers holds a lock for as long as it runs:

- SQLite: an exclusive ``flock`` on ``<database file>.agent-lock`` beside the database;
- PostgreSQL: a session advisory lock keyed by the database's current schema, on a connection
  kept open for the purpose.

The operating system (SQLite) or the server (PostgreSQL, when the connection drops) releases it
when the process dies, so a killed agent never blocks its successor. Commands that only read or
queue (``status``, ``dlq``, ``backfill``) do not take it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

__all__ = ["AgentAlreadyRunning", "RunLock"]


class AgentAlreadyRunning(RuntimeError):
    """Another agent process already runs on this database."""


class RunLock:
    """Take with :meth:`acquire` (raises :class:`AgentAlreadyRunning`), give back with
    :meth:`release`. In-memory SQLite databases need no lock (no other process can open them)."""

    def __init__(
        self,
        engine: Engine,
        name: str = "agent",
        held_vi: str = "một tác tử khác đang chạy trên cơ sở dữ liệu này",
        held_en: str = "another agent already runs on this database",
    ) -> None:
        self._engine = engine
        self._name = name
        self._held = (held_vi, held_en)
        self._file: int | None = None
        self._connection: Any = None
        self._key = 0

    def acquire(self) -> None:
        if self._engine.dialect.name == "sqlite":
            self._acquire_file()
        elif self._engine.dialect.name == "postgresql":
            self._acquire_advisory()

    def _acquire_file(self) -> None:
        database = self._engine.url.database
        if not database or database == ":memory:" or "mode=memory" in database:
            return
        path = Path(database).expanduser().resolve()
        path = path.with_name(f"{path.name}.{self._name}-lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise AgentAlreadyRunning(
                f"{self._held[0]} ({database}) / {self._held[1]} ({database}; lock {path})"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self._file = descriptor

    def _acquire_advisory(self) -> None:
        connection = self._engine.connect()
        try:
            schema = str(connection.scalar(text("SELECT current_schema()")))
            key = int.from_bytes(
                hashlib.sha256(f"lienthong-{self._name}:{schema}".encode()).digest()[:8],
                "big",
                signed=True,
            )
            taken = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            connection.commit()  # end the implicit transaction; the session lock stays
        except BaseException:
            connection.close()
            raise
        if not taken:
            connection.close()
            raise AgentAlreadyRunning(
                f"{self._held[0]} (lược đồ {schema}) / {self._held[1]} (schema {schema})"
            )
        self._connection = connection
        self._key = key

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            os.close(self._file)
            self._file = None
        if self._connection is not None:
            try:
                # a pooled connection outlives close(): unlock explicitly (a dead process's
                # locks go with its connections)
                self._connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
