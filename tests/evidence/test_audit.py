"""The audit finds and locates every kind of tampering, on SQLite and PostgreSQL: a changed
body, signature, certificate, link, batch root or time-stamp, a deleted or reordered entry, a
truncated tail. Each case is made in a transaction, audited there, and rolled back."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.audit import audit_chain
from lienthong.evidence.stamper import Stamper
from lienthong.security.pki import TestPki
from lienthong.store.tables import EvidenceBatch, EvidenceEntry, KeptCertificate
from tests.evidence.samples import build_log, sample_verification

Tamper = Callable[[Session], None]


def _flip(data: bytes, at: int | None = None) -> bytes:
    where = len(data) // 2 if at is None else at
    return data[:where] + bytes([data[where] ^ 0x01]) + data[where + 1 :]


def _change(seq: int, column: str) -> Tamper:
    def tamper(db: Session) -> None:
        entry = db.scalars(select(EvidenceEntry).where(EvidenceEntry.seq == seq)).one()
        db.execute(
            update(EvidenceEntry)
            .where(EvidenceEntry.seq == seq)
            .values({column: _flip(getattr(entry, column))})
        )

    return tamper


def _certificate(db: Session) -> None:
    first = db.scalars(select(EvidenceEntry.certificates).where(EvidenceEntry.seq == 1)).one()[0]
    der = db.scalars(select(KeptCertificate.der).where(KeptCertificate.sha256 == first)).one()
    db.execute(
        update(KeptCertificate).where(KeptCertificate.sha256 == first).values(der=_flip(der))
    )


def _link(db: Session) -> None:
    db.execute(update(EvidenceEntry).where(EvidenceEntry.seq == 4).values(prev_digest="ab" * 32))


def _batch(column: str) -> Tamper:
    def tamper(db: Session) -> None:
        batch = db.scalars(select(EvidenceBatch)).one()
        value = getattr(batch, column)
        changed = ("f" if value[0] != "f" else "e") + value[1:] if column == "root" else None
        db.execute(update(EvidenceBatch).values({column: changed or _flip(value, len(value) - 40)}))

    return tamper


def _delete(db: Session) -> None:
    db.execute(delete(EvidenceEntry).where(EvidenceEntry.seq == 3))


def _swap(db: Session) -> None:
    for old, new in ((2, -1), (3, 2), (-1, 3)):
        db.execute(update(EvidenceEntry).where(EvidenceEntry.seq == old).values(seq=new))


def _truncate(db: Session) -> None:
    db.execute(delete(EvidenceEntry).where(EvidenceEntry.seq > 5))


#: Each tampering, and the first broken place the audit must name: (code, seq).
CASES: list[tuple[str, Tamper, tuple[str, int]]] = [
    ("body", _change(3, "body"), ("entry.body", 3)),
    ("signature", _change(2, "signature"), ("entry.digest", 2)),
    ("receipt", _change(7, "receipt"), ("entry.digest", 7)),
    ("certificate", _certificate, ("entry.certificate", 1)),
    ("link", _link, ("entry.digest", 4)),
    ("root", _batch("root"), ("batch.root", 1)),
    ("timestamp", _batch("response"), ("batch.timestamp", 1)),
    ("deleted", _delete, ("entry.missing", 3)),
    ("swapped", _swap, ("entry.digest", 2)),
    ("truncated", _truncate, ("chain.truncated", 6)),
]


def test_every_tampering_is_found_and_located(
    sessions: sessionmaker[Session], test_pki: TestPki, pki_services: str
) -> None:
    chain = [test_pki.agency("000.00.00.H56").der, test_pki.intermediate.der]
    build_log(sessions, 8, verification=sample_verification(chain))
    assert Stamper(sessions, tsa_url=test_pki.tsa_url, batch_max=5).stamp_once() is not None
    anchors = [test_pki.root.certificate]
    with sessions() as db:
        clean = audit_chain(db, "hub", anchors, page=3)  # pages of 3: the walk crosses pages
        assert clean.clean and clean.first is None, clean.findings
        assert (clean.entries, clean.batches, clean.timestamps_verified) == (8, 1, True)
        assert audit_chain(db, "hub").clean  # without anchors: the imprints only
        assert audit_chain(db, "agent").clean  # an empty chain is intact
    found: dict[str, tuple[str, int | None]] = {}
    for name, tamper, _ in CASES:
        with sessions() as db:
            tamper(db)
            report = audit_chain(db, "hub", anchors, page=3)
            db.rollback()
        first = report.first
        assert first is not None, name
        found[name] = (first.code, first.seq)
        assert str(first.seq) in first.vi and str(first.seq) in first.en
    assert found == {name: expected for name, _, expected in CASES}
    with sessions() as db:  # every case was rolled back
        assert audit_chain(db, "hub", anchors).clean
        assert db.scalar(select(func.count()).select_from(EvidenceEntry)) == 8


def test_a_link_changed_with_its_digest_recomputed_breaks_the_next_link(
    sessions: sessionmaker[Session],
) -> None:
    """An attacker who rewrites an entry and its digest still breaks the following link."""
    from lienthong.evidence.chain import entry_digest
    from lienthong.evidence.store import entry_fields

    build_log(sessions, 4)
    with sessions() as db:
        entry = db.scalars(select(EvidenceEntry).where(EvidenceEntry.seq == 2)).one()
        entry.body_sha256 = "00" * 32
        entry.digest = entry_digest(entry_fields(entry))
        db.flush()
        report = audit_chain(db, "hub", page=1)
        db.rollback()
    assert [(f.code, f.seq) for f in report.findings][:2] == [("entry.body", 2), ("entry.link", 3)]
