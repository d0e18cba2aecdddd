"""Appending evidence entries, in the caller's transaction: an entry commits or rolls back with
the data it proves (docs/evidence.md).

Each side's chain has a head row (``evidence_head``); an append takes it ``FOR UPDATE``
(PostgreSQL; on SQLite the transaction is a writer from its start, :func:`begin_sqlite_write`),
so that the next ``seq`` and its ``prev_digest`` are assigned once, whatever the number of
workers, and the chain stays gapless. A push of a thousand records costs a few statements: the
head, the certificates and revocation answers (each once), the entry, its keys (one statement
for all) and the head again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lienthong.evidence.chain import GENESIS, EntryFields, entry_digest
from lienthong.evidence.kept import KeptVerification, keep_verification
from lienthong.security.verify import Verification
from lienthong.store.bulk import insert_columns
from lienthong.store.db import begin_sqlite_write, insert_ignoring_duplicates
from lienthong.store.hashing import canonical_json
from lienthong.store.sealing import sealer_for
from lienthong.store.tables import EvidenceEntry, EvidenceHead, EvidenceKey

__all__ = [
    "EVIDENCE_BODY",
    "KEY_FIELDS",
    "SIDES",
    "EvidenceLog",
    "entry_fields",
    "plain_body",
    "record_keys",
    "stored_body",
]

#: The chains: the hub's and the agent's.
SIDES = ("hub", "agent")
#: A record key is cut to what ``evidence_keys.key`` holds.
KEY_LENGTH = 128

#: The field of each push service's records that names what the record is about.
KEY_FIELDS: Mapping[str, str] = {
    "DongBoHoSoMC": "MaHoSo",
    "CapNhatTienDoHoSoMC": "MaHoSo",
    "DongBoPAKNDiaPhuong": "MaPAKN",
    "DongBoKetQuaXuLyPAKN": "PAKNID",
    "DongBoHoiDap": "HOIDAPID",
    "DongBoKetQuaHoiDapGuiTuDVCQG": "HOIDAPID",
}
#: Share services whose envelope asks about one record: the parameter naming it.
ASKED_FIELDS: Mapping[str, str] = {"TraCuuHoSo": "mahoso"}


#: The purpose sealed evidence bodies are bound to (encryption at rest, store.sealing).
EVIDENCE_BODY = "evidence_entries.body"


def stored_body(db: Session, plaintext: bytes) -> bytes:
    """The form a body is stored in: sealed (AES-256-GCM) by the sealer registered for ``db``'s
    engine when a master key is configured, else the bytes themselves. Digests are always over
    the plaintext."""
    return sealer_for(db).seal(plaintext, EVIDENCE_BODY)


def plain_body(db: Session, stored: bytes, where: str = "") -> bytes:
    """The plaintext of a stored body (the inverse of :func:`stored_body`); a sealed body with
    no (or the wrong) master key raises :class:`lienthong.security.sealing.SealingError`,
    naming ``where`` (e.g. ``evidence hub 42``)."""
    return sealer_for(db).open(stored, EVIDENCE_BODY, where)


def _key_text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)[:KEY_LENGTH]
    return None


def record_keys(service: str | None, envelope: Mapping[str, Any]) -> list[str]:
    """The record keys an envelope carries, each once, in order: the ``MaHoSo`` of dossier
    records, the petition and question ids of PAKN and Q&A records, the code TraCuuHoSo asks."""
    found: dict[str, None] = {}
    asked = ASKED_FIELDS.get(service or "")
    if asked is not None:
        key = _key_text(envelope.get(asked))
        if key is not None:
            found[key] = None
    name = KEY_FIELDS.get(service or "")
    records = envelope.get("data")
    if name is not None and isinstance(records, list):
        for record in records:
            if isinstance(record, dict):
                key = _key_text(record.get(name))
                if key is not None:
                    found[key] = None
    return list(found)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_fields(entry: EvidenceEntry) -> EntryFields:
    """The digested fields of a stored entry (and its body, in stored form)."""
    values = {spec.name: getattr(entry, spec.name) for spec in dataclasses.fields(EntryFields)}
    values["certificates"] = tuple(entry.certificates or ())
    values["revocations"] = tuple(entry.revocations or ())
    return EntryFields(**values)


def _head(db: Session, side: str) -> tuple[int, str]:
    """The side's head (seq, digest), locked until the transaction ends; created at genesis."""
    locked = select(EvidenceHead.seq, EvidenceHead.digest).where(EvidenceHead.side == side)
    row = db.execute(locked.with_for_update()).first()
    if row is None:
        # the first append of a side: two workers may race here, one row wins, both then lock it
        db.execute(
            insert_ignoring_duplicates(db, EvidenceHead).values(
                side=side, seq=0, digest=GENESIS, updated_at=dt.datetime.now(dt.UTC)
            )
        )
        row = db.execute(locked.with_for_update()).one()
    return int(row.seq), str(row.digest)


class EvidenceLog:
    """The evidence log of a database; :meth:`append` writes one entry."""

    @staticmethod
    def append(
        db: Session,
        *,
        side: str,
        kind: str,
        at: dt.datetime,
        log_id: int | None,
        service: str | None,
        origin_unit: str | None,
        origin_account: str | None,
        destination: str | None,
        body: bytes,
        signature: bytes | None,
        signature_format: str | None,
        verification: Verification | None,
        receipt: bytes | None,
        receipt_signature: bytes | None,
        keys: Iterable[str] = (),
        kept: KeptVerification | None = None,
    ) -> EvidenceEntry:
        """Append one entry to ``side``'s chain in ``db``'s transaction (not committed here).

        ``body`` is the exact plaintext bytes; ``verification`` the signature's (its
        certificates and revocation answers are kept once each, unless ``kept`` says they are
        already); ``keys`` the record keys the message carried."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {side!r}")
        begin_sqlite_write(db.connection())  # nothing when the caller's writer is open already
        if verification is not None and kept is None:
            kept = keep_verification(db, verification)
        validation = orjson.loads(canonical_json(kept.result)) if kept is not None else None
        seq, prev = _head(db, side)
        seq += 1
        fields = EntryFields(
            side=side,
            seq=seq,
            at=at.astimezone(dt.UTC),
            kind=kind,
            log_id=log_id,
            service=service,
            origin_unit=origin_unit,
            origin_account=origin_account,
            destination=destination,
            body_sha256=_sha256(body),
            signature=signature,
            signature_format=signature_format,
            certificates=tuple(kept.certificates) if kept is not None else (),
            revocations=tuple(kept.revocations) if kept is not None else (),
            validation=validation,
            receipt=receipt,
            receipt_signature=receipt_signature,
            prev_digest=prev,
            body=stored_body(db, body),
        )
        digest = entry_digest(fields)
        entry = EvidenceEntry(
            **{spec.name: getattr(fields, spec.name) for spec in dataclasses.fields(fields)},
            digest=digest,
            batch_id=None,
        )
        entry.certificates, entry.revocations = list(fields.certificates), list(fields.revocations)
        db.add(entry)
        unique = list(dict.fromkeys(k[:KEY_LENGTH] for k in keys))
        if unique:  # all at once: executemany on SQLite, one COPY on PostgreSQL
            insert_columns(
                db,
                EvidenceKey,
                {"side": [side] * len(unique), "key": unique, "seq": [seq] * len(unique)},
            )
        db.execute(
            update(EvidenceHead)
            .where(EvidenceHead.side == side)
            .values(seq=seq, digest=digest, updated_at=dt.datetime.now(dt.UTC))
        )
        return entry
