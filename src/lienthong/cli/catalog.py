"""`lienthong catalog import FILE`: load procedures, decisions and category lists into the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lienthong.cli.database import DatabaseOption, open_sessions
from lienthong.cli.output import console
from lienthong.cli.reports import safe

catalog_app = typer.Typer(
    help="The hub's procedure catalog and category lists.", no_args_is_help=True
)


@catalog_app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(help="YAML or JSON with `procedures`, `decisions` and/or `categories`."),
    ],
    database: DatabaseOption = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Packet catalog profile used to check the rows.")
    ] = None,
) -> None:
    """Validate every row against the packet catalog and store the good ones (exit 1 if any was refused)."""
    from lienthong.hub.reference import ReferenceError, import_file
    from lienthong.spec import Validator, load_catalog

    with open_sessions(database) as sessions, sessions() as db:
        try:
            report = import_file(db, Validator(load_catalog(profile)), file)
        except ReferenceError as exc:
            console.print(f"[red]Lỗi / Error:[/red] {safe(exc, multiline=True)}")
            raise typer.Exit(2) from None
        db.commit()
    table = Table(title="Đã lưu / stored")
    table.add_column("service")
    table.add_column("rows")
    for kind, count in sorted(report.stored.items()):
        table.add_row(kind, str(count))
    console.print(table)
    for kind, code, reason in report.rejected:
        console.print(
            f"[yellow]bỏ qua / skipped[/yellow] {safe(kind)} {safe(code)}: {safe(reason)}"
        )
    if report.rejected:
        raise typer.Exit(1)
