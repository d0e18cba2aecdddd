"""Walking a side's evidence chain and naming the first broken entry (``lienthong evidence
audit``; docs/evidence.md, "Audit").

Every entry is read once, in pages of ``page`` entries: its body against ``body_sha256``, its
certificates and revocation answers against the digests that name them, its digest recomputed
from its fields, its link to the entry before, the gapless ``seq``; then the head row, and every
batch: contiguous, its entries marked with it, its Merkle root recomputed from them and its
time-stamp over that root (verified against the anchors given, else only its imprint).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from rfc3161_client import decode_timestamp_response
from sqlalchemy import select
from sqlalchemy.orm import Session

from lienthong.evidence.chain import GENESIS, entry_digest
from lienthong.evidence.merkle import merkle_root
from lienthong.evidence.status import last_archive
from lienthong.evidence.store import entry_fields, plain_body
from lienthong.security.sealing import SealingError
from lienthong.security.timestamps import TimestampError, verify_timestamp
from lienthong.store.tables import (
    EvidenceBatch,
    EvidenceEntry,
    EvidenceHead,
    KeptCertificate,
    KeptRevocation,
)

__all__ = ["AuditReport", "Finding", "audit_chain", "timestamp_problem"]

#: Entries read per query.
PAGE = 1000
#: Findings kept at most (the first is the one that matters).
MAX_FINDINGS = 100

_MESSAGES: dict[str, tuple[str, str]] = {
    "entry.missing": ("thiếu mục (seq bị ngắt quãng)", "the entry is missing (a gap in seq)"),
    "entry.body": (
        "nội dung không khớp body_sha256 (đã bị sửa)",
        "the body does not match body_sha256 (it was changed)",
    ),
    "entry.certificate": (
        "chứng thư được nêu không còn hoặc không khớp mã băm của nó",
        "a certificate it names is missing or does not match its digest",
    ),
    "entry.revocation": (
        "dữ liệu thu hồi được nêu không còn hoặc không khớp mã băm của nó",
        "a revocation answer it names is missing or does not match its digest",
    ),
    "entry.digest": (
        "mã băm của mục không khớp các trường của nó (một trường đã bị sửa)",
        "the entry's digest does not match its fields (a field was changed)",
    ),
    "entry.link": (
        "prev_digest không phải mã băm của mục trước (chuỗi bị cắt, xóa hoặc đảo thứ tự)",
        "prev_digest is not the digest of the entry before (the chain was cut, emptied or "
        "reordered)",
    ),
    "entry.batch": (
        "batch_id của mục không khớp lô dấu thời gian bao phủ nó",
        "the entry's batch_id does not match the time-stamped batch that covers it",
    ),
    "chain.truncated": (
        "chuỗi bị cắt: đầu chuỗi (evidence_head) ghi nhiều mục hơn số mục còn lại",
        "the chain was truncated: its head (evidence_head) records more entries than remain",
    ),
    "head.mismatch": (
        "đầu chuỗi (evidence_head) không khớp mục cuối",
        "the chain's head (evidence_head) does not match its last entry",
    ),
    "batch.gap": (
        "các lô dấu thời gian không liền nhau (hở hoặc chồng lên nhau)",
        "the time-stamped batches are not contiguous (a gap or an overlap)",
    ),
    "batch.size": (
        "kích thước lô không khớp khoảng seq của nó",
        "the batch's size does not match its seq range",
    ),
    "batch.beyond": (
        "lô dấu thời gian bao phủ các mục không còn (chuỗi bị cắt)",
        "a time-stamped batch covers entries that are gone (the chain was truncated)",
    ),
    "batch.root": (
        "gốc Merkle của lô không khớp các mục của nó",
        "the batch's Merkle root does not match its entries",
    ),
    "batch.timestamp": (
        "dấu thời gian của lô không hợp lệ trên gốc Merkle của các mục",
        "the batch's time-stamp does not hold over its entries' Merkle root",
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong, at an entry (``seq``) and/or a batch."""

    code: str
    seq: int | None
    vi: str
    en: str
    batch_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "seq": self.seq,
            "batch_id": self.batch_id,
            "message": self.vi,
            "message_en": self.en,
        }


