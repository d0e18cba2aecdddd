"""lienthong.asgi_tls: the server's TLS context and the ASGI TLS extension, over real TLS."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from lienthong.asgi_tls import client_certificate, server_context, tls_problem, uvicorn_tls_options
from tests.servers import serve_in_thread
from tests.tls_material import TLSMaterial, client_context, tls

__all__ = ["tls"]  # the fixture, imported for pytest


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the request's TLS extension (None when absent) as JSON."""
    if scope["type"] != "http":
        return
    found = (scope.get("extensions") or {}).get("tls")
    body = orjson.dumps({"tls": found, "client_certificate": client_certificate(scope)})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(**options: Any) -> Iterator[int]:
    port = free_port()
    with serve_in_thread(echo, port, **options):
        yield port


def test_the_extension_carries_the_client_certificate(tls: TLSMaterial) -> None:
    options = uvicorn_tls_options(str(tls.server), str(tls.server_key), str(tls.ca))
    with serving(**options) as port:
        url = f"https://127.0.0.1:{port}/"
        with_a = httpx.get(url, verify=client_context(tls, tls.client_a, tls.client_a_key)).json()
        without = httpx.get(url, verify=client_context(tls)).json()
        # a certificate of another CA ends the connection: nothing reaches the application
        stranger = client_context(tls, tls.other_ca, tls.other_ca_key)
        with pytest.raises(httpx.TransportError):
            httpx.get(url, verify=stranger)
    extension = with_a["tls"]
    assert extension["client_cert_chain"] == [tls.client_a.read_text("ascii")]
    assert with_a["client_certificate"] == tls.client_a.read_text("ascii")
    assert "CN=mot cua A" in extension["client_cert_name"]
    assert extension["tls_version"] in (0x0303, 0x0304)
    assert isinstance(extension["cipher_suite"], int)
    assert extension["client_cert_error"] is None
    assert without["tls"]["client_cert_chain"] == []
    assert without["tls"]["client_cert_name"] is None
    assert without["client_certificate"] is None


def test_plain_http_has_no_extension(tls: TLSMaterial) -> None:
    options = uvicorn_tls_options(str(tls.server), str(tls.server_key))
    plain = {"http": options["http"]}  # the same protocol, without a certificate
    with serving(**plain) as port:
        answer = httpx.get(f"http://127.0.0.1:{port}/").json()
    assert answer == {"tls": None, "client_certificate": None}


def _s_client(port: int, version: str, tls: TLSMaterial) -> subprocess.CompletedProcess[str]:
    # SECLEVEL=0: the client itself would speak TLS 1.1, so a failure is the server's refusal
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", version,
         "-CAfile", str(tls.ca), "-cipher", "DEFAULT@SECLEVEL=0"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_tls_1_2_at_least(tls: TLSMaterial) -> None:
    options = uvicorn_tls_options(str(tls.server), str(tls.server_key), str(tls.ca))
    with serving(**options) as port:
        old = _s_client(port, "-tls1_1", tls)
        current = _s_client(port, "-tls1_2", tls)
        newest = _s_client(port, "-tls1_3", tls)
    assert old.returncode != 0
    assert "Cipher is (NONE)" in old.stdout
    assert current.returncode == 0, current.stderr
    assert "Protocol  : TLSv1.2" in current.stdout
    assert "Verify return code: 0 (ok)" in current.stdout
    assert newest.returncode == 0 and "TLSv1.3" in newest.stdout
    context = server_context(str(tls.server), str(tls.server_key))
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


def test_tls_problems_are_named(tls: TLSMaterial) -> None:
    assert tls_problem("", "") is None
    assert tls_problem(str(tls.server), str(tls.server_key), str(tls.ca)) is None
    missing = tls_problem(str(tls.server) + ".gone", str(tls.server_key))
    assert missing is not None
    assert "LIENTHONG_TLS_CERTFILE" in missing.en and "cannot read" in missing.en
    assert "không đọc được" in missing.vi
    mismatch = tls_problem(str(tls.server), str(tls.client_a_key))
    assert mismatch is not None and "does not match" in mismatch.en
    half = tls_problem(str(tls.server), "", names=("tls_certfile", "tls_keyfile", ""))
    assert half is not None and half.en == "tls_certfile is set but tls_keyfile is not"
    not_pem = tls_problem(str(tls.server), str(tls.server), str(tls.server_key))
    assert not_pem is not None and "PEM" in not_pem.en


def test_client_certificate_of_a_scope_without_one() -> None:
    assert client_certificate({"type": "http"}) is None
    assert client_certificate({"type": "http", "extensions": {"tls": {}}}) is None
    empty = {"type": "http", "extensions": {"tls": {"client_cert_chain": []}}}
    assert client_certificate(empty) is None
