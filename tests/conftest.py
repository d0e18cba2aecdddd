"""Shared fixtures: ``engine`` and ``sessions`` on SQLite and on PostgreSQL.

Every test that takes ``engine`` (or ``sessions``) runs twice, ``[sqlite]`` and
``[postgresql]``, each on a fresh, upgraded database (a file in ``tmp_path``; a schema of its
own on the server named by ``$LIENTHONG_TEST_PG_URL``). Without a reachable PostgreSQL the
``[postgresql]`` runs are skipped locally and fail on CI (``CI=true``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lienthong.store import session_factory, upgrade
from lienthong.store.testing import DatabaseUnavailable, database_urls, temporary_database

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