@dataclass
class AuditReport:
    side: str
    entries: int = 0
    batches: int = 0
    #: Whether the batches' time-stamps were verified against anchors (else their imprint only).
    timestamps_verified: bool = False
    findings: list[Finding] = field(default_factory=list)
    #: Findings beyond :data:`MAX_FINDINGS`, counted only.
    more: int = 0
    #: The last entry moved to an archive segment (0: none); the walk starts after it.
    archived: int = 0

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The first broken entry, in chain order; a batch's finding only when no entry has one
        (a changed entry also breaks its batch's root, but the entry is what was broken)."""
        return min(
            self.findings,
            key=lambda f: (f.code.startswith("batch."), f.seq if f.seq is not None else 2**63),
            default=None,
        )

    def add(
        self, code: str, seq: int | None, detail: str = "", batch_id: int | None = None
    ) -> None:
        if len(self.findings) >= MAX_FINDINGS:
            self.more += 1
            return
        vi, en = _MESSAGES[code]
        where_vi = f"mục {seq}" if seq is not None else f"lô {batch_id}"
        where_en = f"entry {seq}" if seq is not None else f"batch {batch_id}"
        if batch_id is not None and seq is not None:
            where_vi, where_en = f"{where_vi} (lô {batch_id})", f"{where_en} (batch {batch_id})"
        suffix = f" ({detail})" if detail else ""
        self.findings.append(
            Finding(code, seq, f"{where_vi}: {vi}{suffix}", f"{where_en}: {en}{suffix}", batch_id)
        )

    def as_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "side": self.side,
            "clean": self.clean,
            "entries": self.entries,
            "batches": self.batches,
            "timestamps_verified": self.timestamps_verified,
            "archived": self.archived,
            "first": first.as_dict() if first is not None else None,
            "findings": [finding.as_dict() for finding in self.findings],
            "more_findings": self.more,
        }


@dataclass
class _Batch:
    id: int
    first_seq: int
    last_seq: int
    size: int
    root: str
    leaves: list[bytes] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _KeptDer:
    """The kept certificates or revocation answers named so far, each checked once."""

    def __init__(self, db: Session, table: type[KeptCertificate] | type[KeptRevocation]) -> None:
        self.db, self.table = db, table
        self.good: set[str] = set()
        self.bad: set[str] = set()

    def load(self, names: Iterable[str]) -> None:
        wanted = {name for name in names if name not in self.good and name not in self.bad}
        if not wanted:
            return
        found = {
            name: der
            for name, der in self.db.execute(
                select(self.table.sha256, self.table.der).where(self.table.sha256.in_(wanted))
            )
        }
        for name in wanted:
            der = found.get(name)
            (self.good if der is not None and _sha256(der) == name else self.bad).add(name)

    def first_bad(self, names: Sequence[str]) -> str | None:
        return next((name for name in names if name not in self.good), None)


def timestamp_problem(
    response: bytes, root: bytes, anchors: Sequence[x509.Certificate]
) -> str | None:
    """Why the batch's time-stamp does not hold over ``root`` (None: it holds)."""
    if anchors:
        try:
            verify_timestamp(response, root, anchors)
        except TimestampError as problem:
            return problem.en
        return None
    try:  # no anchors: the token's imprint at least
        imprint = decode_timestamp_response(response).tst_info.message_imprint.message
    except Exception:  # malformed DER: the parser raises its own types
        return "the time-stamp answer cannot be read"
    return None if imprint == hashlib.sha256(root).digest() else "the imprint differs"


def _body_holds(db: Session, entry: EvidenceEntry, side: str, seq: int) -> bool:
    """Whether the entry's body is the one its digest names. A sealed body that no longer opens
    (a changed byte fails its authentication tag, or names another data key) is broken there;
    no master key, or the wrong one, is the operator's to fix: the sealer's error goes up."""
    try:
        plain = plain_body(db, entry.body, f"evidence {side} {seq}")
    except SealingError as problem:
        if problem.code in ("sealed.corrupt", "sealed.unknown_key"):
            return False
        raise
    return _sha256(plain) == entry.body_sha256


