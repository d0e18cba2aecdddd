"""Evidence bodies sealed at rest (issue 13 item 7): with a master key the body column holds no
plaintext, while the audit, the export (a container holds the plaintext: it is evidence for a
third party) and the archive work with the key; a changed sealed byte is found and located;
without the key the commands say so, in both languages."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.evidence.audit import audit_chain
from lienthong.evidence.export import Selection, export_container
from lienthong.evidence.offline import verify_container
from lienthong.evidence.stamper import Stamper
from lienthong.evidence.store import plain_body
from lienthong.security.pki import TestPki
from lienthong.security.sealing import generate_master_key_file, is_sealed
from lienthong.store.db import make_engine, session_factory, upgrade
from lienthong.store.sealing import PLAIN, open_sealer, register_sealer
from lienthong.store.tables import EvidenceEntry
from tests.evidence.samples import append, build_log


def _sealed_log(sessions: sessionmaker[Session], tsa_url: str) -> None:
    """Three entries (the last carrying a dossier key), sealed by the engine's sealer, stamped."""
    build_log(sessions, 2)
    with sessions() as db:
        append(db, 3, keys=["000.00.15.H56-260301-0001"])
        db.commit()
    assert Stamper(sessions, tsa_url=tsa_url).stamp_all() == 1


def test_sealed_evidence_audits_exports_and_locates_a_changed_byte(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path, test_pki: TestPki,
    pki_services: str,
) -> None:  # fmt: skip
    master = generate_master_key_file(tmp_path / "master.key")
    sealer = open_sealer(sessions, master)
    register_sealer(engine, sealer)
    _sealed_log(sessions, test_pki.tsa_url)
    with sessions() as db:
        entries = db.scalars(select(EvidenceEntry).order_by(EvidenceEntry.seq)).all()
        assert all(is_sealed(entry.body) for entry in entries)
        assert all(b"DongBoHoSoMC" not in entry.body for entry in entries)
        assert b'"n":3' in plain_body(db, entries[2].body)
        anchors = [test_pki.root.certificate]
        assert audit_chain(db, "hub", anchors).clean
        # the container holds the plaintext, and proves itself offline
        data = export_container(db, Selection(dossier="000.00.15.H56-260301-0001"))
    report = verify_container(data, anchors)
    # the body, its entry, its path and the stamp hold; only the samples' placeholder receipts
    # (not a hub's) fail, as they should
    failures = [finding.code for finding in report.all_failures()]
    assert failures and all(code.startswith("receipt.") for code in failures), failures
    with zipfile.ZipFile(io.BytesIO(data)) as container:
        bodies = [name for name in container.namelist() if name.endswith("message.json")]
        assert len(bodies) == 1 and b'"n":3' in container.read(bodies[0])

    # one changed byte inside entry 2's sealed body: its tag fails, entry 2 is named
    with sessions() as db:
        body = bytearray(db.scalars(select(EvidenceEntry.body).where(EvidenceEntry.seq == 2)).one())
        body[-5] ^= 0x01
        db.execute(update(EvidenceEntry).where(EvidenceEntry.seq == 2).values(body=bytes(body)))
        db.commit()
    with sessions() as db:
        broken = audit_chain(db, "hub", anchors)
    assert broken.first is not None and broken.first.seq == 2
    assert broken.first.code == "entry.body"
    register_sealer(engine, PLAIN)


def test_the_evidence_commands_take_the_master_key(
    tmp_path: Path, test_pki: TestPki, pki_services: str
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    key = tmp_path / "master.key"
    master = generate_master_key_file(key)
    register_sealer(engine, open_sealer(sessions, master))
    try:
        _sealed_log(sessions, test_pki.tsa_url)
    finally:
        register_sealer(engine, PLAIN)
        engine.dispose()
    runner = CliRunner()
    env = {"LIENTHONG_MASTER_KEY_FILE": "", "LIENTHONG_TRUST_ANCHORS": ""}
    root_pem = str(test_pki.root.certificate_path)
    audit = ["evidence", "audit", "-d", url, "--anchors", root_pem]
    keyless = runner.invoke(app, audit, env=env)
    assert keyless.exit_code == 2, keyless.output
    assert "khóa chủ" in keyless.output and "master key" in keyless.output
    keyed = runner.invoke(app, [*audit, "--master-key-file", str(key)], env=env)
    assert keyed.exit_code == 0 and "Intact" in keyed.output, keyed.output

    container = tmp_path / "dossier.asice"
    export = ["evidence", "export", "-d", url, "--dossier", "000.00.15.H56-260301-0001"]
    exported = runner.invoke(
        app, [*export, "--to", str(container), "--master-key-file", str(key)], env=env
    )
    assert exported.exit_code == 0, exported.output
    checked = runner.invoke(
        app, ["evidence", "verify", str(container), "--anchor", str(test_pki.root.certificate_path)]
    )
    # included in the log and stamped; only the samples' placeholder receipt fails
    assert "CÓ (seq 3" in checked.output and "[receipt.request]" in checked.output
    assert "[message." not in checked.output and "[entry." not in checked.output

    # keys rotate to a new master: the audit is clean with it and refuses the old one
    new_key = tmp_path / "new-master.key"
    generate_master_key_file(new_key)
    rotate = ["keys", "rotate", "-d", url, "--master-key-file", str(key)]
    rotated = runner.invoke(app, [*rotate, "--new-master-key-file", str(new_key)], env=env)
    assert rotated.exit_code == 0, rotated.output
    keyed = runner.invoke(app, [*audit, "--master-key-file", str(new_key)], env=env)
    assert keyed.exit_code == 0 and "Intact" in keyed.output, keyed.output
    old = runner.invoke(app, [*audit, "--master-key-file", str(key)], env=env)
    assert old.exit_code == 2 and "master key" in old.output, old.output

    # the archive opens the bodies with the key: its segment (plaintext inside) verifies
    chained = tmp_path / "hub-chain.pem"
    chained.write_bytes(
        test_pki.hub.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    )
    folder = tmp_path / "archives"
    folder.mkdir()
    archive = ["evidence", "archive", "-d", url, "--to", str(folder), "--retention-days", "0"]
    archive += ["--cert", str(chained), "--key", str(test_pki.hub.key_path), "--json"]
    stamped_env = {**env, "LIENTHONG_TSA_URL": test_pki.tsa_url}
    keyless = runner.invoke(app, archive, env=stamped_env)
    assert keyless.exit_code == 2 and "khóa chủ" in keyless.output, keyless.output
    assert not [path for path in folder.iterdir() if not path.name.startswith(".")]
    done = runner.invoke(app, [*archive, "--master-key-file", str(new_key)], env=stamped_env)
    assert done.exit_code == 0, done.output
    [segment] = json.loads(done.output)["segments"]
    checked = runner.invoke(
        app,
        ["evidence", "verify", str(folder / segment["name"]), "--anchor", root_pem],
    )
    assert checked.exit_code == 0 and "Intact" in checked.output, checked.output
