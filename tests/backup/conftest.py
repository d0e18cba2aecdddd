"""What the backup tests share: a key file, the test PKI's signer, a hub database with data, a
fresh database to restore into (a new SQLite file, or a new PostgreSQL database), and a
comparison of every table's rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from lienthong.backup import KeyFile
from lienthong.hub.app import Hub
from lienthong.hub.demo import seed_demo
from lienthong.hub.settings import HubSettings
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.store.db import make_engine, normalize_url
from lienthong.store.testing import postgresql_url
from tests.servers import process_url


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "backup.key"
    KeyFile.generate(path)
    return path


@pytest.fixture(scope="session")
def signer(test_pki: TestPki) -> FileSigner:
    """The hub's key of the test PKI, its certificate with the chain: it signs the manifests."""
    chained = test_pki.hub.certificate_path.read_bytes() + test_pki.chain_path.read_bytes()
    return FileSigner.from_pem(chained, test_pki.hub.key_path)


def fill(engine: Engine, dossiers: int = 40) -> None:
    """A hub database with an account, dossiers and their progress (the demo's pushes)."""
    seed_demo(Hub(HubSettings(), engine=engine), count=dossiers)


def lost_database(engine: Engine, tmp_path: Path) -> str:
    """The URL to restore ``engine``'s database into, as after its loss: on SQLite a new file
    beside it; on PostgreSQL the same URL (its test schema), the schema dropped (creating and
    dropping whole databases costs a checkpoint each: seconds on a busy server). The ``engine``
    fixture drops the restored schema afterwards."""
    if engine.dialect.name == "sqlite":
        (tmp_path / "restored").mkdir()
        return f"sqlite:///{tmp_path / 'restored' / 'lienthong.db'}"
    url = process_url(engine)
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    engine.dispose()
    admin = create_engine(normalize_url(postgresql_url()), poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()
    return url


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in primary key order (the Alembic version excepted)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    inspector = inspect(engine)
    with engine.connect() as connection:
        for table in sorted(inspector.get_table_names()):
            if table == "alembic_version":
                continue
            columns = inspector.get_pk_constraint(table)["constrained_columns"] or [
                column["name"] for column in inspector.get_columns(table)
            ]
            order = ", ".join(f'"{column}"' for column in columns)
            rows = connection.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))
            found[table] = [tuple(row) for row in rows]
    return found


def restored_engine(url: str, schema: str | None) -> Engine:
    return make_engine(url, schema=None if schema in (None, "public") else schema)
