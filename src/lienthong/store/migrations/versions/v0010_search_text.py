"""Public lists paged in the database: stored search text, unit paths and sending times.

- ``petitions.search_text``, ``questions.search_text``: the fields the keyword search reads,
  casefolded and joined by U+001F (a petition's ``TieuDe`` and ``NoiDungPAKN``; a question's
  ``TIEUDE``, ``NOIDUNG`` and answer text, None while it has no answer text), so that the
  search is one ``LIKE`` in the database instead of a pass over every row in Python.
- ``unit_path``: the levels of the unit's agency code joined by dots (``000.00.13.H56`` and
  ``H56.13`` are both ``H56.13``; None when the code does not parse), so that the units under
  a scope are the scope's path and the paths that start with it and a dot.
- ``sent_at``: when it was sent (``NgayGuiPAKN`` / ``NGAYGUI`` in ``yyyyMMddHHmmss``, Vietnam
  time, else ``created_at``): the date window of the pending lists.
- Indexes for the lists and for the purge of each kind of counted public request.

Existing rows are filled here, a batch at a time, with the rules of ``lienthong.hub.petitions``
written out again (a migration must not change when the application code does).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BATCH = 1000
SEPARATOR = "\x1f"
VIETNAM = dt.timezone(dt.timedelta(hours=7))
_QCVN102 = re.compile(r"([0-9A-Z]{3})\.([0-9A-Z]{2})\.([0-9A-Z]{2})\.([A-K][0-9]{2})")
_QD20 = re.compile(r"[A-K][0-9]{2}(?:\.[0-9A-Z]+)*")


def _search_text(*values: Any) -> str:
    return SEPARATOR.join(str(value).casefold() for value in values if value)


def _unit_path(unit: str) -> str | None:
    if not isinstance(unit, str) or len(unit) > 40:
        return None
    match = _QCVN102.fullmatch(unit)
    if match is not None:
        l4, l3, l2, l1 = match.groups()
        z2, z3, z4 = l2 == "00", l3 == "00", l4 == "000"
        if (z2 and not (z3 and z4)) or (z3 and not z4):
            return None  # breaks the hierarchy rule: not an agency code
        levels = [l1, *[group for group, zero in ((l2, z2), (l3, z3), (l4, z4)) if not zero]]
        return ".".join(levels)
    if _QD20.fullmatch(unit) is not None:
        first, *rest = unit.split(".")
        return ".".join([first, *[group for group in rest if group.strip("0")]])
    return None


def _sent_at(record: dict[str, Any], name: str, created_at: dt.datetime) -> dt.datetime:
    value = record.get(name)
    if not isinstance(value, str):
        return created_at
    wire = len(value) == 14 and value.isascii() and value.isdigit()
    if wire and "1900" <= value[0:4] <= "2199":
        try:
            moment = dt.datetime.fromisoformat(f"{value[0:8]}T{value[8:14]}")
        except ValueError:
            return created_at
        return moment.replace(tzinfo=VIETNAM)
    return created_at


def _fill(table: sa.TableClause, values: Any) -> None:
    """Fill the new columns of every row of ``table``, ``BATCH`` rows at a time, in id order."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        changes = []
        for row in rows:
            created = row.created_at
            created = created.replace(tzinfo=dt.UTC) if created.tzinfo is None else created
            change = values(row, created)
            sent = change["new_sent_at"].astimezone(dt.UTC)
            change["new_sent_at"] = sent.replace(tzinfo=None) if sqlite else sent
            changes.append({"row_id": row.id, **change})
        bind.execute(
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values(
                search_text=sa.bindparam("new_search_text"),
                unit_path=sa.bindparam("new_unit_path"),
                sent_at=sa.bindparam("new_sent_at"),
            ),
            changes,
        )
        last = rows[-1].id


def _table(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("id", sa.BigInteger()),
        sa.column("unit", sa.String()),
        sa.column("record", JSON),
        sa.column("answer", JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("search_text", sa.Text()),
        sa.column("unit_path", sa.String()),
        sa.column("sent_at", sa.DateTime(timezone=True)),
    )


def _petition(row: Any, created: dt.datetime) -> dict[str, Any]:
    record = row.record or {}
    return {
        "new_search_text": _search_text(record.get("TieuDe"), record.get("NoiDungPAKN")),
        "new_unit_path": _unit_path(row.unit),
        "new_sent_at": _sent_at(record, "NgayGuiPAKN", created),
    }


def _question(row: Any, created: dt.datetime) -> dict[str, Any]:
    record, answer = row.record or {}, row.answer or {}
    text = answer.get("NOIDUNGTRALOI") or record.get("NOIDUNGTRALOI")
    return {
        "new_search_text": (
            _search_text(record.get("TIEUDE"), record.get("NOIDUNG"), text) if text else None
        ),
        "new_unit_path": _unit_path(row.unit),
        "new_sent_at": _sent_at(record, "NGAYGUI", created),
    }


def upgrade() -> None:
    for name in ("petitions", "questions"):
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("search_text", sa.Text(), nullable=True))
            batch.add_column(sa.Column("unit_path", sa.String(40), nullable=True))
            batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    _fill(_table("petitions"), _petition)
    _fill(_table("questions"), _question)
    op.create_index(op.f("ix_petitions_status_unit_path"), "petitions", ["status", "unit_path"])
    op.create_index(op.f("ix_questions_status_updated_at"), "questions", ["status", "updated_at"])
    op.create_index(
        op.f("ix_questions_source_status_unit_path"),
        "questions",
        ["source", "status", "unit_path"],
    )
    op.create_index(op.f("ix_public_submissions_kind_at"), "public_submissions", ["kind", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_public_submissions_kind_at"), table_name="public_submissions")
    op.drop_index(op.f("ix_questions_source_status_unit_path"), table_name="questions")
    op.drop_index(op.f("ix_questions_status_updated_at"), table_name="questions")
    op.drop_index(op.f("ix_petitions_status_unit_path"), table_name="petitions")
    for name in ("questions", "petitions"):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("sent_at")
            batch.drop_column("unit_path")
            batch.drop_column("search_text")
