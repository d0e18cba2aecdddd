"""`lienthong pki init` and `lienthong pki serve`: the test PKI made and served by the command,
as an operator runs it (the server in its own process)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.security.certificates import unit_of
from lienthong.security.pki import load_test_pki
from tests.servers import Server, free_port


def lienthong(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lienthong.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250"},
    )


def readme_commands(port: int, folder: Path) -> list[list[str]]:
    """The README's test-PKI commands, on ``port`` instead of 9000, ``var/`` in ``folder``."""
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    block = readme.split("## Test PKI", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        words = [
            str(folder / word) if word.startswith("var/") else word.replace("9000", str(port))
            for word in shlex.split(line)
        ]
        assert words[:2] == ["lienthong", "pki"], line
        commands.append(words[1:])
    return commands


def test_the_readme_init_then_serve_answers_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    init, serve = readme_commands(port, tmp_path)
    directory = Path(init[2])
    made = lienthong(*init)
    assert made.returncode == 0, made.stderr
    assert "000.00.20.H60" in made.stdout and f"lienthong pki serve {directory}" in made.stdout
    pki = load_test_pki(directory)
    assert [unit_of(e.certificate) for e in pki.agencies.values()] == [
        "000.00.00.H56",
        "000.00.20.H60",
    ]
    (directory / "crl" / "intermediate.crl").unlink()  # made again when the server starts

    assert serve == ["pki", "serve", str(directory), "--port", str(port)]
    server = Server("pki", serve, {}, port, tmp_path / "pki.log")
    server.start()
    try:
        crl = x509.load_der_x509_crl(httpx.get(f"{server.url}/crl/intermediate.crl").content)
        assert crl.get_revoked_certificate_by_serial_number(pki.revoked.certificate.serial_number)
        assert (directory / "crl" / "intermediate.crl").read_bytes() == crl.public_bytes(
            serialization.Encoding.DER
        )
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(
                pki.agency("000.00.20.H60").certificate,
                pki.intermediate.certificate,
                hashes.SHA256(),
            )
            .build()
        )
        answer = httpx.post(
            f"{server.url}/ocsp",
            content=request.public_bytes(serialization.Encoding.DER),
            headers={"Content-Type": "application/ocsp-request"},
        )
        status = ocsp.load_der_ocsp_response(answer.content).certificate_status
        assert status is ocsp.OCSPCertStatus.GOOD
        # the port is taken now: a second server says so instead of a traceback
        again = lienthong("pki", "serve", str(directory), "--port", str(port))
        assert again.returncode == 2 and f"port {port} is in use" in again.stderr
    finally:
        server.kill()


def test_init_refuses_a_directory_that_holds_a_pki_and_a_bad_unit(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["pki", "init", str(tmp_path), "--unit", "000.00.00.H56"])
    assert made.exit_code == 0, made.output
    index = (tmp_path / "pki.json").read_bytes()
    again = runner.invoke(app, ["pki", "init", str(tmp_path)])
    assert again.exit_code == 2
    assert "already holds a test PKI" in again.output and "đã có một PKI" in again.output
    assert (tmp_path / "pki.json").read_bytes() == index
    bad = runner.invoke(app, ["pki", "init", str(tmp_path / "other"), "--unit", "H56;rm"])
    assert bad.exit_code == 2 and "invalid unit code 'H56;rm'" in bad.output
    assert "Traceback" not in bad.output + again.output


def test_serve_without_a_pki_says_how_to_make_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pki", "serve", str(tmp_path)])
    assert result.exit_code == 2
    assert "lienthong pki init" in result.output and "Lỗi" in result.output
