"""The TLS side of the commands: `lienthong hub` with its certificate settings (checked before
anything starts, then served over HTTPS), and `lienthong accounts bind-cert` / `unbind-cert`."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from lienthong.cli.main import app
from lienthong.store.accounts import certificate_fingerprint
from tests.servers import Server
from tests.tls_material import TLSMaterial, client_context, tls

__all__ = ["tls"]  # the fixture, imported for pytest

HANOI = "000.00.00.H26"


def hub(database: Path, **env: str) -> Result:
    return CliRunner().invoke(
        app,
        ["hub"],
        env={"COLUMNS": "250", "LIENTHONG_DATABASE_URL": f"sqlite:///{database}", **env},
    )


@pytest.mark.parametrize(
    ("setting", "expected_vi", "expected_en"),
    [
        (
            "missing",
            "LIENTHONG_TLS_CERTFILE: không đọc được tệp",
            "LIENTHONG_TLS_CERTFILE: cannot read the file",
        ),
        ("mismatch", "không khớp chứng thư", "does not match the certificate"),
        ("half", "thiếu LIENTHONG_TLS_KEYFILE", "LIENTHONG_TLS_KEYFILE is not"),
        ("ca alone", "LIENTHONG_TLS_CLIENT_CA cần", "LIENTHONG_TLS_CLIENT_CA needs"),
    ],
)
def test_tls_settings_stop_the_hub_before_it_starts(
    tmp_path: Path, tls: TLSMaterial, setting: str, expected_vi: str, expected_en: str
) -> None:
    database = tmp_path / "hub.db"
    env = {
        "missing": {
            "LIENTHONG_TLS_CERTFILE": str(tmp_path / "no-such.pem"),
            "LIENTHONG_TLS_KEYFILE": str(tls.server_key),
        },
        "mismatch": {
            "LIENTHONG_TLS_CERTFILE": str(tls.server),
            "LIENTHONG_TLS_KEYFILE": str(tls.client_a_key),
        },
        "half": {"LIENTHONG_TLS_CERTFILE": str(tls.server)},
        "ca alone": {"LIENTHONG_TLS_CLIENT_CA": str(tls.ca)},
    }[setting]
    result = hub(database, **env)
    assert result.exit_code == 2, result.output
    assert "Lỗi:" in result.output and expected_vi in result.output
    assert expected_en in result.output
    assert "Error:" in result.output
    assert "lienthong hub" not in result.output  # no banner
    assert "Traceback" not in result.output
    assert not database.exists()  # neither the database nor the server was started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_hub_command_serves_https_with_client_certificates(
    tmp_path: Path, tls: TLSMaterial
) -> None:
    port = free_port()
    database = tmp_path / "hub.db"
    password = tmp_path / "password"
    password.write_text("mat-khau-thu-nghiem\n", "utf-8")
    url = f"sqlite:///{database}"
    added = CliRunner().invoke(app, ["accounts", "add", "motcua", "-u", HANOI, "--password-file",
                                     str(password), "--database", url])  # fmt: skip
    assert added.exit_code == 0, added.output
    bound = CliRunner().invoke(
        app, ["accounts", "bind-cert", "motcua", str(tls.client_a), "--database", url]
    )
    assert bound.exit_code == 0, bound.output
    env = {
        "LIENTHONG_TLS_CERTFILE": str(tls.server),
        "LIENTHONG_TLS_KEYFILE": str(tls.server_key),
        "LIENTHONG_TLS_CLIENT_CA": str(tls.ca),
        "LIENTHONG_WORKERS": "2",  # each worker unpickles the TLS options
    }
    args = ["hub", "--port", str(port), "--database", url]
    server = Server("hub", args, env, port, tmp_path / "hub.log", verify=client_context(tls))
    server.start()
    try:
        login = {"username": "motcua", "password": "mat-khau-thu-nghiem"}
        with_a = client_context(tls, tls.client_a, tls.client_a_key)
        granted = httpx.post(f"{server.url}/api/login", json=login, verify=with_a).json()
        refused = httpx.post(f"{server.url}/api/login", json=login, verify=server.verify).json()
    finally:
        server.kill()
    assert f"on https://127.0.0.1:{port}" in server.log.read_text("utf-8")
    assert granted["error_code"] == "0", granted
    assert refused["error_code"] == "25", refused


def test_bind_list_and_unbind_certificates(tmp_path: Path, tls: TLSMaterial) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    password = tmp_path / "password"
    password.write_text("mat-khau-thu-nghiem\n", "utf-8")

    def run(*args: str) -> Result:
        return CliRunner().invoke(
            app, ["accounts", *args, "--database", url], env={"COLUMNS": "250"}
        )

    assert run("add", "motcua", "-u", HANOI, "--password-file", str(password)).exit_code == 0
    first, second = (certificate_fingerprint(p.read_bytes()) for p in (tls.client_a, tls.client_b))
    bound = run("bind-cert", "motcua", str(tls.client_a))
    assert bound.exit_code == 0, bound.output
    assert first in bound.output
    assert run("bind-cert", "motcua", str(tls.client_b)).exit_code == 0
    listed = json.loads(run("list", "--json").stdout)
    assert listed[0]["client_certificates"] == [first, second]
    table = run("list").stdout
    assert first in table and "Client certificates" in table
    not_a_certificate = run("bind-cert", "motcua", str(tls.client_a_key))
    assert not_a_certificate.exit_code == 2
    assert "không phải chứng thư số X.509" in not_a_certificate.output
    assert "not an X.509 certificate" in not_a_certificate.output
    gone = run("unbind-cert", "motcua", first.upper())
    assert gone.exit_code == 0, gone.output
    assert json.loads(run("list", "--json").stdout)[0]["client_certificates"] == [second]
    again = run("unbind-cert", "motcua", first)
    assert again.exit_code == 2 and "has no bound certificate" in again.output
    malformed = run("unbind-cert", "motcua", "abc")
    assert malformed.exit_code == 2 and "not a SHA-256 fingerprint" in malformed.output


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (None, "tls_certfile is set but tls_keyfile is not"),
        ("client_a_key", "tls_keyfile: the key"),
    ],
)
def test_tls_settings_stop_the_agent_before_it_listens(
    tmp_path: Path, tls: TLSMaterial, key: str | None, expected: str
) -> None:
    database = tmp_path / "agent.db"
    env = {
        "COLUMNS": "250",
        "LIENTHONG_AGENT_DATABASE_URL": f"sqlite:///{database}",
        "LIENTHONG_AGENT_PORTAL_USERNAME": "u",
        "LIENTHONG_AGENT_TLS_CERTFILE": str(tls.server),
    }
    if key is not None:
        env["LIENTHONG_AGENT_TLS_KEYFILE"] = str(getattr(tls, key))
    result = CliRunner().invoke(app, ["agent", "run"], env=env)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Lỗi:" in result.output
    assert "lienthong agent" not in result.output  # no banner
    assert not database.exists()
