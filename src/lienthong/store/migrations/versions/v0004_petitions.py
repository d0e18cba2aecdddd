"""Petitions (PAKN) with their attached documents, and questions and answers (hỏi đáp).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "petitions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("pakn_id", sa.String(128), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(4), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("answer", JSON, nullable=True),
        sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petitions")),
        sa.UniqueConstraint("pakn_id", name=op.f("uq_petitions_pakn_id")),
    )
    op.create_index(op.f("ix_petitions_unit_status"), "petitions", ["unit", "status"])
    op.create_index(
        op.f("ix_petitions_published_created_at"), "petitions", ["published", "created_at"]
    )
    op.create_table(
        "petition_files",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("petition_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("url", sa.String(1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petitions.id"],
            name=op.f("fk_petition_files_petition_id_petitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petition_files")),
    )
    op.create_index(op.f("ix_petition_files_petition_id"), "petition_files", ["petition_id"])
    op.create_table(
        "questions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("hoidap_id", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(4), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("answer", JSON, nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
        sa.UniqueConstraint("hoidap_id", name=op.f("uq_questions_hoidap_id")),
    )
    op.create_index(
        op.f("ix_questions_source_unit_status"), "questions", ["source", "unit", "status"]
    )


def downgrade() -> None:
    op.drop_table("questions")
    op.drop_table("petition_files")
    op.drop_table("petitions")
