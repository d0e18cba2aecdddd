"""`lienthong evidence archive`, `audit --archives`, `verify SEGMENT` and `status` on a SQLite
log: a full disk refused in both languages with nothing deleted, then an encrypted archive
audited across segments and database, a segment checked by openssl, a broken one named."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

import lienthong
from lienthong.cli.main import app
from lienthong.evidence.stamper import Stamper
from lienthong.security.file_keys import KeyFile
from lienthong.security.pki import TestPki
from lienthong.store.db import make_engine, session_factory, upgrade
from lienthong.store.tables import EvidenceArchive, EvidenceEntry
from tests.evidence.samples import append, sample_verification
from tests.security.interop import openssl_cms, openssl_ts_verify

#: Runs the CLI with files limited to a few kilobytes: a disk that fills up mid-segment.
FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from lienthong.cli.main import run
sys.argv = ["lienthong", *sys.argv[1:]]
run()
"""


def test_archive_audit_verify_and_status(
    tmp_path: Path, test_pki: TestPki, pki_services: str, openssl: str
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    verification = sample_verification([test_pki.hub.der])
    for number in range(1, 7):
        with sessions() as db:
            append(db, number, verification=verification, keys=[f"HS-{number}"], at=old)
            db.commit()
    Stamper(sessions, tsa_url=test_pki.tsa_url, batch_max=3).stamp_all()
    folder = tmp_path / "archives"
    folder.mkdir()
    chained = tmp_path / "hub-chain.pem"
    chained.write_bytes(
        test_pki.hub.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    )
    key_file = tmp_path / "archive.key"
    KeyFile.generate(key_file)
    signing = ["--cert", str(chained), "--key", str(test_pki.hub.key_path)]
    archive = ["evidence", "archive", "-d", url, "--to", str(folder), *signing]
    env = {"LIENTHONG_TSA_URL": test_pki.tsa_url, "LIENTHONG_TRUST_ANCHORS": ""}
    root = str(test_pki.root.certificate_path)
    runner = CliRunner()

    # the disk fills up while the segment is written: a clear answer, nothing deleted
    source = Path(lienthong.__file__).parents[1]
    full = subprocess.run(
        [sys.executable, "-c", FULL_DISK, *archive[:-4], "--segment-entries", "3", *signing],
        env={**os.environ, **env, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert full.returncode == 75, full.stderr
    assert "đĩa đầy" in full.stderr and "the disk is full" in full.stderr
    assert "Traceback" not in full.stderr
    assert [path.name for path in folder.iterdir()] == [".evidence-hub.lock"]
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(EvidenceEntry)) == 6
        assert db.scalar(select(func.count()).select_from(EvidenceArchive)) == 0

    no_tsa = runner.invoke(app, archive, env={"LIENTHONG_TSA_URL": ""})
    assert no_tsa.exit_code == 2 and "time-stamp authority is needed" in no_tsa.output
    done = runner.invoke(
        app,
        [*archive, "--segment-entries", "3", "--encrypt-key-file", str(key_file), "--json"],
        env=env,
    )
    assert done.exit_code == 0, done.output
    run = json.loads(done.output)
    assert [s["last_seq"] for s in run["segments"]] == [3, 6] and run["deleted"] == 6
    first = folder / run["segments"][0]["name"]

    with sessions() as db:  # pushes go on after the archive (this one as if 40 days ago)
        append(db, 7, at=old)
        db.commit()
    audit = ["evidence", "audit", "-d", url, "--anchors", root, "--archives", str(folder)]
    done = runner.invoke(app, [*audit, "--encrypt-key-file", str(key_file)], env=env)
    assert done.exit_code == 0, done.output
    assert "2 đoạn / segments, 6 mục / entries" in done.output and "Intact" in done.output
    keyless = runner.invoke(app, audit, env=env)
    assert keyless.exit_code == 1 and "the segment is encrypted" in keyless.output
    keyless = runner.invoke(app, [*audit, "--json"], env=env)
    result = json.loads(keyless.output)
    assert not result["clean"] and result["first"]["code"] == "segment.encrypted"
    assert result["archived"] == 6 and result["archives"]["segments"][0]["encrypted"]

    checked = runner.invoke(
        app,
        ["evidence", "verify", str(first), "--anchor", root, "--encrypt-key-file", str(key_file)],
    )
    assert checked.exit_code == 0 and "Intact" in checked.output, checked.output
    # neither a segment nor a container: read as a container, refused by its code
    not_one = runner.invoke(app, ["evidence", "verify", str(chained), "--anchor", root])
    assert not_one.exit_code == 2 and "[container." in not_one.output, not_one.output

    done = runner.invoke(app, ["evidence", "status", "-d", url, "--json"], env=env)
    hub = json.loads(done.output)["sides"][0]
    assert hub["archived_last_seq"] == 6 and hub["last_segment"] == run["segments"][1]["name"]
    assert (hub["entries"], hub["unstamped"], hub["batches"]) == (7, 1, 0)
    assert hub["archive_lag_seconds"] > 9 * 86400  # entry 7 is 10 days past the retention

    # a plain segment: openssl checks its manifest's signature and time-stamp on its own
    plain_folder = tmp_path / "plain"
    plain_folder.mkdir()
    Stamper(sessions, tsa_url=test_pki.tsa_url).stamp_all()
    done = runner.invoke(
        app, ["evidence", "archive", "-d", url, "--to", str(plain_folder), *signing], env=env
    )
    assert done.exit_code == 0, done.output
    (segment,) = plain_folder.glob("evidence-hub-*.zip")
    with zipfile.ZipFile(segment) as opened:
        manifest = opened.read("manifest.json")
        signature = opened.read("manifest.json.p7s")
        response = opened.read("manifest.json.tsr")
    cms = openssl_cms(signature, manifest, test_pki.root.certificate_path, tmp_path / "cms")
    assert cms.returncode == 0, cms.stderr
    tsa_chain = test_pki.tsa.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    stamp = openssl_ts_verify(
        response, manifest, test_pki.root.certificate_path, tsa_chain, tmp_path / "ts"
    )
    assert stamp.returncode == 0 and "Verification: OK" in stamp.stdout, stamp.stderr

    # one byte of the segment changed: verify names the file and exits 1
    data = bytearray(segment.read_bytes())
    data[len(data) // 4] ^= 0x01
    segment.write_bytes(bytes(data))
    broken = runner.invoke(app, ["evidence", "verify", str(segment), "--anchor", root])
    assert broken.exit_code == 1 and segment.name in broken.output, broken.output
    assert "Hỏng / Broken" in broken.output
    engine.dispose()
