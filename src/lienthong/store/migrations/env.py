"""Alembic environment: migrates the connection handed over by :func:`lienthong.store.db.upgrade`.

Run programmatically (no ``alembic.ini``): ``upgrade(engine)`` puts its connection in
``config.attributes["connection"]`` and, on PostgreSQL, the schema of the version table in
``config.attributes["version_table_schema"]``. Without a connection (e.g. ``command.revision``
with ``autogenerate=True``), the database is ``$LIENTHONG_DATABASE_URL`` or the default.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from lienthong.store.db import DEFAULT_URL, make_engine, normalize_url
from lienthong.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=config.attributes.get("version_table_schema"),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return os.environ.get("LIENTHONG_DATABASE_URL") or DEFAULT_URL


if context.is_offline_mode():
    context.configure(
        url=normalize_url(_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = make_engine(_url())
        try:
            with engine.begin() as connection:
                _run(connection)
        finally:
            engine.dispose()
