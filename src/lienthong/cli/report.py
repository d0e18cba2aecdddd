"""`lienthong report stats`: reported statistics beside the hub's own figures."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table

from lienthong.cli.database import DatabaseOption, open_sessions
from lienthong.cli.output import console
from lienthong.cli.reports import safe

report_app = typer.Typer(
    help="Reports of the hub (statistics reconciliation).", no_args_is_help=True
)


@report_app.command("stats")
def stats(
    unit: Annotated[
        str,
        typer.Option(
            "--unit", help="Agency code, e.g. 000.00.00.H56 (includes the units under it)."
        ),
    ],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    database: DatabaseOption = None,
) -> None:
    """DongBoThongKeHoSo as reported by the unit vs computed from the dossiers the hub received.

    Exit code 1 when a figure differs or nothing was reported.
    """
    from lienthong.hub.reports import reconcile_statistics
    from lienthong.spec.identifiers import parse_agency_code

    found = re.fullmatch(r"(\d{4})-(\d{1,2})", month)
    if found is None or not 1 <= int(found.group(2)) <= 12 or parse_agency_code(unit) is None:
        console.print("[red]Lỗi / Error:[/red] --month YYYY-MM, --unit <mã cơ quan / agency code>")
        raise typer.Exit(2)
    with open_sessions(database) as sessions, sessions() as db:
        reported, gaps = reconcile_statistics(db, unit, int(found.group(1)), int(found.group(2)))
    table = Table(title=f"{safe(unit)} {month}")
    for column in ("field", "reported / báo cáo", "computed / tính từ hồ sơ", ""):
        table.add_column(column)
    for gap in gaps:
        table.add_row(
            gap.field, gap.reported or "-", gap.computed, "[red]≠[/red]" if gap.differs else ""
        )
    console.print(table)
    if reported is None:
        console.print(
            "[yellow]Đơn vị chưa báo cáo kỳ này / the unit has not reported this month[/yellow]"
        )
    if reported is None or any(gap.differs for gap in gaps):
        raise typer.Exit(1)
