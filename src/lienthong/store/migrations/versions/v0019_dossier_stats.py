"""Monthly dossier statistics kept as the dossiers are written (issue 14): the reconciliation
of a unit's DongBoThongKeHoSo no longer reads every open dossier of the store.

- ``dossiers.record_status``: the record's own ``TrangThaiHoSo`` (``status`` follows the steps
  too), so that an update can take back the replaced record's share of the statistics.
- ``dossier_month_stats``: per unit path (``H22.10.05``: the unit's levels; each dossier counts
  in its unit's row and in those of the units above it) and month (its first day, Vietnam
  time): the month's received, processed on time and processed late dossiers, and the changes
  of the pending and overdue ones (opened minus closed).

Existing databases are filled here, a batch of dossiers at a time from their columns (never
their JSON), with the rule of ``lienthong.spec.stats`` written out again (a migration must not
change when the application code does); only the agency-code hierarchy is read from
``lienthong.spec.identifiers``, the standard's own definition.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
VIETNAM = dt.timezone(dt.timedelta(hours=7))
FIELDS = ("received", "processed_on_time", "processed_late", "pending", "overdue")

DOSSIERS = sa.table(
    "dossiers",
    sa.column("id", sa.BigInteger()),
    sa.column("ma_ho_so", sa.String()),
    sa.column("record_status", sa.String()),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
    sa.column("returned_at", sa.DateTime(timezone=True)),
    sa.column("due_at", sa.DateTime(timezone=True)),
)
STATS = sa.table(
    "dossier_month_stats",
    sa.column("unit_path", sa.String()),
    sa.column("month", sa.Date()),
    *(sa.column(name, sa.Integer()) for name in FIELDS),
)


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.add_column(sa.Column("record_status", sa.String(4), nullable=True))
    op.create_table(
        "dossier_month_stats",
        sa.Column("unit_path", sa.String(64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FIELDS),
        sa.PrimaryKeyConstraint("unit_path", "month", name=op.f("pk_dossier_month_stats")),
    )
    bind = op.get_bind()
    status = (
        sa.text("substr(json_extract(record, '$.TrangThaiHoSo'), 1, 4)")
        if bind.dialect.name == "sqlite"
        else sa.text("left(record->>'TrangThaiHoSo', 4)")
    )
    op.execute(sa.update(DOSSIERS).values(record_status=status))
    _fill(bind)


def downgrade() -> None:
    op.drop_table("dossier_month_stats")
    with op.batch_alter_table("dossiers") as batch:
        batch.drop_column("record_status")


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _month(moment: dt.datetime) -> int:
    local = moment.astimezone(VIETNAM)
    return local.year * 12 + local.month - 1


def _path(code: str, paths: dict[str, str | None]) -> str | None:
    from lienthong.spec.identifiers import parse_agency_code, parse_dossier_code

    parsed = parse_dossier_code(code)
    if parsed is None:
        return None
    if parsed.unit not in paths:
        agency = parse_agency_code(parsed.unit)
        paths[parsed.unit] = None if agency is None else ".".join(agency.levels)
    return paths[parsed.unit]


def _fill(bind: sa.Connection) -> None:
    """Each dossier's share: received in the month of its reception; processed (on time when
    not after its due date) in the month of the first of its end and return dates; pending
    from the month of its reception until that of its processing; overdue from the later of
    the months of its reception and due date until that of its processing. A dossier refused
    (3) or withdrawn (7), without a reception date, or processed in a month before that of its
    reception has none."""
    totals: dict[tuple[str, int], list[int]] = {}
    paths: dict[str, str | None] = {}

    def add(path: str, month: int, field: int, count: int) -> None:
        levels = path.split(".")
        for n in range(len(levels)):
            row = totals.setdefault((".".join(levels[: n + 1]), month), [0] * len(FIELDS))
            row[field] += count

    last = 0
    while True:
        rows = bind.execute(
            sa.select(DOSSIERS).where(DOSSIERS.c.id > last).order_by(DOSSIERS.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        for row in rows:
            received = _aware(row.received_at)
            path = _path(row.ma_ho_so, paths)
            if path is None or received is None or str(row.record_status) in ("3", "7"):
                continue
            ends = [d for d in (_aware(row.finished_at), _aware(row.returned_at)) if d]
            done = min(ends) if ends else None
            due = _aware(row.due_at)
            opened = _month(received)
            closed = None if done is None else _month(done)
            if closed is not None and closed < opened:
                continue
            add(path, opened, 0, 1)
            add(path, opened, 3, 1)
            if done is not None and closed is not None:
                add(path, closed, 1 if due is None or done <= due else 2, 1)
                add(path, closed, 3, -1)
            if due is not None:
                overdue_from = max(opened, _month(due))
                if closed is None or overdue_from < closed:
                    add(path, overdue_from, 4, 1)
                    if closed is not None:
                        add(path, closed, 4, -1)
    values = [
        {
            "unit_path": path,
            "month": dt.date(month // 12, month % 12 + 1, 1),
            **dict(zip(FIELDS, counts, strict=True)),
        }
        for (path, month), counts in sorted(totals.items())
        if any(counts)
    ]
    for start in range(0, len(values), BATCH):
        bind.execute(sa.insert(STATS), values[start : start + BATCH])
