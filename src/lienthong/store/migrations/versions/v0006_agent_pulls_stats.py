"""The agent: pulled items, webhook deliveries, the dossier states behind its statistics.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "agent_pulled_items",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("item_key", sa.String(200), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        _ts("first_seen_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_pulled_items")),
        sa.UniqueConstraint(
            "service", "unit", "item_key", name=op.f("uq_agent_pulled_items_service_unit_item_key")
        ),
    )
    op.create_index(
        op.f("ix_agent_pulled_items_service_updated_at"),
        "agent_pulled_items",
        ["service", "updated_at"],
    )
    op.create_table(
        "agent_webhook_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("created_at"),
        _ts("delivered_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_agent_webhook_deliveries_state_id"), "agent_webhook_deliveries", ["state", "id"]
    )
    op.create_table(
        "agent_dossiers",
        sa.Column("ma_ho_so", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        _ts("received_at", nullable=True),
        _ts("finished_at", nullable=True),
        _ts("returned_at", nullable=True),
        sa.Column("record", JSON, nullable=False),
        sa.Column("outbox_id", BIG_ID, nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("ma_ho_so", name=op.f("pk_agent_dossiers")),
    )
    op.create_index(
        op.f("ix_agent_dossiers_unit_received_at"), "agent_dossiers", ["unit", "received_at"]
    )


def downgrade() -> None:
    op.drop_table("agent_dossiers")
    op.drop_table("agent_webhook_deliveries")
    op.drop_table("agent_pulled_items")
