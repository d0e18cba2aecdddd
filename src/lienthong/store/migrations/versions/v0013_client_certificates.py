"""Client certificates bound to accounts (issue 12, mutual TLS).

- ``accounts.client_certificates``: SHA-256 (hex) fingerprints of the client certificates bound
  to the account (``lienthong accounts bind-cert``); when there are any, the account logs in and
  calls only over a TLS connection presenting one of them. NULL: none bound.

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("client_certificates", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("client_certificates")
