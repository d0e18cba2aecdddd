"""`lienthong evidence export|verify`: a dossier's container written from a database, signed
with the sign options or the hub's receipt key, and checked offline: exit 0 valid, 1 not valid
(each failure named), 2 for a file that is no container."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner, Result

from lienthong.cli.main import app
from lienthong.security.services import create_app
from lienthong.store import session_factory, upgrade
from lienthong.store.db import make_engine
from tests.evidence.proofs import DOSSIER, OTHER_DOSSIER, Evidence, evidence, stamped_log
from tests.servers import serve_in_thread

__all__ = ["evidence"]


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


def _hub_database(evidence: Evidence, tmp_path: Path) -> tuple[str, Path]:
    """A hub database holding the evidence's stamped log, and the hub's certificate with its
    chain (PEM) beside its key."""
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(database)
    upgrade(engine)
    with session_factory(engine)() as db:
        stamped_log(db, evidence)
    engine.dispose()
    hub = evidence.pki.hub
    cert = tmp_path / "hub.pem"
    cert.write_bytes(
        hub.certificate_path.read_bytes()
        + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in evidence.pki.chain_of(hub))
    )
    shutil.copy(hub.key_path, tmp_path / "hub.key")
    shutil.copy(evidence.root_pem, tmp_path / "root.pem")
    return database, cert


def test_export_then_verify_offline(evidence: Evidence, tmp_path: Path) -> None:
    database, cert = _hub_database(evidence, tmp_path)
    hub = evidence.pki.hub
    target = tmp_path / "dossier.asice"
    done = cli(
        "evidence", "export", "--dossier", DOSSIER, "--to", target, "--database", database,
        "--cert", cert, "--key", hub.key_path,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "signed by" in done.output and target.exists()

    checked = cli("evidence", "verify", target, "--anchor", evidence.root_pem)
    assert checked.exit_code == 0, checked.output
    assert "KẾT QUẢ KIỂM TRA GÓI CHỨNG CỨ" in checked.output and "Kết quả: HỢP LỆ" in checked.output
    assert "Result: VALID" in checked.output and "Sender's signature" in checked.output
    as_json = json.loads(
        cli("evidence", "verify", target, "--anchor", evidence.root_pem, "--json").output
    )
    assert as_json["ok"] is True and len(as_json["messages"]) == 3

    # the hub's receipt key signs when no key option is given
    receipt_key = {
        "LIENTHONG_RECEIPT_CERT_FILE": str(cert),
        "LIENTHONG_RECEIPT_KEY_FILE": str(hub.key_path),
    }
    other = tmp_path / "other.asice"
    args = ["evidence", "export", "--dossier", OTHER_DOSSIER, "--to", other, "-d", database]
    refused = cli(*args, env=receipt_key)
    assert refused.exit_code == 2 and "--allow-unstamped" in refused.output
    done = cli(*args, "--allow-unstamped", env=receipt_key)
    assert done.exit_code == 0 and "signed by" in done.output, done.output
    unproven = cli("evidence", "verify", other, "--anchor", evidence.root_pem)
    assert unproven.exit_code == 1 and "inclusion.unstamped" in unproven.output

    missing = cli("evidence", "export", "--dossier", "nothing", "--to", other, "-d", database)
    assert missing.exit_code == 1 and "no evidence entry" in missing.output
    # a changed message: exit 1, named; not a container: exit 2, named
    with zipfile.ZipFile(target) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["messages/1/message.json"] += b" "
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    target.write_bytes(buffer.getvalue())
    changed = cli("evidence", "verify", target, "--anchor", evidence.root_pem)
    assert changed.exit_code == 1 and "message.digest" in changed.output
    assert "KHÔNG HỢP LỆ" in changed.output and "NOT VALID" in changed.output
    target.write_bytes(b"garbage")
    broken = cli("evidence", "verify", target, "--anchor", evidence.root_pem)
    assert broken.exit_code == 2 and "container.not_zip" in broken.output
    assert cli("evidence", "verify", target).exit_code == 2


DOC = Path(__file__).parents[2] / "docs" / "evidence-container.md"


def test_the_example_of_docs_evidence_container_md_runs(
    evidence: Evidence, openssl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, _ = _hub_database(evidence, tmp_path)
    section = DOC.read_text("utf-8").split("## Checking by hand", 1)[1]
    console = re.search(r"```console\n(.*?)```", section, re.S)
    script = re.search(r"```python\n(.*?)```", section, re.S)
    assert console and script, "docs/evidence-container.md has a console and a python example"
    (tmp_path / "check_entry.py").write_text(script.group(1), "utf-8")
    monkeypatch.chdir(tmp_path)
    commands = [line[2:] for line in console.group(1).splitlines() if line.startswith("$ ")]
    assert len(commands) >= 8
    for command in commands:
        words = shlex.split(command)
        if words[0] == "lienthong":
            result = cli(*words[1:], env={"LIENTHONG_DATABASE_URL": database})
            assert result.exit_code == 0, f"{command}: {result.output}"
            continue
        words[0] = {"python3": sys.executable, "openssl": openssl}[words[0]]
        done = subprocess.run(words, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{command}: {done.stdout} {done.stderr}"
    assert "is in batch 1 - 3" in done.stdout


def test_export_staples_the_exporters_ocsp_answer_when_the_anchors_are_set(
    evidence: Evidence, tmp_path: Path
) -> None:
    database, cert = _hub_database(evidence, tmp_path)
    pki = evidence.pki
    receipt_key = {
        "LIENTHONG_RECEIPT_CERT_FILE": str(cert),
        "LIENTHONG_RECEIPT_KEY_FILE": str(pki.hub.key_path),
    }
    anchored = {**receipt_key, "LIENTHONG_TRUST_ANCHORS": str(evidence.root_pem)}
    revoked = tmp_path / "revoked.pem"
    revoked.write_bytes(
        pki.revoked.certificate_path.read_bytes()
        + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pki.chain_of(pki.revoked))
    )
    stapled, plain = tmp_path / "stapled.asice", tmp_path / "plain.asice"
    export = ["evidence", "export", "--dossier", DOSSIER, "-d", database, "--to"]
    port = urlsplit(pki.base_url).port
    assert port is not None
    with serve_in_thread(create_app(pki), port):  # the PKI's services, for the self-check
        done = cli(*export, stapled, env=anchored)
        assert done.exit_code == 0 and "OCSP stapled" in done.output, done.output
        refused = cli(
            *export, tmp_path / "no.asice", "--cert", revoked, "--key", pki.revoked.key_path,
            env=anchored,
        )  # fmt: skip
        assert refused.exit_code == 2 and "may not sign" in refused.output, refused.output
        assert "revoked" in refused.output and not (tmp_path / "no.asice").exists()
    done = cli(*export, plain, env=receipt_key)
    assert done.exit_code == 0 and "no LIENTHONG_TRUST_ANCHORS" in done.output, done.output
    # offline (the services stopped): the stapled container's signature is checked hard-fail
    for container, expected in ((stapled, "checked_offline"), (plain, "not_checked_offline")):
        checked = cli("evidence", "verify", container, "--anchor", evidence.root_pem, "--json")
        assert checked.exit_code == 0, checked.output
        assert json.loads(checked.output)["exporter_revocation"] == expected
