"""`lienthong sign FILE`: sidecar signatures from PEM, PKCS#12 and a SoftHSM2 token, checked by
openssl and an independent JWS verifier; refusals exit 2 in both languages; the example of
docs/security.md runs as written."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lienthong.cli.main import app
from tests.security.interop import openssl_cms, verify_jws
from tests.security.openssl_chain import (
    P12_PASSWORD,
    TOKEN_LABEL,
    TOKEN_PIN,
    Chain,
    openssl_chain,
    softhsm_token,
)

__all__ = ["openssl_chain", "softhsm_token"]

DOCS = Path(__file__).parents[2] / "docs" / "security.md"
BODY = b'{"service":"DongBoHoSoMC","data":[{"MaHoSo":"000.00.00.H56-260302-0001"}]}\n'


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


@pytest.fixture
def dossier(tmp_path: Path) -> Path:
    path = tmp_path / "dossier.json"
    path.write_bytes(BODY)
    return path


def test_pem_gives_a_p7s_that_openssl_verifies(
    openssl_chain: Chain, dossier: Path, tmp_path: Path
) -> None:
    result = run(
        "sign", dossier, "--cert", openssl_chain.ec.certificate, "--key", openssl_chain.ec.key
    )
    assert result.exit_code == 0, result.output
    assert "dossier.json.p7s" in result.output and "ecdsa" in result.output
    assert dossier.read_bytes() == BODY, "the file is not touched"
    signature = (tmp_path / "dossier.json.p7s").read_bytes()
    done = openssl_cms(signature, BODY, openssl_chain.root, tmp_path / "v")
    assert done.returncode == 0, done.stderr


def test_pkcs12_with_the_password_from_the_environment_gives_a_jws(
    openssl_chain: Chain, dossier: Path, tmp_path: Path
) -> None:
    result = run(
        "sign", dossier, "--jws", "--pkcs12", openssl_chain.rsa_p12,
        "--scheme", "rsassa_pkcs1v15", "-o", tmp_path / "out.jws",
        env={"LIENTHONG_KEY_PASSWORD": P12_PASSWORD.decode()},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert verify_jws((tmp_path / "out.jws").read_text("ascii"), BODY)["alg"] == "RS256"


def test_a_token_signs_through_the_command(
    softhsm_token: str, openssl_chain: Chain, dossier: Path, tmp_path: Path
) -> None:
    result = run(
        "sign", dossier, "--pkcs11-module", softhsm_token, "--token", TOKEN_LABEL,
        "--key-label", "agency-rsa", "--chain", openssl_chain.intermediate,
        env={"LIENTHONG_TOKEN_PIN": TOKEN_PIN},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    signature = (tmp_path / "dossier.json.p7s").read_bytes()
    done = openssl_cms(signature, BODY, openssl_chain.root, tmp_path / "v")
    assert done.returncode == 0, done.stderr


def test_refusals_exit_2_in_both_languages(openssl_chain: Chain, dossier: Path) -> None:
    weak = run(
        "sign", dossier, "--cert", openssl_chain.rsa1024.certificate,
        "--key", openssl_chain.rsa1024.key,
    )  # fmt: skip
    assert weak.exit_code == 2 and "2048" in weak.output and "Lỗi" in weak.output
    ed25519 = run(
        "sign", dossier, "--cert", openssl_chain.ed25519.certificate,
        "--key", openssl_chain.ed25519.key,
    )  # fmt: skip
    assert ed25519.exit_code == 2 and "ed25519" in ed25519.output
    wrong = run("sign", dossier, "--pkcs12", openssl_chain.rsa_p12, "--password", "sai")
    assert wrong.exit_code == 2 and "PKCS#12" in wrong.output
    neither = run("sign", dossier)
    assert neither.exit_code == 2 and "exactly one key" in neither.output
    both = run(
        "sign", dossier, "--cert", openssl_chain.rsa.certificate, "--key", openssl_chain.rsa.key,
        "--pkcs12", openssl_chain.rsa_p12,
    )  # fmt: skip
    assert both.exit_code == 2
    unknown = run(
        "sign", dossier, "--cert", openssl_chain.rsa.certificate, "--key", openssl_chain.rsa.key,
        "--scheme", "rsa_md5",
    )  # fmt: skip
    assert unknown.exit_code == 2 and "rsa_md5" in unknown.output
    nowhere = run(
        "sign", dossier, "--cert", openssl_chain.ec.certificate, "--key", openssl_chain.ec.key,
        "-o", dossier.parent / "absent" / "x.p7s",
    )  # fmt: skip
    assert nowhere.exit_code == 2 and "cannot write" in nowhere.output
    no_pin = run("sign", dossier, "--token", TOKEN_LABEL, "--key-label", "agency-rsa")
    assert no_pin.exit_code == 2 and "PIN" in no_pin.output
    assert not (dossier.parent / "dossier.json.p7s").exists()


def test_the_example_of_docs_security_md_runs(openssl_chain: Chain, tmp_path: Path) -> None:
    # openssl_chain needs openssl: it skips without it, and fails on CI
    section = DOCS.read_text("utf-8").split("### Sidecar files", 1)[1]
    example = re.search(r"```console\n(.*?)```", section, re.S)
    assert example, "docs/security.md has a console example under 'Sidecar files'"
    (tmp_path / "dossier.json").write_bytes(BODY)
    shutil.copy(openssl_chain.rsa.certificate, tmp_path / "agency.pem")
    shutil.copy(openssl_chain.rsa.key, tmp_path / "agency.key")
    shutil.copy(openssl_chain.rsa_p12, tmp_path / "agency.p12")
    shutil.copy(openssl_chain.root, tmp_path / "root.pem")
    commands = [line[2:] for line in example.group(1).splitlines() if line.startswith("$ ")]
    assert len(commands) >= 3
    for command in commands:
        words = shlex.split(command)
        if words[0] == "lienthong":
            absolute = [str(tmp_path / w) if (tmp_path / w).exists() else w for w in words[1:]]
            result = run(*absolute)
            assert result.exit_code == 0, f"{command}: {result.output}"
        else:
            done = subprocess.run(words, cwd=tmp_path, capture_output=True, text=True, check=False)
            assert done.returncode == 0, f"{command}: {done.stderr}"
    assert verify_jws((tmp_path / "dossier.json.jws").read_text("ascii"), BODY)["alg"] == "RS256"
