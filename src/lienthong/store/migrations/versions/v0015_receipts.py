"""Signed receipts (issue 12): the hub keeps each receipt it signed with the message-log row
of the push; the agent keeps each receipt it received, with its check, and its outbox rows
name it.

- ``message_log.receipt``, ``message_log.receipt_signature``: the receipt's exact bytes and
  its signature, as sent in the answer's headers.
- ``agent_receipts``: one row per envelope answered with a receipt (or required one and got
  none): the bytes, the signature, the status and the result of the check.
- ``agent_outbox.receipt_id``: the receipt of the row's last answer with per-record outcomes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("message_log") as batch:
        batch.add_column(sa.Column("receipt", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("receipt_signature", sa.LargeBinary(), nullable=True))
    op.create_table(
        "agent_receipts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=True),
        sa.Column("receipt", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("format", sa.String(8), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_receipts")),
    )
    with op.batch_alter_table("agent_outbox") as batch:
        batch.add_column(sa.Column("receipt_id", BIG_ID, nullable=True))
        batch.create_index(op.f("ix_agent_outbox_receipt_id"), ["receipt_id"])
        batch.create_foreign_key(
            op.f("fk_agent_outbox_receipt_id_agent_receipts"),
            "agent_receipts",
            ["receipt_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_outbox") as batch:
        batch.drop_constraint(op.f("fk_agent_outbox_receipt_id_agent_receipts"), type_="foreignkey")
        batch.drop_index(op.f("ix_agent_outbox_receipt_id"))
        batch.drop_column("receipt_id")
    op.drop_table("agent_receipts")
    with op.batch_alter_table("message_log") as batch:
        batch.drop_column("receipt_signature")
        batch.drop_column("receipt")
