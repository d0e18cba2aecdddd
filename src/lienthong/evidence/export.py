"""Exporting the evidence of a dossier, a petition or one message as an ASiC-E container
(:mod:`lienthong.evidence.container`), read from the evidence tables.

The entries are found by record key (``evidence_keys``: a dossier code, a petition or question
id) or by the message log row they prove (``log_id``); each comes with its kept certificates and
revocation answers and, once time-stamped, its batch's Merkle inclusion path and time-stamp. The
database is checked on the way (each entry's digest recomputed, each batch's root rebuilt): a
log that no longer agrees with itself is not exported (``lienthong evidence audit`` says where).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lienthong.evidence.chain import entry_digest, entry_document
from lienthong.evidence.container import Batch, Inclusion, MessageProof, build_container
from lienthong.evidence.merkle import inclusion_path, merkle_root
from lienthong.evidence.store import SIDES, entry_fields, plain_body
from lienthong.security.selfcheck import Stapled
from lienthong.security.signers import Signer
from lienthong.store.tables import (
    EvidenceBatch,
    EvidenceEntry,
    EvidenceKey,
    KeptCertificate,
    KeptRevocation,
)

__all__ = ["ExportError", "Selection", "export_container", "message_proofs", "select_entries"]


class ExportError(Exception):
    """Nothing to export, or evidence that cannot be exported: a stable ``code``
    (``export.*``) and both languages."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.vi, self.en = code, vi, en


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export: exactly one of a dossier code, a petition (or question) id, or the
    message log id of one message; ``side`` when the database holds both chains."""

    dossier: str | None = None
    petition: str | None = None
    message: int | None = None
    side: str | None = None

    def described(self) -> dict[str, object]:
        chosen = {"dossier": self.dossier, "petition": self.petition, "message": self.message}
        return {name: value for name, value in chosen.items() if value is not None}


def select_entries(db: Session, selection: Selection) -> list[EvidenceEntry]:
    """The entries of ``selection`` on one side, in ``seq`` order; :class:`ExportError` when
    none is found or they lie on both sides and no side was chosen."""
    chosen = selection.described()
    if len(chosen) != 1:
        raise ExportError(
            "export.selection",
            "chọn đúng một: --dossier, --petition hoặc --message",
            "choose exactly one: --dossier, --petition or --message",
        )
    if selection.side is not None and selection.side not in SIDES:
        raise ExportError(
            "export.side",
            f"bên phải là một trong {', '.join(SIDES)}",
            f"the side must be one of {', '.join(SIDES)}",
        )
    query = select(EvidenceEntry)
    if selection.message is not None:
        query = query.where(EvidenceEntry.log_id == selection.message)
    else:
        key = selection.dossier if selection.dossier is not None else selection.petition
        query = query.join(
            EvidenceKey,
            (EvidenceKey.side == EvidenceEntry.side) & (EvidenceKey.seq == EvidenceEntry.seq),
        ).where(EvidenceKey.key == key)
    if selection.side is not None:
        query = query.where(EvidenceEntry.side == selection.side)
    entries = list(db.scalars(query.order_by(EvidenceEntry.side, EvidenceEntry.seq)))
    ((name, value),) = chosen.items()
    if not entries:
        raise ExportError(
            "export.not_found",
            f"không có bản ghi chứng cứ nào cho {name} {value}",
            f"no evidence entry for {name} {value}",
        )
    sides = sorted({entry.side for entry in entries})
    if len(sides) > 1:
        raise ExportError(
            "export.both_sides",
            f"{name} {value} có trong sổ của cả hai bên ({', '.join(sides)}): chọn --side",
            f"{name} {value} is in both sides' logs ({', '.join(sides)}): choose --side",
        )
    return entries


def _inconsistent(what_vi: str, what_en: str) -> ExportError:
    return ExportError(
        "export.inconsistent",
        f"sổ chứng cứ không còn khớp ({what_vi}): không xuất; chạy lienthong evidence audit",
        f"the evidence log does not agree with itself ({what_en}): nothing exported; run "
        "lienthong evidence audit",
    )


def _batches(db: Session, entries: Sequence[EvidenceEntry]) -> dict[int, tuple[Batch, list[bytes]]]:
    """Each batch of ``entries`` with its leaves (the digests of its entries, in seq order)."""
    found: dict[int, tuple[Batch, list[bytes]]] = {}
    ids = sorted({entry.batch_id for entry in entries if entry.batch_id is not None})
    for row in db.scalars(select(EvidenceBatch).where(EvidenceBatch.id.in_(ids))):
        digests = db.scalars(
            select(EvidenceEntry.digest)
            .where(
                EvidenceEntry.side == row.side,
                EvidenceEntry.seq >= row.first_seq,
                EvidenceEntry.seq <= row.last_seq,
            )
            .order_by(EvidenceEntry.seq)
        ).all()
        leaves = [bytes.fromhex(digest) for digest in digests]
        root = bytes.fromhex(row.root)
        if len(leaves) != row.last_seq - row.first_seq + 1 or merkle_root(leaves) != root:
            raise _inconsistent(
                f"gốc Merkle của lô {row.first_seq}–{row.last_seq}",
                f"the Merkle root of batch {row.first_seq}-{row.last_seq}",
            )
        batch = Batch(
            row.first_seq,
            row.last_seq,
            root,
            row.response,
            id=row.id,
            gen_time=row.gen_time,
            tsa_url=row.tsa_url,
        )
        found[row.id] = (batch, leaves)
    return found


def _kept(
    db: Session, table: type[KeptCertificate] | type[KeptRevocation], digests: set[str]
) -> dict[str, bytes]:
    """The kept DER of ``digests`` by digest."""
    query = select(table.sha256, table.der).where(table.sha256.in_(sorted(digests)))
    return {row.sha256: row.der for row in db.execute(query)}


def message_proofs(
    db: Session, entries: Sequence[EvidenceEntry], *, allow_unstamped: bool = False
) -> list[MessageProof]:
    """The proofs of ``entries``; :class:`ExportError` for an entry not time-stamped yet
    (unless ``allow_unstamped``) and for a log that does not agree with itself."""
    unstamped = [entry.seq for entry in entries if entry.batch_id is None]
    if unstamped and not allow_unstamped:
        listed = ", ".join(str(seq) for seq in unstamped[:10])
        raise ExportError(
            "export.unstamped",
            f"bản ghi số {listed} chưa được đóng dấu thời gian: chờ lô kế tiếp rồi xuất lại, "
            "hoặc dùng --allow-unstamped (gói sẽ ghi rõ là chưa chứng minh được)",
            f"entries {listed} are not time-stamped yet: wait for the next batch and export "
            "again, or use --allow-unstamped (the container will say they are not proven)",
        )
    certificates = _kept(db, KeptCertificate, {d for e in entries for d in e.certificates or ()})
    revocations = _kept(db, KeptRevocation, {d for e in entries for d in e.revocations or ()})
    batches = _batches(db, entries)
    proofs = []
    for entry in entries:
        fields = entry_fields(entry)
        if entry_digest(fields) != entry.digest:
            raise _inconsistent(f"bản ghi số {entry.seq}", f"entry {entry.seq}")
        missing = [d for d in fields.certificates if d not in certificates] + [
            d for d in fields.revocations if d not in revocations
        ]
        if missing:
            raise _inconsistent(
                f"thiếu chứng thư/dữ liệu thu hồi {missing[0]}",
                f"certificate or revocation data {missing[0]} is missing",
            )
        inclusion = None
        if entry.batch_id is not None:
            if entry.batch_id not in batches:
                raise _inconsistent(
                    f"lô của bản ghi số {entry.seq}", f"the batch of entry {entry.seq}"
                )
            batch, leaves = batches[entry.batch_id]
            index = entry.seq - batch.first_seq
            if not 0 <= index < len(leaves):
                raise _inconsistent(
                    f"lô của bản ghi số {entry.seq}", f"the batch of entry {entry.seq}"
                )
            path = tuple(inclusion_path(leaves, index))
            inclusion = Inclusion(index, len(leaves), path, batch)
        proofs.append(
            MessageProof(
                document=entry_document(fields),
                body=plain_body(db, entry.body, f"evidence {entry.side} {entry.seq}"),
                signature=entry.signature,
                signature_format=entry.signature_format,
                receipt=entry.receipt,
                receipt_signature=entry.receipt_signature,
                validation=entry.validation,
                certificates=tuple(certificates[d] for d in fields.certificates),
                revocations=tuple(revocations[d] for d in fields.revocations),
                inclusion=inclusion,
            )
        )
    return proofs


def export_container(
    db: Session,
    selection: Selection,
    *,
    signer: Signer | None = None,
    stapled: Stapled | None = None,
    allow_unstamped: bool = False,
    now: dt.datetime | None = None,
) -> bytes:
    """The ASiC-E container of ``selection`` (signed by ``signer`` when given, carrying the
    ``stapled`` answers of its self-check: :class:`~lienthong.security.selfcheck.SigningSelfCheck`)."""
    entries = select_entries(db, selection)
    proofs = message_proofs(db, entries, allow_unstamped=allow_unstamped)
    unstamped = [proof.seq for proof in proofs if proof.inclusion is None]
    export: dict[str, object] = {**selection.described()}
    if unstamped:
        export["unstamped"] = unstamped
    stapled = stapled or Stapled()
    return build_container(
        proofs,
        export=export,
        signer=signer,
        ocsp_response=stapled.ocsp_response,
        revocation=stapled.chain,
        now=now,
    )
