"""The hub's first tables: accounts, sessions, login failures, dossiers, history, message log.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of this revision (never import the live models here).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("units", JSON, nullable=False),
        sa.Column("services", JSON, nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_accounts_username")),
    )
    op.create_table(
        "hub_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.Column("client", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_hub_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_hub_sessions")),
    )
    op.create_index(op.f("ix_hub_sessions_account_id"), "hub_sessions", ["account_id"])
    op.create_table(
        "login_failures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("username", sa.String(128), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_at"), "login_failures", ["at"])
    op.create_index(op.f("ix_login_failures_username_at"), "login_failures", ["username", "at"])
    op.create_index(op.f("ix_login_failures_client_at"), "login_failures", ["client", "at"])
    op.create_table(
        "dossiers",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("ma_ho_so", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("ma_tthc", sa.String(64), nullable=False),
        sa.Column("status", sa.String(4), nullable=False),
        _ts("received_at", nullable=True),
        _ts("due_at", nullable=True),
        _ts("returned_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.Column("record", JSON, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossiers")),
        sa.UniqueConstraint("ma_ho_so", name=op.f("uq_dossiers_ma_ho_so")),
    )
    op.create_index(op.f("ix_dossiers_unit_received_at"), "dossiers", ["unit", "received_at"])
    op.create_table(
        "dossier_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("dossier_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(4), nullable=False),
        _ts("processed_at", nullable=True),
        sa.Column("record", JSON, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_events_dossier_id_dossiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_events")),
        sa.UniqueConstraint(
            "dossier_id", "record_hash", name=op.f("uq_dossier_events_dossier_id_record_hash")
        ),
    )
    op.create_table(
        "message_log",
        sa.Column("id", BIG_ID, nullable=False),
        _ts("at"),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("account", sa.String(128), nullable=True),
        sa.Column("unit", sa.String(40), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("dstcode", sa.String(128), nullable=True),
        sa.Column("request_bytes", sa.Integer(), nullable=False),
        sa.Column("response_bytes", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(8), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("raw_body", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_log")),
    )
    op.create_index(op.f("ix_message_log_at"), "message_log", ["at"])


def downgrade() -> None:
    op.drop_table("message_log")
    op.drop_table("dossier_events")
    op.drop_index(op.f("ix_dossiers_unit_received_at"), table_name="dossiers")
    op.drop_table("dossiers")
    op.drop_table("login_failures")
    op.drop_table("hub_sessions")
    op.drop_table("accounts")
