"""PostgreSQL: compress the kept raw bodies of the message log with lz4 instead of pglz.

A 1 MB push body is TOASTed; pglz took about 10 ms per batch of 1000 dossiers, lz4 about half.
Only where the server supports lz4 (PostgreSQL 14+ built with it); nothing on SQLite.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from lienthong.store.db import lz4_supported

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if lz4_supported(op.get_bind()):
        op.execute("ALTER TABLE message_log ALTER COLUMN raw_body SET COMPRESSION lz4")


def downgrade() -> None:
    if lz4_supported(op.get_bind()):
        op.execute("ALTER TABLE message_log ALTER COLUMN raw_body SET COMPRESSION pglz")
