"""The one-stop agent: durable outbox, dead-letter audit and a small key/value state table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "agent_outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=True),
        sa.Column("order_key", sa.String(255), nullable=True),
        sa.Column("record", JSON, nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("submitter", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("created_at"),
        _ts("last_attempt_at", nullable=True),
        _ts("delivered_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_answer", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_outbox")),
    )
    op.create_index(op.f("ix_agent_outbox_state_id"), "agent_outbox", ["state", "id"])
    op.create_index(op.f("ix_agent_outbox_order_key_state"), "agent_outbox", ["order_key", "state"])
    op.create_table(
        "agent_dead_letter_actions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("outbox_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        _ts("at"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("previous_record", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["agent_outbox.id"],
            name=op.f("fk_agent_dead_letter_actions_outbox_id_agent_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_dead_letter_actions")),
    )
    op.create_index(
        op.f("ix_agent_dead_letter_actions_outbox_id"),
        "agent_dead_letter_actions",
        ["outbox_id"],
    )
    op.create_table(
        "agent_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_agent_state")),
    )


def downgrade() -> None:
    op.drop_table("agent_state")
    op.drop_table("agent_dead_letter_actions")
    op.drop_table("agent_outbox")
