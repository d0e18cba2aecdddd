"""Encryption at rest of kept bodies (issue 13): the data keys in ``data_keys`` (wrapped by a
master key that is never in the database) and the sealer that uses them.

A :class:`BodySealer` seals a column's value on write and opens it on read. With no master key
configured the :class:`PlainSealer` keeps bytes as they are (installs without a key keep
working); with one, :class:`KeyedSealer` seals with AES-256-GCM
(:mod:`lienthong.security.sealing`). Values written before sealing was turned on stay
readable: only a value with the sealed prefix is opened.

The sealer of a database is registered with its engine (:func:`register_sealer`), so that a
module given a Session finds it (:func:`sealer_for`) without being handed the hub.
"""

from __future__ import annotations

import abc
import hashlib
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, LargeBinary, func, literal, select, table, type_coerce
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Session, sessionmaker

from lienthong.security.sealing import (
    PREFIX,
    MasterKey,
    SealingError,
    is_sealed,
    key_header,
    open_value,
    seal_value,
    sealed_key_id,
)
from lienthong.security.sealing import new_data_key as random_data_key
from lienthong.store.db import begin_sqlite_write
from lienthong.store.tables import DataKey, utcnow

__all__ = [
    "RAW_BODY",
    "SEALED_COLUMNS",
    "BodySealer",
    "DataKeyStatus",
    "KeyedSealer",
    "PlainSealer",
    "Rotation",
    "SealingStatus",
    "key_status",
    "open_sealer",
    "register_sealer",
    "rotate_keys",
    "sealer_for",
]

RAW_BODY = "message_log.raw_body"
"""The purpose of the message log's kept request bodies."""

SEALED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("message_log", "raw_body"),
    ("evidence_entries", "body"),
)
"""The columns sealed values are kept in, as ``(table, column)`` (their purpose is
``table.column``): what ``lienthong keys status`` counts."""


class BodySealer(abc.ABC):
    """Seals values on write and opens them on read, each for a purpose (``table.column``)."""

    master_id: str | None = None
    """The id of the master key (None: no key, values are kept as they are)."""

    @abc.abstractmethod
    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        """The stored form of ``plaintext``."""

    @abc.abstractmethod
    def open(self, stored: bytes, purpose: str, where: str = "") -> bytes:
        """The plaintext of a stored value (a value written in plaintext comes back as it is);
        :class:`SealingError` when it cannot be opened. ``where`` names the row in the message
        (e.g. ``message_log 42``)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of the master key (a token session)."""


class PlainSealer(BodySealer):
    """No master key: values are stored as they are. A sealed value is refused in words."""

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        return plaintext

    def open(self, stored: bytes, purpose: str, where: str = "") -> bytes:
        if is_sealed(stored):
            at = f" ({where})" if where else ""
            raise SealingError(
                "sealed.no_key",
                f"giá trị{at} đã được mã hóa nhưng chưa cấu hình khóa chủ: đặt "
                "LIENTHONG_MASTER_KEY_FILE (hoặc LIENTHONG_MASTER_KEY_PKCS11_TOKEN) hoặc "
                "dùng --master-key-file",
                f"the value{at} is sealed but no master key is configured: set "
                "LIENTHONG_MASTER_KEY_FILE (or LIENTHONG_MASTER_KEY_PKCS11_TOKEN) or give "
                "--master-key-file",
            )
        return stored

    def close(self) -> None:
        """Nothing to let go of."""


PLAIN = PlainSealer()


