"""`lienthong backup`: the procedure of docs/backups.md runs as written against the test PKI;
then the command line's answers to faults: exit 1 for a backup that does not hold (text and
JSON), 2 for a wrong key, a missing anchor or a target that is not empty, 75 for a TSA out of
reach (nothing written), each in both languages."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lienthong.cli.main import app
from lienthong.security.pki import TestPki
from lienthong.store import make_engine, upgrade
from tests.backup.conftest import fill
from tests.security.openssl_chain import TOKEN_LABEL, TOKEN_PIN, openssl_chain, softhsm_token
from tests.servers import free_port

__all__ = ["openssl_chain", "softhsm_token"]

DOCS = Path(__file__).parents[2] / "docs" / "backups.md"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_the_procedure_of_docs_backups_md_and_the_answers_to_faults(
    test_pki: TestPki, pki_services: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIENTHONG_TSA_URL", raising=False)
    (tmp_path / "var").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'lienthong.db'}")
    upgrade(engine)
    fill(engine, dossiers=10)
    engine.dispose()
    (tmp_path / "hub.pem").write_bytes(
        test_pki.hub.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    )
    shutil.copy(test_pki.hub.key_path, tmp_path / "hub.key")
    shutil.copy(test_pki.root.certificate_path, tmp_path / "root.pem")

    section = DOCS.read_text("utf-8").split("## The procedure", 1)[1]
    example = re.search(r"```console\n(.*?)```", section, re.S)
    assert example, "docs/backups.md has a console example under 'The procedure'"
    commands = [line[2:] for line in example.group(1).splitlines() if line.startswith("$ ")]
    assert [c.split()[:3] for c in commands if c.startswith("lienthong")] == [
        ["lienthong", "backup", "key"],
        ["lienthong", "backup", "create"],
        ["lienthong", "backup", "verify"],
        ["lienthong", "backup", "restore"],
    ]
    outputs = []
    for command in commands:
        words = shlex.split(command.replace("http://127.0.0.1:8180", test_pki.base_url))
        if words[0] == "lienthong":
            result = run(*words[1:])
            assert result.exit_code == 0, f"{command}: {result.output}"
            outputs.append(result.output)
        else:
            done = subprocess.run(words, capture_output=True, text=True, check=False)
            assert done.returncode == 0, f"{command}: {done.stderr}"
    assert "HỢP LỆ / VALID" in outputs[2] and "every part decrypted" in outputs[2]
    assert "khớp bản kê / matching the manifest" in outputs[3]
    assert (tmp_path / "drill" / "lienthong.db").stat().st_size > 0

    # --json, for scripts
    result = run("backup", "verify", "hub.backup", "--anchor", "root.pem", "--json")
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["ok"] and not report["key_checked"]
    assert report["signature"]["status"] == "valid" and report["timestamp"]["tsa"]
    assert report["database"]["tables"]["dossiers"] == 10

    # a changed byte in a part: exit 1, the part named
    damaged = tmp_path / "damaged.backup"
    data = bytearray((tmp_path / "hub.backup").read_bytes())
    with zipfile.ZipFile(tmp_path / "hub.backup") as archive:
        info = archive.getinfo("parts/database.sqlite")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 1000] ^= 1
    damaged.write_bytes(bytes(data))
    result = run("backup", "verify", damaged, "--anchor", "root.pem")
    assert result.exit_code == 1 and "HỎNG / DAMAGED" in result.output, result.output
    assert "KHÔNG HỢP LỆ / NOT VALID" in result.output

    # a wrong key, no anchor, a target that is not empty: exit 2, both languages
    assert run("backup", "key", "other.key").exit_code == 0
    wrong = run("backup", "verify", "hub.backup", "--anchor", "root.pem", "--key-file", "other.key")
    assert wrong.exit_code == 2 and "Lỗi:" in wrong.output and "wrong key" in wrong.output
    again = run("backup", "key", "other.key")
    assert again.exit_code == 2 and "never overwritten" in again.output
    unanchored = run("backup", "verify", "hub.backup")
    assert unanchored.exit_code == 2 and "trust anchor" in unanchored.output
    occupied = run(
        "backup", "restore", "hub.backup", "--database", "sqlite:///var/lienthong.db",
        "--anchor", "root.pem", "--key-file", "backup.key",
    )  # fmt: skip
    assert occupied.exit_code == 2 and "không rỗng" in occupied.output
    assert "not empty" in occupied.output

    # the TSA out of reach: exit 75 (try again), no file
    down = run(
        "backup", "create", "--to", "later.backup", "--database", "sqlite:///var/lienthong.db",
        "--key-file", "backup.key", "--cert", "hub.pem", "--key", "hub.key",
        "--tsa-url", f"http://127.0.0.1:{free_port()}/tsa", "--timeout", "2",
    )  # fmt: skip
    assert down.exit_code == 75 and "try again" in down.output, down.output
    assert not (tmp_path / "later.backup").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".later")]


def test_a_backup_key_on_a_token(
    softhsm_token: str,
    test_pki: TestPki,
    pki_services: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIENTHONG_BACKUP_PIN", raising=False)
    label = f"backup-cli-{free_port()}"
    token = ["--pkcs11-module", softhsm_token, "--wrap-token", TOKEN_LABEL]
    token += ["--wrap-key-label", label]
    no_pin = run("backup", "key", *token)
    assert no_pin.exit_code == 2 and "--wrap-pin" in no_pin.output
    made = run("backup", "key", *token, "--wrap-pin", TOKEN_PIN)
    assert made.exit_code == 0 and "check value" in made.output, made.output
    upgrade(engine := make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    engine.dispose()
    (tmp_path / "hub.pem").write_bytes(
        test_pki.hub.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    )
    created = run(
        "backup", "create", "--to", "hub.backup", "--database", f"sqlite:///{tmp_path / 'hub.db'}",
        *token, "--wrap-pin", TOKEN_PIN, "--cert", "hub.pem", "--key", test_pki.hub.key_path,
        "--tsa-url", test_pki.tsa_url,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    verified = run(
        "backup", "verify", "hub.backup", "--anchor", test_pki.root.certificate_path,
        *token, "--wrap-pin", TOKEN_PIN,
    )  # fmt: skip
    assert verified.exit_code == 0 and "pkcs11" in verified.output, verified.output
    assert "every part decrypted" in verified.output