def audit_chain(
    db: Session,
    side: str = "hub",
    anchors: Sequence[x509.Certificate] = (),
    page: int = PAGE,
) -> AuditReport:
    """Check ``side``'s chain in ``db`` (read only) and report what is wrong."""
    report = AuditReport(side, timestamps_verified=bool(anchors))
    # what was archived (lienthong.evidence.archive): the database's chain goes on from there
    archived = last_archive(db, side)
    report.archived = int(archived.last_seq) if archived is not None else 0
    batches = [
        _Batch(row.id, int(row.first_seq), int(row.last_seq), int(row.size), row.root)
        for row in db.execute(
            select(
                EvidenceBatch.id,
                EvidenceBatch.first_seq,
                EvidenceBatch.last_seq,
                EvidenceBatch.size,
                EvidenceBatch.root,
            )
            # batches of archived entries a cut-short run has not deleted yet are the archive's
            .where(EvidenceBatch.side == side, EvidenceBatch.first_seq > report.archived)
            .order_by(EvidenceBatch.first_seq)
        )
    ]
    report.batches = len(batches)
    expected_first = report.archived + 1
    for batch in batches:
        if batch.first_seq != expected_first:
            report.add("batch.gap", batch.first_seq, f"expected {expected_first}", batch.id)
        if batch.size != batch.last_seq - batch.first_seq + 1 or batch.last_seq < batch.first_seq:
            report.add("batch.size", batch.first_seq, "", batch.id)
        expected_first = max(expected_first, batch.last_seq + 1)
    certificates = _KeptDer(db, KeptCertificate)
    revocations = _KeptDer(db, KeptRevocation)

    expected, prev, last_seq = report.archived + 1, GENESIS, report.archived
    if archived is not None:  # the first entry left links to the last archived digest
        prev = archived.last_digest
    following = 0  # the index of the first batch that may still cover an entry to come
    while True:
        entries = list(
            db.scalars(
                select(EvidenceEntry)
                .where(EvidenceEntry.side == side, EvidenceEntry.seq > last_seq)
                .order_by(EvidenceEntry.seq)
                .limit(page)
            )
        )
        if not entries:
            break
        certificates.load(name for entry in entries for name in entry.certificates or ())
        revocations.load(name for entry in entries for name in entry.revocations or ())
        for entry in entries:
            seq = int(entry.seq)
            if seq != expected:
                report.add("entry.missing", expected, f"next is {seq}")
            if not _body_holds(db, entry, side, seq):
                report.add("entry.body", seq)
            missing = certificates.first_bad(entry.certificates or [])
            if missing is not None:
                report.add("entry.certificate", seq, missing)
            missing = revocations.first_bad(entry.revocations or [])
            if missing is not None:
                report.add("entry.revocation", seq, missing)
            if entry_digest(entry_fields(entry)) != entry.digest:
                report.add("entry.digest", seq)
            if entry.prev_digest != prev:
                report.add("entry.link", seq)
            # the batch that covers this seq, if any (seqs and batches both ascend)
            while following < len(batches) and batches[following].last_seq < seq:
                following += 1
            current = batches[following] if following < len(batches) else None
            if current is not None and current.first_seq <= seq:
                if entry.batch_id != current.id:
                    report.add("entry.batch", seq, f"{entry.batch_id}", current.id)
                current.leaves.append(bytes.fromhex(entry.digest))
            elif entry.batch_id is not None:
                report.add("entry.batch", seq, f"{entry.batch_id}")
            expected, prev, last_seq = seq + 1, entry.digest, seq
            report.entries += 1
        db.expunge_all()  # a page at a time in memory

    for batch in batches:
        if batch.last_seq >= expected:
            report.add("batch.beyond", batch.last_seq, f"last entry is {last_seq}", batch.id)
            continue
        root = merkle_root(batch.leaves)
        if root.hex() != batch.root:
            report.add("batch.root", batch.first_seq, "", batch.id)
        response = db.scalar(select(EvidenceBatch.response).where(EvidenceBatch.id == batch.id))
        problem = timestamp_problem(response or b"", root, anchors)
        if problem is not None:
            report.add("batch.timestamp", batch.first_seq, problem, batch.id)
        batch.leaves = []

    head = db.execute(
        select(EvidenceHead.seq, EvidenceHead.digest).where(EvidenceHead.side == side)
    ).first()
    head_seq, head_digest = (int(head.seq), head.digest) if head is not None else (0, GENESIS)
    if head_seq > last_seq:
        report.add("chain.truncated", last_seq + 1, f"head says {head_seq}")
    elif (head_seq, head_digest) != (last_seq, prev):
        report.add("head.mismatch", last_seq, f"head says {head_seq}")
    return report
