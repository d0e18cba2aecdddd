"""The evidence store (issue 13): a hash-linked log of every message per side, its record keys,
its time-stamped Merkle batches and the head of each chain (docs/evidence.md).

- ``evidence_entries``: one row per message, ``(side, seq)`` unique and gapless, each row's
  ``digest`` covering the one before (``prev_digest``); ``batch_id`` set once a batch covers it.
- ``evidence_keys``: the record keys a message carried, ``(side, key, seq)``.
- ``evidence_batches``: a run of entries, its Merkle root and the TSA's whole answer over it.
- ``evidence_head``: the newest entry of each side, locked to append.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lienthong.store.db import lz4_supported

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "evidence_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("log_id", sa.BigInteger(), nullable=True),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("origin_unit", sa.String(40), nullable=True),
        sa.Column("origin_account", sa.String(128), nullable=True),
        sa.Column("destination", sa.String(255), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("signature_format", sa.String(8), nullable=True),
        sa.Column("certificates", JSON, nullable=False),
        sa.Column("revocations", JSON, nullable=False),
        sa.Column("validation", JSON, nullable=True),
        sa.Column("receipt", sa.LargeBinary(), nullable=True),
        sa.Column("receipt_signature", sa.LargeBinary(), nullable=True),
        sa.Column("prev_digest", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_entries")),
        sa.UniqueConstraint("side", "seq", name=op.f("uq_evidence_entries_side_seq")),
        sa.UniqueConstraint("digest", name=op.f("uq_evidence_entries_digest")),
    )
    op.create_index(op.f("ix_evidence_entries_batch_id"), "evidence_entries", ["batch_id"])
    op.create_index(
        op.f("ix_evidence_entries_side_batch_id_seq"),
        "evidence_entries",
        ["side", "batch_id", "seq"],
    )
    op.create_table(
        "evidence_keys",
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("side", "key", "seq", name=op.f("pk_evidence_keys")),
    )
    op.create_table(
        "evidence_batches",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tsa_url", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_batches")),
        sa.UniqueConstraint("side", "first_seq", name=op.f("uq_evidence_batches_side_first_seq")),
    )
    op.create_table(
        "evidence_head",
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("side", name=op.f("pk_evidence_head")),
    )
    if lz4_supported(op.get_bind()):  # a 1 MB body: lz4 takes about half pglz's time
        op.execute("ALTER TABLE evidence_entries ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    op.drop_table("evidence_head")
    op.drop_table("evidence_batches")
    op.drop_table("evidence_keys")
    op.drop_index(op.f("ix_evidence_entries_side_batch_id_seq"), table_name="evidence_entries")
    op.drop_index(op.f("ix_evidence_entries_batch_id"), table_name="evidence_entries")
    op.drop_table("evidence_entries")
