"""Archives of the evidence log: old, time-stamped batches move to signed, time-stamped,
hash-linked segment files while pushes go on; the audit walks the segments then the database;
a changed byte, a deleted or reordered segment is named; a run cut short is finished by the
next; an encrypted segment needs its key."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.archive import (
    ArchiveError,
    Archiver,
    audit_archives,
    is_segment,
    segment_files,
    verify_segment,
)
from lienthong.evidence.audit import audit_chain
from lienthong.evidence.stamper import Stamper
from lienthong.evidence.status import archive_status
from lienthong.hub.metrics import metrics_registry
from lienthong.security.file_keys import KeyFile
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.store.tables import EvidenceArchive, EvidenceBatch, EvidenceEntry, EvidenceKey
from tests.evidence.samples import append, sample_verification

OLD = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)


@pytest.fixture(scope="module")
def signer(test_pki: TestPki) -> FileSigner:
    """The hub's key of the test PKI, its certificate with the chain: it signs the manifests."""
    chained = test_pki.hub.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    return FileSigner.from_pem(chained, test_pki.hub.key_path)


def _old_log(sessions: sessionmaker[Session], test_pki: TestPki, count: int, fresh: int) -> None:
    """``count`` entries 40 days old then ``fresh`` new ones, stamped in batches of three."""
    verification = sample_verification([test_pki.hub.der])
    for number in range(1, count + fresh + 1):
        with sessions() as db:
            at = OLD if number <= count else dt.datetime.now(dt.UTC)
            append(db, number, keys=[f"HS-{number}"], verification=verification, at=at)
            db.commit()
    Stamper(sessions, tsa_url=test_pki.tsa_url, batch_max=3).stamp_all()


def _archiver(
    sessions: sessionmaker[Session],
    folder: Path,
    signer: FileSigner,
    test_pki: TestPki,
    kind: type[Archiver] = Archiver,
    **more: Any,
) -> Archiver:
    return kind(
        sessions,
        folder,
        signer=signer,
        tsa_url=test_pki.tsa_url,
        retention=dt.timedelta(days=30),
        segment_entries=5,
        delete_page=2,
        **more,
    )


class PushingArchiver(Archiver):
    """Each delete transaction races a push made by another thread (as the hub's workers do)."""

    pushed = 0

    def _delete_page(self, low: int, high: int) -> int:
        def push() -> None:
            with self.sessions() as db:
                append(db, 100 + self.pushed)
                db.commit()

        pusher = threading.Thread(target=push)
        pusher.start()
        deleted = super()._delete_page(low, high)
        pusher.join()
        self.pushed += 1
        return deleted


