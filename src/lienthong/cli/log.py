"""`lienthong log tail|show`: read the hub's message log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from lienthong.cli.database import DatabaseOption, open_sessions
from lienthong.cli.output import console
from lienthong.cli.reports import safe

log_app = typer.Typer(
    help="The hub's message log (every request and answer).", no_args_is_help=True
)


@log_app.command("tail")
def tail(
    lines: Annotated[int, typer.Option("-n", help="How many of the latest entries.")] = 20,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    database: DatabaseOption = None,
) -> None:
    """The latest entries, oldest first."""
    from lienthong.store.tables import MessageLog

    query = select(MessageLog).order_by(MessageLog.id.desc()).limit(lines)
    if service:
        query = query.where(MessageLog.service == service)
    with open_sessions(database) as sessions, sessions() as db:
        rows = list(reversed(db.scalars(query).all()))
    table = Table()
    for column in (
        "id",
        "at (UTC)",
        "endpoint",
        "service",
        "account",
        "unit",
        "code",
        "records",
        "ok",
        "rej",
        "bytes in/out",
        "ms",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id),
            row.at.strftime("%Y-%m-%d %H:%M:%S"),
            safe(row.endpoint),
            safe(row.service or ""),
            safe(row.account or ""),
            safe(row.unit or ""),
            safe(row.error_code),
            str(row.records),
            str(row.accepted),
            str(row.rejected),
            f"{row.request_bytes}/{row.response_bytes}",
            f"{row.duration_ms:.1f}",
        )
    console.print(table)


@log_app.command("show")
def show(
    entry: Annotated[int, typer.Argument(help="Entry id (see `log tail`).")],
    database: DatabaseOption = None,
) -> None:
    """One entry with its kept raw body (accepted pushes only; the session token blanked out)."""
    from lienthong.store.tables import MessageLog

    with open_sessions(database) as sessions, sessions() as db:
        row = db.get(MessageLog, entry)
    if row is None:
        console.print(f"Không có mục {entry} / no entry {entry}")
        raise typer.Exit(2)
    for name in (
        "id",
        "at",
        "endpoint",
        "service",
        "account",
        "unit",
        "client",
        "dstcode",
        "http_status",
        "error_code",
        "records",
        "accepted",
        "rejected",
        "request_bytes",
        "response_bytes",
        "duration_ms",
    ):
        console.print(f"{name}: {safe(getattr(row, name))}")
    if row.raw_body is not None:
        console.print("raw body:")
        console.print(safe(row.raw_body.decode("utf-8", "replace"), multiline=True), soft_wrap=True)
