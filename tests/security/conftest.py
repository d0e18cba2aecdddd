"""The test PKI, made once per test session, and its services on a free loopback port.

``test_pki`` is created with the base URL ``pki_services`` serves, so the OCSP, CRL and
CA-issuer URLs in its certificates answer while the services run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lienthong.security.pki import TestPki, create_test_pki
from lienthong.security.services import create_app
from tests.servers import free_port, serve_in_thread

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@pytest.fixture(scope="session")
def pki_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory, pki_port: int) -> TestPki:
    """The demo units' test PKI, its URLs at ``http://127.0.0.1:<pki_port>``."""
    return create_test_pki(
        tmp_path_factory.mktemp("pki") / "pki", base_url=f"http://127.0.0.1:{pki_port}"
    )


@pytest.fixture(scope="session")
def pki_services(test_pki: TestPki, pki_port: int) -> Iterator[str]:
    """The OCSP responder, CRLs and TSA of ``test_pki``, serving; yields the base URL."""
    with serve_in_thread(create_app(test_pki), pki_port) as url:
        assert url == test_pki.base_url
        yield url


@pytest.fixture(scope="session")
def openssl() -> str:
    """The openssl tool, the independent verifier (installed by ``make system-packages``)."""
    if not Path(OPENSSL).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is needed on CI (make system-packages)")
        pytest.skip("openssl is not installed (make system-packages)")
    return OPENSSL
