"""``lienthong agent backfill FILE.jsonl``: the initial load of historical records.

Works directly on the agent database (like ``dlq``), whether the agent runs or not; the running
agent's worker delivers the queued rows. See :mod:`lienthong.agent.backfill`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from lienthong.cli.agent import _offline_service, _settings, agent_app
from lienthong.cli.output import console, err_console
from lienthong.cli.output import fail as _fail
from lienthong.cli.reports import safe

__all__ = ["backfill_command"]

#: Refused lines printed on the terminal (all of them go to ``--errors``).
SHOWN_PROBLEMS = 20


@agent_app.command("backfill")
def backfill_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Records, one JSON object per line (JSON Lines).")],
    service_name: Annotated[
        str, typer.Option("--service", "-s", help="Service of the records.")
    ] = "DongBoHoSoMC",
    unit: Annotated[
        str | None,
        typer.Option("--unit", "-u", help="madonvi (default: the agent's unit, when it has one)."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Envelope parameter NAME=VALUE (DongBoHoSoMC: isUpdating=False by default).",
        ),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Load the file from its start again.")
    ] = False,
    chunk: Annotated[
        int, typer.Option("--chunk", help="Records per transaction.", min=1, max=50_000)
    ] = 2000,
    errors: Annotated[
        Path | None,
        typer.Option("--errors", help="Append every refused line to this file (JSON Lines)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Nạp dữ liệu lịch sử / Load historical records into the outbox, resumably."""
    from lienthong.agent.backfill import Backfill, BackfillError, default_params

    if not file.is_file():
        _fail(f"không đọc được tệp {file}", f"cannot read {file}")
    params: dict[str, str] = default_params(service_name)
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f"--param {item}: cần NAME=VALUE", f"--param {item}: expected NAME=VALUE")
        params[name] = value
    if unit is None:
        units = _settings(ctx).units
        if len(units) != 1:
            _fail("cần --unit (tác tử không có đúng một đơn vị)", "give --unit (no single unit)")
        unit = units[0]
    service = _offline_service(ctx)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[records]:,} records, {task.fields[rate]:,.0f} records/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )
    started = time.monotonic()

    def on_progress(offset: int, size: int, records: int) -> None:
        elapsed = max(1e-6, time.monotonic() - started)
        progress.update(task, completed=offset, total=size, records=records, rate=records / elapsed)

    loader = Backfill(service.intake, service.outbox, chunk_records=chunk)
    task = progress.add_task(file.name, total=file.stat().st_size, records=0, rate=0.0)
    try:
        done = None if restart else loader.status(file, service_name, unit)
        if done is not None and done.get("finished_at"):
            progress.disable = True
        with progress:
            report = loader.run(
                file, service_name, unit, params, restart=restart, progress=on_progress
            )
    except BackfillError as exc:
        _fail(str(exc), str(exc))
    except KeyboardInterrupt:
        err_console.print(
            "Đã dừng; chạy lại để tiếp tục / interrupted: run the same command again to continue "
            "after the last committed chunk"
        )
        raise typer.Exit(130) from None
    finally:
        service.stop()
    if report.already_finished:
        console.print(
            f"Tệp đã được nạp / already loaded (finished {report.finished_at}): {report.queued:,} "
            f"queued, {report.refused:,} refused lines. --restart to load it again."
        )
        return
    elapsed = time.monotonic() - started
    if errors is not None and report.problems:
        with errors.open("a", encoding="utf-8") as out:
            for problem in report.problems:
                out.write(json.dumps({"file": str(file), **problem.as_dict()}, ensure_ascii=False))
                out.write("\n")
    if report.problems:
        table = Table(title=f"refused lines: {report.refused_now:,}")
        for column in ("line", "key", "code", "path", "message"):
            table.add_column(column)
        for problem in report.problems[:SHOWN_PROBLEMS]:
            table.add_row(
                str(problem.line),
                safe(problem.key or ""),
                safe(problem.code),
                safe(problem.path),
                safe(problem.message_en),
            )
        console.print(table)
        if len(report.problems) > SHOWN_PROBLEMS:
            more = len(report.problems) - SHOWN_PROBLEMS
            where = f"; all in {errors}" if errors else "; --errors FILE keeps them all"
            console.print(f"... and {more:,} more issue(s){where}")
    resumed = f" (resumed after line {report.resumed_at_line:,})" if report.resumed_at_line else ""
    console.print(
        f"Đã nạp / loaded {file}{resumed}: {report.queued_now:,} records queued, "
        f"{report.refused_now:,} lines refused in {elapsed:,.1f} s "
        f"({report.queued_now / max(elapsed, 1e-6):,.0f} records/s); "
        f"in total {report.queued:,} queued, {report.refused:,} refused, {report.lines:,} lines."
    )
    if report.refused_now:
        raise typer.Exit(1)
