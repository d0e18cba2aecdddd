"""Batch time-stamps from the test PKI's real TSA, workers racing, a crash before the stamp,
and failing closed while the TSA is down or answers over other data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.merkle import merkle_root
from lienthong.evidence.stamper import Stamper
from lienthong.security.pki import TestPki
from lienthong.security.timestamps import request_timestamp, verify_timestamp
from lienthong.store.tables import EvidenceBatch, EvidenceEntry
from tests.evidence.samples import append, build_log, wrong_digest_tsa
from tests.servers import free_port, serve_in_thread


def _batches(sessions: sessionmaker[Session]) -> list[tuple[int, int, int]]:
    with sessions() as db:
        return [
            (row.id, row.first_seq, row.last_seq)
            for row in db.execute(select(EvidenceBatch).order_by(EvidenceBatch.first_seq)).scalars()
        ]


def test_batches_cover_the_chain_once_whatever_the_workers_and_crashes(
    sessions: sessionmaker[Session], test_pki: TestPki, pki_services: str
) -> None:
    build_log(sessions, 5)
    stamper = Stamper(sessions, tsa_url=test_pki.tsa_url, batch_max=3)
    assert Stamper(sessions).stamp_once() is None  # no TSA: nothing is stamped
    assert stamper.stamp_all() == 2  # 1-3, then 4-5: one TSA call per batch
    assert [b[1:] for b in _batches(sessions)] == [(1, 3), (4, 5)]
    with sessions() as db:
        batch = db.scalars(select(EvidenceBatch).order_by(EvidenceBatch.id)).first()
        assert batch is not None
        digests = db.scalars(
            select(EvidenceEntry.digest).where(EvidenceEntry.seq <= 3).order_by("seq")
        ).all()
        marked = db.scalars(select(EvidenceEntry.batch_id).order_by("seq")).all()
    root = merkle_root([bytes.fromhex(d) for d in digests])
    assert batch.root == root.hex() and batch.size == 3 and batch.tsa_url == test_pki.tsa_url
    stamp = verify_timestamp(batch.response, root, [test_pki.root.certificate])
    assert stamp.time == batch.gen_time
    (first, *_), (second, *_) = _batches(sessions)
    assert marked == [first] * 3 + [second] * 2

    # a worker that gathered the same entries as another loses the race and writes nothing
    build_log(sessions, 2)  # entries 6 and 7
    late = Stamper(sessions, tsa_url=test_pki.tsa_url)
    gathered = late.pending()
    assert [seq for seq, _ in gathered] == [6, 7]
    assert stamper.stamp_once() is not None  # the other worker covers 6 (and 7)
    root = merkle_root([bytes.fromhex(d) for _, d in gathered])
    assert late.record(gathered, root, request_timestamp(test_pki.tsa_url, root)) is None
    assert [b[1:] for b in _batches(sessions)] == [(1, 3), (4, 5), (6, 7)]

    # a crash after the data committed and before its stamp: the next run covers it
    build_log(sessions, 1)  # entry 8, committed; its stamper dies before asking the TSA
    restarted = Stamper(sessions, tsa_url=test_pki.tsa_url)
    assert restarted.oldest_unstamped() is not None
    assert restarted.stamp_all() == 1
    assert _batches(sessions)[-1][1:] == (8, 8)
    assert restarted.oldest_unstamped() is None and restarted.fail_closed() is None


def test_failing_closed_while_the_tsa_is_down_or_wrong_and_recovering(
    sessions: sessionmaker[Session], test_pki: TestPki, pki_services: str
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with sessions() as db:
        append(db, 1, at=long_ago)
        db.commit()
    down = f"http://127.0.0.1:{free_port()}/tsa"
    window = dt.timedelta(seconds=2)
    stamper = Stamper(sessions, tsa_url=down, timeout=2, fail_closed_after=window)
    assert stamper.stamp_once() is None
    assert stamper.failures == 1 and stamper.last_error is not None
    assert stamper.last_error.code == "timestamp.unreachable"
    age = stamper.fail_closed()
    assert age is not None and age > window
    # no TSA, or no window: never closed
    assert Stamper(sessions, fail_closed_after=window).fail_closed() is None
    assert Stamper(sessions, tsa_url=down, fail_closed_after=None).fail_closed() is None

    with serve_in_thread(wrong_digest_tsa(test_pki.tsa_url), free_port()) as wrong:
        stamper.tsa_url = f"{wrong}/tsa"
        assert stamper.stamp_once() is None
    assert stamper.failures == 2 and stamper.last_error is not None
    assert stamper.last_error.code == "timestamp.imprint"
    assert stamper.fail_closed() is not None and _batches(sessions) == []

    stamper.tsa_url = test_pki.tsa_url  # the TSA is back
    assert stamper.stamp_once() is not None
    assert stamper.last_error is None and stamper.fail_closed() is None
