"""Public submissions: the citizens' submission attempts, for the limit per client address.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "public_submissions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_submissions")),
    )
    op.create_index(op.f("ix_public_submissions_at"), "public_submissions", ["at"])
    op.create_index(op.f("ix_public_submissions_client_at"), "public_submissions", ["client", "at"])


def downgrade() -> None:
    op.drop_table("public_submissions")
