"""Signed envelopes (issue 12): the verification of each signed request, kept with its
message-log row, and the certificates and revocation answers it used, each once by digest.

- ``accounts.signature_mode``: whether the account's envelopes must be signed (``required``,
  ``if-present``, ``off``); NULL: the service's or the hub's mode.
- ``message_signatures``: one row per verified signature (the signature as received, the
  status and the result), referencing ``message_log``.
- ``kept_certificates``, ``kept_revocations``: DER by SHA-256.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("signature_mode", sa.String(16), nullable=True))
    op.create_table(
        "message_signatures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("log_id", BIG_ID, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signer_sha256", sa.String(64), nullable=True),
        sa.Column("unit", sa.String(40), nullable=True),
        _when("signing_time", nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("result", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["message_log.id"],
            name=op.f("fk_message_signatures_log_id_message_log"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_signatures")),
    )
    op.create_index(op.f("ix_message_signatures_log_id"), "message_signatures", ["log_id"])
    for table in ("kept_certificates", "kept_revocations"):
        columns: list[sa.schema.SchemaItem] = [
            sa.Column("sha256", sa.String(64), nullable=False),
            *(
                [sa.Column("kind", sa.String(8), nullable=False)]
                if table == "kept_revocations"
                else []
            ),
            sa.Column("der", sa.LargeBinary(), nullable=False),
            _when("created_at"),
            sa.PrimaryKeyConstraint("sha256", name=op.f(f"pk_{table}")),
        ]
        op.create_table(table, *columns)


def downgrade() -> None:
    op.drop_table("kept_revocations")
    op.drop_table("kept_certificates")
    op.drop_index(op.f("ix_message_signatures_log_id"), "message_signatures")
    op.drop_table("message_signatures")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("signature_mode")
