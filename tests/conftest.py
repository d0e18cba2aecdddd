"""Shared fixtures: ``engine`` and ``sessions`` on SQLite and on PostgreSQL.

Every test that takes ``engine`` (or ``sessions``) runs twice, ``[sqlite]`` and
``[postgresql]``, each on a fresh, upgraded database (a file in ``tmp_path``; a schema of its
own on the server named by ``$LIENTHONG_TEST_PG_URL``). Without a reachable PostgreSQL the
``[postgresql]`` runs are skipped locally and fail on CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lienthong.security.pki import TestPki, create_test_pki
from lienthong.security.services import create_app
from lienthong.store import session_factory, upgrade
from lienthong.store.testing import DatabaseUnavailable, database_urls, temporary_database
from tests.servers import free_port, serve_in_thread

# The CLI's rich consoles are created when their module is first imported and take the width
# COLUMNS has then: fix it before any test imports them, whichever test (or worker) comes first,
# so that tables and messages never fold a long path or name.
os.environ["COLUMNS"] = "250"


@pytest.fixture(params=database_urls())
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty database (no tables yet): ``[sqlite]`` and ``[postgresql]``."""
    with ExitStack() as stack:
        try:
            engine = stack.enter_context(temporary_database(request.param, tmp_path))
        except DatabaseUnavailable as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(str(exc))
            pytest.skip(str(exc))
        yield engine


@pytest.fixture
def engine(blank_engine: Engine) -> Engine:
    """A fresh database brought to the newest migration: ``[sqlite]`` and ``[postgresql]``."""
    upgrade(blank_engine)
    return blank_engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """``session_factory(engine)``."""
    return session_factory(engine)


# -- the test PKI (issue 12): made once per session, its services on a free loopback port -------
# ``test_pki`` is created with the base URL ``pki_services`` serves, so the OCSP, CRL and
# CA-issuer URLs in its certificates answer while the services run.

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
