"""Policies per account (issue 11): how its answers spell success, and strict validation.

- ``accounts.success_code``: real one-stop clients read the success code differently (one
  compares ``error_code == "0"`` as a string, OpenCPS parses it as an integer, none accepts
  ``"00"``); the form an account is answered in (``"0"``, ``"00"`` or ``"integer"``), NULL for
  the hub's setting (``LIENTHONG_SUCCESS_CODE``, default ``"0"``).
- ``accounts.strict``: the account's pushes are validated in strict mode (the deviations the
  hub tolerates from real clients, and unknown fields, are errors); false by default.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("success_code", sa.String(8), nullable=True))
        batch.add_column(
            sa.Column("strict", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("strict")
        batch.drop_column("success_code")
