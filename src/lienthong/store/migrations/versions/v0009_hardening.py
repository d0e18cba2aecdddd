"""Hardening (issue 10): separate id spaces for questions, accounts bound to client networks,
anonymous request kinds, single-use form tokens and the hub's own secrets.

- ``questions``: ``HOIDAPID`` is unique per source and unit: a unit's ids are its own and
  never meet the portal's or another unit's.
- ``accounts.networks``: client networks (CIDR) a machine account logs in from; a login from
  them is exempt from the per-account failure limit.
- ``public_submissions.kind``: what an anonymous request counted for (``submit`` for a citizen's
  submission, ``lookup`` for a public lookup), each with its own limit.
- ``form_nonces``: the nonces of form tokens already used, until the token would expire.
- ``hub_secrets``: secrets the hub generates itself when none is configured (the form-token key),
  shared by every worker.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.drop_constraint("uq_questions_hoidap_id", type_="unique")
        batch.create_unique_constraint(
            "uq_questions_source_unit_hoidap_id", ["source", "unit", "hoidap_id"]
        )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("networks", JSON, nullable=True))
    with op.batch_alter_table("public_submissions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="submit"))
        batch.drop_index("ix_public_submissions_client_at")
        batch.create_index("ix_public_submissions_kind_client_at", ["kind", "client", "at"])
    op.create_table(
        "form_nonces",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_form_nonces")),
    )
    op.create_index(op.f("ix_form_nonces_expires_at"), "form_nonces", ["expires_at"])
    op.create_table(
        "hub_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_hub_secrets")),
    )


def downgrade() -> None:
    op.drop_table("hub_secrets")
    op.drop_table("form_nonces")
    with op.batch_alter_table("public_submissions") as batch:
        batch.drop_index("ix_public_submissions_kind_client_at")
        batch.create_index("ix_public_submissions_client_at", ["client", "at"])
        batch.drop_column("kind")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("networks")
    with op.batch_alter_table("questions") as batch:
        batch.drop_constraint("uq_questions_source_unit_hoidap_id", type_="unique")
        batch.create_unique_constraint("uq_questions_hoidap_id", ["hoidap_id"])
