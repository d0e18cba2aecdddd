"""How answers spell success, per account (issue 11).

Real one-stop clients read the success code differently: one compares ``error_code == "0"``
as a string, OpenCPS parses it as an integer, none accepts ``"00"``. ``accounts.success_code``
names the form an account is answered in (``"0"``, ``"00"`` or ``"integer"``); NULL keeps the
hub's setting (``LIENTHONG_SUCCESS_CODE``, default ``"0"``).

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


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("success_code")
