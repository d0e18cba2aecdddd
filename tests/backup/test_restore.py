"""The restore drill, on SQLite and PostgreSQL: a hub database with data is backed up (signed
with the test PKI's hub key, time-stamped by its TSA), verified offline, checked by openssl,
and restored, as after its loss, into a database whose every table holds the same rows; a
second restore into it is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from lienthong.backup import BackupError, KeyFile, create_backup, restore_backup, verify_backup
from lienthong.evidence.audit import audit_chain
from lienthong.evidence.stamper import Stamper
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.security.verify import Status
from lienthong.store.db import current_revision, head_revision, session_factory
from lienthong.store.tables import EvidenceHead
from tests.backup.conftest import every_row, fill, lost_database, restored_engine
from tests.evidence.samples import append, build_log, sample_verification
from tests.security.interop import openssl_cms


def test_the_restore_drill(
    engine: Engine,
    key_file: Path,
    signer: FileSigner,
    test_pki: TestPki,
    pki_services: str,
    openssl: str,
    tmp_path: Path,
) -> None:
    if engine.dialect.name == "postgresql" and shutil.which("pg_dump") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pg_dump is needed on CI (make system-packages: postgresql-client)")
        pytest.skip("pg_dump is not installed (make system-packages: postgresql-client)")
    fill(engine)
    # the evidence chain rides in the database: a few entries, time-stamped in a batch, and one
    # not yet covered (a crash before its stamp), all to be proven again after the restore
    build_log(session_factory(engine), 5, verification=sample_verification([b"leaf", b"ca"]))
    stamper = Stamper(session_factory(engine), tsa_url=test_pki.tsa_url)
    assert stamper.stamp_all() == 1  # one batch: one TSA call
    with session_factory(engine)() as db:
        append(db, 6)
        db.commit()
    (tmp_path / "archives" / "2026").mkdir(parents=True)
    (tmp_path / "archives" / "2026" / "segment-1.zip").write_bytes(b"segment one\n" * 1000)
    anchors = [test_pki.root.certificate]
    key = KeyFile.read(key_file)
    target = tmp_path / "hub.backup"
    created = create_backup(
        target,
        engine,
        key,
        signer,
        test_pki.tsa_url,
        anchors=anchors,
        archives=tmp_path / "archives",
        chunk_size=64 * 1024,  # several chunks per part
    )
    assert created.stapled, "the signer's OCSP answer travels in the signature"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    manifest = created.manifest
    kind = engine.dialect.name
    assert manifest["database"]["kind"] == kind
    assert manifest["database"]["revision"] == head_revision()
    assert manifest["database"]["tables"]["dossiers"] == 40
    assert manifest["key"]["id"] == key.key_id() and manifest["key"]["method"] == "key-file"
    assert key_file.read_text().strip() not in target.read_bytes().decode("latin-1")
    assert [part["name"] for part in manifest["parts"]] == [
        "database.sqlite" if kind == "sqlite" else "database.pgdump",
        "archives/2026/segment-1.zip",
    ]

    # verified offline with the key: signature valid (revocation from the stapled answer),
    # stamped, every chunk decrypted
    report = verify_backup(target, anchors, key)
    assert report.ok and report.signature.status is Status.VALID, (
        report.as_dict()["signature"],
        report.as_dict()["timestamp"],
    )
    assert report.signature.signer and "hub" in report.signature.signer.lower()
    assert report.timestamp is not None and report.timestamp.time == created.stamp.time
    assert all(part.decrypted for part in report.parts)

    # the independent verifier agrees on the signature and the time-stamp
    with zipfile.ZipFile(target) as archive:
        signed = archive.read("manifest.json")
        signature = archive.read("manifest.json.p7s")
        (tmp_path / "manifest.json").write_bytes(signed)
        (tmp_path / "manifest.json.tsr").write_bytes(archive.read("manifest.json.tsr"))
    cms = openssl_cms(signature, signed, test_pki.root.certificate_path, tmp_path / "cms")
    assert cms.returncode == 0, cms.stderr
    untrusted = tmp_path / "tsa-chain.pem"
    untrusted.write_bytes(
        test_pki.tsa.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    )
    stamp = subprocess.run(
        [
            openssl, "ts", "-verify", "-in", str(tmp_path / "manifest.json.tsr"),
            "-data", str(tmp_path / "manifest.json"),
            "-CAfile", str(test_pki.root.certificate_path), "-untrusted", str(untrusted),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert stamp.returncode == 0 and "Verification: OK" in stamp.stdout, stamp.stderr

    # the database is lost: restored from the backup alone
    expected = every_row(engine)
    with session_factory(engine)() as db:
        expected_head = db.scalars(select(EvidenceHead.digest)).one()
    url = lost_database(engine, tmp_path)
    restored = restore_backup(target, url, anchors, key, archives_to=tmp_path / "archives-restored")
    assert restored.tables == manifest["database"]["tables"]
    assert (tmp_path / "archives-restored" / "2026" / "segment-1.zip").read_bytes() == (
        tmp_path / "archives" / "2026" / "segment-1.zip"
    ).read_bytes()
    copy = restored_engine(url, restored.schema)
    try:
        assert current_revision(copy) == head_revision()
        assert every_row(copy) == expected
        # the restored chain audits clean (its time-stamps against the anchors) and goes on:
        # the next entry links to the last one backed up and is stamped with the uncovered one
        restored_sessions = session_factory(copy)
        with restored_sessions() as db:
            audit = audit_chain(db, "hub", anchors)
            assert audit.clean and audit.entries == 6 and audit.batches == 1, audit.as_dict()
            last = append(db, 7)
            db.commit()
            assert last.seq == 7 and last.prev_digest == expected_head
        assert Stamper(restored_sessions, tsa_url=test_pki.tsa_url).stamp_all() == 1
        with restored_sessions() as db:
            again_audit = audit_chain(db, "hub", anchors)
            assert again_audit.clean and again_audit.entries == 7 and again_audit.batches == 2
    finally:
        copy.dispose()

    # a database that is not empty is never restored into
    with pytest.raises(BackupError) as again:
        restore_backup(target, url, anchors, key)
    assert again.value.code == "backup.target_not_empty"
    assert "không rỗng" in again.value.vi and "not empty" in again.value.en