class KeyedSealer(BodySealer):
    """Seals with the active data key and opens with any data key the master wraps. Data keys
    are unwrapped once and kept in memory; a key created after start (by ``lienthong keys
    rotate --new-data-key``) is read on first use. New values keep the data key that was
    active at start: restart the hubs to seal with a new one."""

    def __init__(
        self, sessions: sessionmaker[Session], master: MasterKey, *, create: bool = True
    ) -> None:
        """Unwrap the data keys of ``master``; with ``create``, make the first one when there
        is none. :class:`SealingError` ``master.mismatch`` when the data keys are wrapped by
        another master (a wrong key file or token): said at start, never garbage later."""
        self._sessions, self._master = sessions, master
        self.master_id = master.key_id
        self._keys: dict[int, bytes] = {}
        self._lock = threading.Lock()
        with sessions() as db:
            rows = db.scalars(select(DataKey).order_by(DataKey.id)).all()
            if not rows and create:
                rows = [_first_data_key(db, master)]
        mine = [row for row in rows if row.master_id == master.key_id]
        others = sorted({row.master_id for row in rows} - {master.key_id})
        if others and not mine:
            raise _mismatch(master, others)
        for row in mine:
            self._keys[row.id] = master.unwrap(row.wrapped)
        active = [row for row in rows if row.retired_at is None]
        self._active = active[-1].id if active else None
        if self._active is not None and self._active not in self._keys:
            raise _mismatch(master, others)

    def __repr__(self) -> str:
        return f"KeyedSealer(master {self.master_id}, data key {self._active})"

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        if self._active is None:
            raise SealingError(
                "sealed.no_data_key",
                "chưa có khóa dữ liệu nào: khởi động hub một lần để tạo",
                "there is no data key yet: start the hub once to create it",
            )
        return seal_value(self._keys[self._active], self._active, plaintext, purpose)

    def open(self, stored: bytes, purpose: str, where: str = "") -> bytes:
        key_id = sealed_key_id(stored)
        if key_id is None:
            if is_sealed(stored):  # the prefix, cut short: nothing to open
                return open_value(bytes(32), stored, purpose, where)
            return stored
        data_key = self._keys.get(key_id) or self._load(key_id, where)
        return open_value(data_key, stored, purpose, where)

    def _load(self, key_id: int, where: str) -> bytes:
        with self._lock:
            if key_id in self._keys:
                return self._keys[key_id]
            with self._sessions() as db:
                row = db.get(DataKey, key_id)
            at = f" ({where})" if where else ""
            if row is None:
                raise SealingError(
                    "sealed.unknown_key",
                    f"giá trị{at} được mã hóa bằng khóa dữ liệu {key_id} không có trong cơ sở "
                    "dữ liệu",
                    f"the value{at} is sealed with data key {key_id}, which the database does "
                    "not hold",
                )
            if row.master_id != self._master.key_id:
                raise _mismatch(self._master, [row.master_id])
            self._keys[key_id] = self._master.unwrap(row.wrapped)
            return self._keys[key_id]

    def close(self) -> None:
        self._master.close()


def _mismatch(master: MasterKey, others: Sequence[str]) -> SealingError:
    wrapped_by = ", ".join(others)
    return SealingError(
        "master.mismatch",
        f"khóa chủ {master.description} (mã {master.key_id}) không phải khóa đã bọc các khóa "
        f"dữ liệu (khóa chủ {wrapped_by}): sai tệp hoặc token, hoặc khóa đã được xoay vòng",
        f"the master key {master.description} (id {master.key_id}) is not the one that wraps "
        f"the data keys (master {wrapped_by}): a wrong file or token, or the key was rotated",
    )


def _lock_data_keys(db: Session) -> None:
    """Serialize the writers of ``data_keys`` (first key, rotation) across processes."""
    connection = db.connection()
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"lienthong:data_keys").digest()[:8], "big")
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%(key)s)", {"key": key - 2**63})
    else:
        begin_sqlite_write(connection)


def _first_data_key(db: Session, master: MasterKey) -> DataKey:
    """The first data key, made under the lock (another process starting at the same time may
    have made it first: then that one)."""
    _lock_data_keys(db)
    found = db.scalars(select(DataKey).order_by(DataKey.id)).first()
    if found is None:
        found = DataKey(wrapped=master.wrap(random_data_key()), master_id=master.key_id)
        db.add(found)
        db.flush()
    db.commit()
    return found


def open_sealer(
    sessions: sessionmaker[Session], master: MasterKey | None, *, create: bool = True
) -> BodySealer:
    """The sealer for a database: plain without a master key, else keyed (``create``: make the
    first data key when there is none; readers pass False). A writer (``create``) with no
    master key on a database that has data keys is refused (``master.missing``): a forgotten
    setting must not turn encryption off unnoticed."""
    if master is None:
        if create:
            with sessions() as db:
                sealed = db.scalar(select(DataKey.id).limit(1)) is not None
            if sealed:
                raise SealingError(
                    "master.missing",
                    "cơ sở dữ liệu này mã hóa dữ liệu lưu trữ (có khóa dữ liệu) nhưng chưa cấu "
                    "hình khóa chủ: đặt LIENTHONG_MASTER_KEY_FILE (hoặc "
                    "LIENTHONG_MASTER_KEY_PKCS11_TOKEN)",
                    "this database encrypts at rest (it has data keys) but no master key is "
                    "configured: set LIENTHONG_MASTER_KEY_FILE (or "
                    "LIENTHONG_MASTER_KEY_PKCS11_TOKEN)",
                )
        return PLAIN
    return KeyedSealer(sessions, master, create=create)


# -- the sealer of an engine, for modules given a Session ---------------------------------------

