"""Appending evidence entries: in the caller's transaction, gapless, linked, cheap."""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.chain import GENESIS, entry_digest
from lienthong.evidence.store import entry_fields, plain_body, record_keys
from lienthong.security.pki import TestPki
from lienthong.store.tables import (
    Dossier,
    EvidenceEntry,
    EvidenceHead,
    EvidenceKey,
    KeptCertificate,
    KeptRevocation,
)
from tests.evidence.samples import append, build_log, sample_verification


def _chain(db: Session, side: str = "hub") -> list[EvidenceEntry]:
    return list(db.scalars(select(EvidenceEntry).where(EvidenceEntry.side == side).order_by("seq")))


def test_entries_are_linked_kept_once_and_roll_back_with_their_data(
    sessions: sessionmaker[Session], engine: Engine, test_pki: TestPki
) -> None:
    chain = [test_pki.agency("000.00.00.H56").der, test_pki.intermediate.der]
    verification = sample_verification(chain)
    build_log(sessions, 3, verification=verification)
    build_log(sessions, 2, side="agent")
    with sessions() as db:
        entries = _chain(db)
        assert [e.seq for e in entries] == [1, 2, 3]
        assert entries[0].prev_digest == GENESIS
        assert [e.prev_digest for e in entries[1:]] == [e.digest for e in entries[:-1]]
        for entry in entries:  # as read back from the database, the digest still holds
            assert entry_digest(entry_fields(entry)) == entry.digest
            assert hashlib.sha256(plain_body(db, entry.body)).hexdigest() == entry.body_sha256
        assert entries[0].certificates == [hashlib.sha256(der).hexdigest() for der in chain]
        assert entries[0].validation is not None and "der" not in str(entries[0].validation)
        # each certificate and revocation answer once, however many entries name them
        assert db.scalar(select(func.count()).select_from(KeptCertificate)) == 2
        assert db.scalar(select(func.count()).select_from(KeptRevocation)) == 1
        head = db.get(EvidenceHead, "hub")
        assert head is not None and (head.seq, head.digest) == (3, entries[-1].digest)
        agent = _chain(db, "agent")  # a chain of its own
        assert [e.seq for e in agent] == [1, 2] and agent[0].prev_digest == GENESIS

    # the data's transaction rolls back: its entry, its keys and the head's move with it
    with sessions() as db:
        db.add(Dossier(ma_ho_so="X", unit="U", ma_tthc="T", status="1", record={}, record_hash=""))
        append(db, 4, keys=["X"])
        db.flush()
        db.rollback()
    with sessions() as db:
        assert [e.seq for e in _chain(db)] == [1, 2, 3]
        assert db.get(EvidenceHead, "hub").seq == 3  # type: ignore[union-attr]
        assert db.scalar(select(func.count()).select_from(EvidenceKey)) == 0

    # a thousand-record push: one entry, its keys, a handful of statements
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    keys = [f"000.00.00.H56-261208-{n:04d}" for n in range(1000)]
    event.listen(engine, "before_cursor_execute", count)
    try:
        with sessions() as db:
            append(db, 4, keys=[*keys, keys[0]], verification=verification)
            db.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]) <= 8, statements
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(EvidenceKey)) == 1000
        assert set(db.scalars(select(EvidenceKey.seq))) == {4}


def test_workers_appending_at_once_keep_one_gapless_chain(
    sessions: sessionmaker[Session],
) -> None:
    errors: list[BaseException] = []

    def worker(first: int) -> None:
        try:
            for number in range(first, first + 8):
                with sessions() as db:
                    append(db, number)
                    db.commit()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n * 100,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with sessions() as db:
        entries = _chain(db)
    assert [e.seq for e in entries] == list(range(1, 25))
    assert [e.prev_digest for e in entries[1:]] == [e.digest for e in entries[:-1]]


def test_record_keys_of_each_kind_of_envelope() -> None:
    dossiers = {"data": [{"MaHoSo": "A"}, {"MaHoSo": "B"}, {"MaHoSo": "A"}, {"x": 1}, "bad"]}
    assert record_keys("DongBoHoSoMC", dossiers) == ["A", "B"]
    assert record_keys("DongBoKetQuaXuLyPAKN", {"data": [{"PAKNID": 12}]}) == ["12"]
    assert record_keys("DongBoHoiDap", {"data": [{"HOIDAPID": "7"}, {"HOIDAPID": True}]}) == ["7"]
    assert record_keys("TraCuuHoSo", {"mahoso": "C" * 300}) == ["C" * 128]
    assert record_keys("LayThuTuc", {"maTTHC": "1"}) == []
    assert record_keys(None, {"data": "x"}) == []
