"""`lienthong evidence audit` and `status` on a small SQLite log: clean, then broken (exit 1,
the entry named in both languages), and the status of each side."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.evidence.stamper import Stamper
from lienthong.security.pki import TestPki
from lienthong.store.db import make_engine, session_factory, upgrade
from lienthong.store.tables import EvidenceEntry
from tests.evidence.samples import build_log


def test_audit_and_status(tmp_path: Path, test_pki: TestPki, pki_services: str) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    build_log(sessions, 4)
    assert Stamper(sessions, tsa_url=test_pki.tsa_url, batch_max=3).stamp_once() is not None
    runner = CliRunner()
    env = {"LIENTHONG_TSA_URL": test_pki.tsa_url, "LIENTHONG_TRUST_ANCHORS": ""}
    anchors = str(test_pki.root.certificate_path)

    done = runner.invoke(app, ["evidence", "audit", "-d", url, "--anchors", anchors, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["clean"] and report["entries"] == 4 and report["timestamps_verified"]
    done = runner.invoke(app, ["evidence", "audit", "-d", url], env=env)
    assert done.exit_code == 0 and "Intact" in done.output and "imprints only" in done.output

    done = runner.invoke(app, ["evidence", "status", "-d", url, "--json"], env=env)
    assert done.exit_code == 0, done.output
    status = json.loads(done.output)
    hub = status["sides"][0]
    assert status["time_stamping"] and status["tsa_url"] == test_pki.tsa_url
    assert (hub["side"], hub["entries"], hub["unstamped"], hub["batches"]) == ("hub", 4, 1, 1)
    assert hub["oldest_unstamped_age_seconds"] is not None and not hub["fail_closed"]
    assert status["sides"][1]["entries"] == 0
    done = runner.invoke(app, ["evidence", "status", "-d", url], env={"LIENTHONG_TSA_URL": ""})
    assert done.exit_code == 0 and "Time-stamping is off" in done.output

    with sessions.begin() as db:
        db.execute(update(EvidenceEntry).where(EvidenceEntry.seq == 2).values(body=b"{}"))
    done = runner.invoke(app, ["evidence", "audit", "-d", url, "--anchors", anchors])
    assert done.exit_code == 1, done.output
    assert "mục 2" in done.output and "entry 2: the body does not match" in done.output
    missing = runner.invoke(app, ["evidence", "audit", "-d", url, "--anchors", "nowhere.pem"])
    assert missing.exit_code == 2
    engine.dispose()