_SEALERS: weakref.WeakKeyDictionary[Engine, BodySealer] = weakref.WeakKeyDictionary()


def register_sealer(engine: Engine, sealer: BodySealer) -> None:
    """Make ``sealer`` the one :func:`sealer_for` gives for ``engine`` (the hub does it)."""
    _SEALERS[engine] = sealer


def sealer_for(bind: Engine | Connection | Session) -> BodySealer:
    """The sealer registered for the engine behind ``bind``; plain when none is."""
    if isinstance(bind, Session):
        found = bind.get_bind()
        bind = found if isinstance(found, Engine) else found.engine
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _SEALERS.get(engine, PLAIN)


# -- rotation and status ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotation:
    """What :func:`rotate_keys` did."""

    rewrapped: list[int]
    """The data keys now wrapped by the new master."""
    master_id: str
    """The master that wraps every data key now."""
    new_data_key: int | None
    """The data key made for new values, if one was asked for."""


def rotate_keys(
    sessions: sessionmaker[Session],
    current: MasterKey,
    new: MasterKey | None = None,
    *,
    new_data_key: bool = False,
) -> Rotation:
    """Re-wrap every data key under ``new`` (and, with ``new_data_key``, retire the active one
    and make another for new values), in one short transaction. Sealed rows are not touched,
    and running hubs keep the data keys they unwrapped. Running again after a success (the
    keys already under ``new``) is harmless. :class:`SealingError` when ``current`` does not
    wrap a data key."""
    target = new or current
    with sessions() as db:
        _lock_data_keys(db)
        rows = db.scalars(select(DataKey).order_by(DataKey.id)).all()
        rewrapped = []
        for row in rows:
            if row.master_id == target.key_id and target is not current:
                target.unwrap(row.wrapped)  # done by an earlier run: checked, left
                continue
            if row.master_id != current.key_id:
                raise _mismatch(current, [row.master_id])
            if target is not current:
                row.wrapped = target.wrap(current.unwrap(row.wrapped))
                row.master_id = target.key_id
                rewrapped.append(row.id)
        made = None
        if new_data_key:
            now = utcnow()
            for row in rows:
                if row.retired_at is None:
                    row.retired_at = now
            added = DataKey(wrapped=target.wrap(random_data_key()), master_id=target.key_id)
            db.add(added)
            db.flush()
            made = added.id
        db.commit()
    return Rotation(rewrapped, target.key_id, made)


@dataclass(frozen=True, slots=True)
class DataKeyStatus:
    """A data key as ``lienthong keys status`` shows it."""

    id: int
    master_id: str
    created_at: datetime
    retired_at: datetime | None
    sealed: dict[str, int]
    """Rows each column holds sealed under this key (``table.column`` -> count, at most the
    bound)."""


@dataclass(frozen=True, slots=True)
class SealingStatus:
    keys: list[DataKeyStatus]
    plaintext: dict[str, int]
    """Rows each column still holds in plaintext (written before sealing was on)."""
    bound: int
    """Counts stop at this many rows (a count equal to it means "at least")."""


def _bounded_count(
    db: Session, table_name: str, column_name: str, header: bytes | None, bound: int
) -> int:
    column = sql_column(column_name, LargeBinary)
    source = table(table_name, column)
    start = func.substr(column, 1, len(header) if header is not None else len(PREFIX))
    wanted = type_coerce(
        literal(header if header is not None else PREFIX, LargeBinary), LargeBinary
    )
    condition = start == wanted if header is not None else start != wanted
    inner = (
        select(literal(1)).select_from(source).where(column.is_not(None), condition).limit(bound)
    )
    return int(db.scalar(select(func.count()).select_from(inner.subquery())) or 0)


def key_status(sessions: sessionmaker[Session], bound: int = 1_000_000) -> SealingStatus:
    """Every data key, the master that wraps it and the rows it seals per column; and the rows
    still in plaintext. Each count stops at ``bound`` rows, so a large log is not read whole."""
    with sessions() as db:
        rows = db.scalars(select(DataKey).order_by(DataKey.id)).all()
        keys = [
            DataKeyStatus(
                row.id,
                row.master_id,
                row.created_at,
                row.retired_at,
                {
                    f"{name}.{column}": _bounded_count(db, name, column, key_header(row.id), bound)
                    for name, column in SEALED_COLUMNS
                },
            )
            for row in rows
        ]
        plaintext = {
            f"{name}.{column}": _bounded_count(db, name, column, None, bound)
            for name, column in SEALED_COLUMNS
        }
    return SealingStatus(keys, plaintext, bound)
