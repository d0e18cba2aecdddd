"""The dossiers the agent has seen: the latest ``DongBoHoSoMC`` record of each (``agent_dossiers``).

:meth:`lienthong.agent.outbox.Outbox.enqueue` calls :func:`upsert_dossiers` in the transaction
that queues the rows, so the table never disagrees with the outbox: whatever path queued a dossier
(the local API, a backfill, a replay with a corrected record), its figures count from the moment
the row is committed. The latest version by outbox sequence wins. Writes are bulk: one
``INSERT ... ON CONFLICT DO UPDATE`` per chunk of :data:`CHUNK` dossiers (SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lienthong.spec.dates import parse_wire_date
from lienthong.store.tables import AgentDossier, utcnow

__all__ = ["CHUNK", "DOSSIER_SERVICE", "dossier_values", "upsert_dossiers"]

DOSSIER_SERVICE = "DongBoHoSoMC"

#: Dossiers per statement (8 bound values each: well inside SQLite's and PostgreSQL's limits).
CHUNK = 500

_TABLE: Table = AgentDossier.__table__  # type: ignore[assignment]


def _when(record: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = record.get(name)
    return parse_wire_date(value) if isinstance(value, str) and value else None


def dossier_values(
    outbox_id: int | None, unit: str, record: Mapping[str, Any], now: dt.datetime
) -> dict[str, Any] | None:
    """The ``agent_dossiers`` row of one record (None when it has no ``MaHoSo``)."""
    code = record.get("MaHoSo")
    if not isinstance(code, str) or not code or len(code) > 64:
        return None
    return {
        "ma_ho_so": code,
        "unit": unit[:40],
        "received_at": _when(record, "NgayTiepNhan"),
        "finished_at": _when(record, "NgayKetThucXuLy"),
        "returned_at": _when(record, "NgayTra"),
        "record": dict(record),
        "outbox_id": outbox_id,
        "updated_at": now,
    }


def upsert_dossiers(
    db: Session,
    rows: Iterable[tuple[int | None, str, Mapping[str, Any]]],
    now: dt.datetime | None = None,
) -> int:
    """Store ``(outbox_id, unit, record)`` as the current state of each dossier, unless the table
    already holds a later version (a higher outbox id). ``rows`` come in outbox order; within
    them the last copy of a dossier wins. Returns the number of dossiers written or kept."""
    now = now or utcnow()
    latest: dict[str, dict[str, Any]] = {}
    for outbox_id, unit, record in rows:
        values = dossier_values(outbox_id, unit, record, now)
        if values is not None:
            latest[values["ma_ho_so"]] = values
    if not latest:
        return 0
    items = list(latest.values())
    statement = _upsert_statement(db.get_bind().dialect.name)
    for start in range(0, len(items), CHUNK):
        # executemany of one statement compiled once (a multi-row VALUES is compiled per call)
        db.execute(statement, items[start : start + CHUNK])
    return len(latest)


_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (ma_ho_so) DO UPDATE`` for ``dialect``, built once."""
    cached = _UPSERTS.get(dialect)
    if cached is not None:
        return cached
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.ma_ho_so],
        set_={
            name: excluded[name]
            for name in (
                "unit",
                "received_at",
                "finished_at",
                "returned_at",
                "record",
                "outbox_id",
                "updated_at",
            )
        },
        # a replayed old version (lower id) never overwrites a newer one; the same id is a
        # replay with a corrected record, which does
        where=or_(
            _TABLE.c.outbox_id.is_(None),
            excluded.outbox_id.is_(None),
            _TABLE.c.outbox_id <= excluded.outbox_id,
        ),
    )
    _UPSERTS[dialect] = statement
    return statement
