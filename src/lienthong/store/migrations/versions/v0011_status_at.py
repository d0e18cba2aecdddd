"""The current status of a dossier is that of its latest claim: ``dossiers.status_at``.

A dossier's status is claimed by its record (DongBoHoSoMC ``TrangThaiHoSo``) and by each of
its steps (CapNhatTienDoHoSoMC ``TrangThai``). Until now a step compared its time only with the
other steps, so an old step (the demo's "Tiếp nhận hồ sơ") overwrote a newer record's status.
``status_at`` keeps the own time of the claim that set ``status``, so that a claim arriving
later can be compared with it.

Existing dossiers are recomputed here, a batch at a time, with the rule of
``lienthong.hub.dossiers`` written out again (a migration must not change when the application
code does):

- the record's time is the latest of its wire date-times (``yyyyMMddHHmmss``, Vietnam time)
  among ``NgayTiepNhan``, ``NgayKetThucXuLy``, ``NgayTra`` and, in each round of
  ``DanhSachHoSoBoSung``, ``NgayBoSung`` and ``NgayTiepNhanBoSung``; a step's is its stored
  ``processed_at`` (``ThoiDiemXuLy``);
- the claim with the latest time wins; a claim without a time never overrides one with a time;
  at equal times the higher status code wins.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeGuard

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BATCH = 1000
VIETNAM = dt.timezone(dt.timedelta(hours=7))
EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
RECORD_FIELDS = ("NgayTiepNhan", "NgayKetThucXuLy", "NgayTra")
SUPPLEMENT_FIELDS = ("NgayBoSung", "NgayTiepNhanBoSung")

DOSSIERS = sa.table(
    "dossiers",
    sa.column("id", sa.BigInteger()),
    sa.column("status", sa.String()),
    sa.column("status_at", sa.DateTime(timezone=True)),
    sa.column("record", JSON),
)
EVENTS = sa.table(
    "dossier_events",
    sa.column("dossier_id", sa.BigInteger()),
    sa.column("status", sa.String()),
    sa.column("processed_at", sa.DateTime(timezone=True)),
)


def _is_wire(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 14 and value.isascii() and value.isdigit()


def _record_time(record: Any) -> dt.datetime | None:
    if not isinstance(record, dict):
        return None
    dates = [record.get(name) for name in RECORD_FIELDS]
    supplements = record.get("DanhSachHoSoBoSung")
    if isinstance(supplements, list):
        for round_ in supplements:
            if isinstance(round_, dict):
                dates += [round_.get(name) for name in SUPPLEMENT_FIELDS]
    latest = max(filter(_is_wire, dates), default=None)
    if latest is None or not "1900" <= latest[0:4] <= "2199":
        return None
    try:  # same zone, same width: the text order is the time order
        moment = dt.datetime.fromisoformat(f"{latest[0:8]}T{latest[8:14]}")
    except ValueError:
        return None
    return moment.replace(tzinfo=VIETNAM).astimezone(dt.UTC)


def _rank(status: Any) -> int:
    text = str(status)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else -1


def _key(at: dt.datetime | None, status: Any) -> tuple[bool, dt.datetime, int]:
    return (at is not None, at or EARLIEST, _rank(status))


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _fill() -> None:
    """Recompute ``status`` and ``status_at`` of every dossier, ``BATCH`` at a time, in id
    order, from its record and its steps."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    last = 0
    while True:
        rows = bind.execute(
            sa.select(DOSSIERS.c.id, DOSSIERS.c.record)
            .where(DOSSIERS.c.id > last)
            .order_by(DOSSIERS.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        best: dict[int, tuple[dt.datetime | None, Any]] = {}
        for row in rows:
            record = row.record if isinstance(row.record, dict) else {}
            best[row.id] = (_record_time(record), str(record.get("TrangThaiHoSo") or ""))
        steps = bind.execute(
            sa.select(EVENTS.c.dossier_id, EVENTS.c.status, EVENTS.c.processed_at).where(
                EVENTS.c.dossier_id.in_(list(best))
            )
        )
        for step in steps:
            at = _aware(step.processed_at)
            if _key(at, step.status) > _key(*best[step.dossier_id]):
                best[step.dossier_id] = (at, step.status)
        changes = []
        for dossier_id, (at, status) in best.items():
            stored = at.replace(tzinfo=None) if sqlite and at is not None else at
            changes.append({"row_id": dossier_id, "new_status": status, "new_at": stored})
        bind.execute(
            DOSSIERS.update()
            .where(DOSSIERS.c.id == sa.bindparam("row_id"))
            .values(status=sa.bindparam("new_status"), status_at=sa.bindparam("new_at")),
            changes,
        )
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
    _fill()


def downgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.drop_column("status_at")
