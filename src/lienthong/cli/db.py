"""``lienthong db``: the database schema (Alembic migrations bundled with the package)."""

from __future__ import annotations

import typer

from lienthong.cli.database import DatabaseOption, database_url, open_database
from lienthong.cli.output import console
from lienthong.cli.reports import safe
from lienthong.store import current_revision, redact_url

__all__ = ["db_app"]

db_app = typer.Typer(
    help="Cơ sở dữ liệu / The database schema.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@db_app.callback()
def _db() -> None:
    """Cơ sở dữ liệu / The database schema."""


@db_app.command("upgrade")
def upgrade_command(database: DatabaseOption = None) -> None:
    """Nâng cấp lược đồ lên bản mới nhất / Migrate the database to the newest revision."""
    with open_database(database) as engine:
        revision = current_revision(engine)
    shown = safe(redact_url(database_url(database)))
    console.print(
        f"Cơ sở dữ liệu {shown} ở phiên bản {revision}\nDatabase {shown} is at revision {revision}"
    )