def test_archive_moves_old_batches_while_pushes_go_on_and_the_audit_walks_across(
    sessions: sessionmaker[Session],
    test_pki: TestPki,
    pki_services: str,
    signer: FileSigner,
    tmp_path: Path,
) -> None:
    _old_log(sessions, test_pki, 10, 2)  # batches 1-3, 4-6, 7-9, 10-12: the last is not due
    folder = tmp_path / "archives"
    folder.mkdir()
    archiver = _archiver(sessions, folder, signer, test_pki, PushingArchiver)
    assert isinstance(archiver, PushingArchiver)
    run = archiver.run()
    # whole batches, at most 5 entries a segment: 1-3, 4-6, 7-9 (10 shares its batch with 11-12)
    assert [(s.first_seq, s.last_seq) for s in run.segments] == [(1, 3), (4, 6), (7, 9)]
    assert run.deleted == 9 and archiver.pushed == 6  # every push during the deletes went in
    names = [path.name for path in segment_files(folder, "hub")]
    assert names == [s.name for s in run.segments]
    assert run.segments[0].previous_sha256 is None
    assert run.segments[1].previous_sha256 == run.segments[0].sha256

    anchors = [test_pki.root.certificate]
    with sessions() as db:
        left = db.scalars(select(EvidenceEntry.seq).order_by(EvidenceEntry.seq)).all()
        assert left[:3] == [10, 11, 12] and len(left) == 9  # 10-12 and the six pushes
        assert db.scalar(select(func.min(EvidenceKey.seq))) == 10
        assert db.scalar(select(func.min(EvidenceBatch.first_seq))) == 10
        assert all(row.deleted_at for row in db.scalars(select(EvidenceArchive)))
        archives = audit_archives(db, folder, "hub", anchors)
        chain = audit_chain(db, "hub", anchors)
        status = archive_status(db, "hub")
    assert archives.clean, archives.as_dict()
    assert archives.entries == 9 and all(s.timestamp for s in archives.segments)
    assert chain.clean and chain.archived == 9 and chain.entries == 9, chain.as_dict()
    assert status.archived_last_seq == 9 and status.last_segment == names[-1]
    now = dt.datetime.now(dt.UTC)
    assert status.lag(now, dt.timedelta(days=30)) > 9 * 86400  # entry 10 is 40 days old
    assert status.lag(now, dt.timedelta(days=60)) == 0
    registry = metrics_registry(sessions, [], None, dt.timedelta(days=30))
    assert registry.get_sample_value("lienthong_evidence_archived_entries") == 9
    assert registry.get_sample_value("lienthong_evidence_archive_lag_seconds") > 9 * 86400
    assert 0 <= registry.get_sample_value("lienthong_evidence_last_segment_age_seconds") < 3600

    # a segment holds every column, the body in plaintext, and says what it is
    with zipfile.ZipFile(folder / names[0]) as segment:
        rows = [json.loads(line) for line in segment.read("entries.jsonl").splitlines()]
        info = json.loads(segment.read("segment.json"))
        members = set(segment.namelist())
    assert [row["seq"] for row in rows] == [1, 2, 3] and rows[0]["body"]
    assert info["prev_digest"] == "0" * 64 and info["last_digest"] == rows[-1]["digest"]
    assert {"manifest.json", "manifest.json.p7s", "manifest.json.tsr", "keys.jsonl"} <= members
    assert any(name.startswith("certificates/") for name in members)
    assert is_segment(folder / names[0]) and not is_segment(folder / ".evidence-hub.lock")

    # nothing more is due; the rest goes once older than a retention of 0 days
    assert _archiver(sessions, folder, signer, test_pki).run().segments == []
    run = _archiver(sessions, folder, signer, test_pki, now=now + dt.timedelta(days=31)).run()
    with sessions() as db:
        assert audit_archives(db, folder, "hub", anchors).clean
        assert audit_chain(db, "hub", anchors).clean


def _segments(
    sessions: sessionmaker[Session], test_pki: TestPki, signer: FileSigner, folder: Path
) -> list[Path]:
    _old_log(sessions, test_pki, 9, 0)
    folder.mkdir()
    _archiver(sessions, folder, signer, test_pki).run()
    return segment_files(folder, "hub")


@pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
def test_a_changed_deleted_or_reordered_segment_is_named(
    sessions: sessionmaker[Session],
    test_pki: TestPki,
    pki_services: str,
    signer: FileSigner,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "archives"
    first, second, third = _segments(sessions, test_pki, signer, folder)
    kept = tmp_path / "kept"
    shutil.copytree(folder, kept)
    anchors = [test_pki.root.certificate]

    def first_broken() -> tuple[str, str]:
        with sessions() as db:
            found = audit_archives(db, folder, "hub", anchors)
        assert found.first is not None
        return found.first.code, found.first.en

    def restore() -> None:
        shutil.rmtree(folder)
        shutil.copytree(kept, folder)

    data = bytearray(second.read_bytes())
    data[len(data) // 3] ^= 0x01  # inside a member's stored bytes
    second.write_bytes(bytes(data))
    code, where = first_broken()
    assert second.name in where and code == "segment.manifest"
    with sessions() as db:
        codes = [(f.code, f.en.split(":")[0]) for f in audit_archives(db, folder, "hub").findings]
    # the file differs from its row, and the next segment's link to it breaks
    assert ("segment.table", second.name) in codes and ("segment.link", third.name) in codes
    report = verify_segment(second, anchors)
    assert not report.clean and {f.code for f in report.audit.findings} & {
        "segment.manifest",
        "segment.unreadable",
    }
    restore()

    second.unlink()
    code, where = first_broken()
    assert (code, second.name in where) == ("segment.missing", True)
    restore()

    second.rename(tmp_path / "swap")
    third.rename(second)
    (tmp_path / "swap").rename(third)
    code, where = first_broken()
    assert second.name in where and code in ("segment.table", "segment.order")
    restore()

    # a semantic change, re-zipped: the manifest (signed) no longer matches
    with zipfile.ZipFile(first) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["entries.jsonl"] = members["entries.jsonl"].replace(b'"log_id":2', b'"log_id":7')
    with zipfile.ZipFile(first, "w") as target:
        for name, value in members.items():
            target.writestr(name, value)
    report = verify_segment(first, anchors)
    assert [f.code for f in report.audit.findings][:2] == ["segment.manifest", "entry.digest"]
    assert report.audit.findings[1].seq == 2
    restore()
    with sessions() as db:
        assert audit_archives(db, folder, "hub", anchors).clean


class Crash(Exception):
    pass


class CrashingDeletes(Archiver):
    def _delete_page(self, low: int, high: int) -> int:
        if low > 1:
            raise Crash("killed between two delete transactions")
        return super()._delete_page(low, high)


class CrashingRecord(Archiver):
    def _record(self, segment: object) -> None:
        raise Crash("killed after the file, before its row")


def test_a_run_cut_short_is_finished_and_an_encrypted_segment_needs_its_key(
    sessions: sessionmaker[Session],
    test_pki: TestPki,
    pki_services: str,
    signer: FileSigner,
    tmp_path: Path,
) -> None:
    _old_log(sessions, test_pki, 9, 0)
    folder = tmp_path / "archives"
    folder.mkdir()
    key_path = tmp_path / "archive.key"
    key = KeyFile.generate(key_path)
    anchors = [test_pki.root.certificate]
    settings = {"signer": signer, "tsa_url": test_pki.tsa_url, "segment_entries": 3}
    settings["delete_page"] = 2

    # killed after the file and before its row: the file is set aside, the entries stay
    with pytest.raises(Crash):
        CrashingRecord(sessions, folder, retention=dt.timedelta(0), **settings).run()
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == [
        "evidence-hub-000000000001-000000000003.zip"
    ]
    # killed between delete transactions: the file and its row are there, some entries gone
    with pytest.raises(Crash):
        CrashingDeletes(sessions, folder, retention=dt.timedelta(0), wrapper=key, **settings).run()
    with sessions() as db:
        assert db.scalar(select(func.min(EvidenceEntry.seq))) == 3
        assert audit_chain(db, "hub", anchors).clean  # entries archived but not yet deleted
        row = db.scalars(select(EvidenceArchive)).one()
        assert row.deleted_at is None
    # one run at a time per folder and side
    holder = Archiver(sessions, folder, retention=dt.timedelta(0), **settings)
    with holder._locked(), pytest.raises(ArchiveError) as busy:
        Archiver(sessions, folder, retention=dt.timedelta(0), **settings).run()
    assert busy.value.code == "archive.busy" and busy.value.retryable
    # the recorded file gone (another folder given): none of its entries is deleted
    moved = tmp_path / "moved.zip"
    (folder / row.name).rename(moved)
    with pytest.raises(ArchiveError) as refused:
        Archiver(sessions, folder, retention=dt.timedelta(0), wrapper=key, **settings).run()
    assert refused.value.code == "archive.file_missing" and row.name in refused.value.vi
    moved.rename(folder / row.name)
    with sessions() as db:
        assert db.scalar(select(func.min(EvidenceEntry.seq))) == 3

    run = Archiver(sessions, folder, retention=dt.timedelta(0), wrapper=key, **settings).run()
    assert run.resumed == [row.name] and run.set_aside == []
    assert [(s.first_seq, s.last_seq) for s in run.segments] == [(4, 6), (7, 9)]
    assert (folder / (row.name + ".unrecorded")).exists()  # the first attempt, set aside

    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(EvidenceEntry)) == 0
        assert audit_chain(db, "hub", anchors).clean
        assert audit_archives(db, folder, "hub", anchors, wrapper=key).clean
        keyless = audit_archives(db, folder, "hub", anchors)
    assert keyless.first is not None and keyless.first.code == "segment.encrypted"
    other = KeyFile.generate(tmp_path / "other.key")
    segment = folder / row.name
    assert is_segment(segment)
    assert [f.code for f in verify_segment(segment, anchors, wrapper=other).audit.findings] == [
        "segment.key"
    ]
    assert verify_segment(segment, anchors, wrapper=key).clean
