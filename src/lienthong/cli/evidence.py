"""`lienthong evidence audit|status`: check the evidence chain, and say how it stands.

``audit`` walks a side's chain (docs/evidence.md, "Audit") and names the first broken entry;
exit 0 clean, 1 broken, 2 for usage errors. ``status`` prints each side's entries, those
without a time-stamp and the age of the oldest, the last batch and whether pushes are refused.
"""

from __future__ import annotations

import datetime as dt
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lienthong.cli.database import DatabaseOption, open_sessions
from lienthong.cli.output import console, fail
from lienthong.cli.reports import json_text, safe

__all__ = ["evidence_app"]

evidence_app = typer.Typer(
    help="Nhật ký chứng cứ / The evidence store: audit the chain, show its state.",
    no_args_is_help=True,
)


class Side(StrEnum):
    HUB = "hub"
    AGENT = "agent"


def _anchors(files: list[Path] | None) -> tuple[Any, ...]:
    """The anchors of ``--anchors``, else of ``LIENTHONG_TRUST_ANCHORS``."""
    from lienthong.security.certificates import CertificateProblem, load_anchors

    names: list[str | Path] = list(files or [])
    if not names:
        setting = os.environ.get("LIENTHONG_TRUST_ANCHORS", "")
        names = [name.strip() for name in setting.split(",") if name.strip()]
    try:
        return load_anchors(names)
    except CertificateProblem as problem:
        fail(
            f"không đọc được chứng thư gốc: {problem.vi}",
            f"cannot read the trust anchor: {problem.en}",
        )


@evidence_app.command("audit")
def audit(
    database: DatabaseOption = None,
    side: Annotated[Side, typer.Option(help="Which chain.")] = Side.HUB,
    anchors: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchors",
            help="PEM files of the roots the time-stamps must chain to "
            "(default: LIENTHONG_TRUST_ANCHORS; none: only their imprints are checked).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Check every entry, link and time-stamped batch of a chain; exit 1 naming the first
    broken entry."""
    from lienthong.evidence.audit import audit_chain

    roots = _anchors(anchors)
    with open_sessions(database) as sessions, sessions() as db:
        report = audit_chain(db, side.value, roots)
    if as_json:
        console.print(json_text(report.as_dict()), soft_wrap=True, markup=False)
    else:
        stamps = (
            "dấu thời gian đã kiểm tra với chứng thư gốc / time-stamps verified against anchors"
            if report.timestamps_verified
            else "chỉ kiểm tra mã băm của dấu thời gian (không có chứng thư gốc) / time-stamp "
            "imprints only (no anchors)"
        )
        console.print(
            f"[bold]{side.value}[/bold]: {report.entries} mục / entries, "
            f"{report.batches} lô / batches; {stamps}"
        )
        first = report.first
        if first is None:
            console.print("[green]Nguyên vẹn / Intact[/green]")
        else:
            console.print(f"[red]Hỏng / Broken[/red] ({len(report.findings) + report.more})")
            console.print(f"  {safe(first.vi)}")
            console.print(f"  {safe(first.en)}")
    if not report.clean:
        raise typer.Exit(1)


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f} s"


@evidence_app.command("status")
def status(
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Each side's entries, those without a time-stamp, the last batch and whether pushes are
    refused (from LIENTHONG_TSA_URL and LIENTHONG_TIMESTAMP_FAIL_CLOSED_HOURS)."""
    from lienthong.evidence.status import side_status
    from lienthong.hub.settings import HubSettings, SettingsError

    try:
        settings = HubSettings.from_env()
    except SettingsError as refused:
        fail(refused.vi, refused.en)
    window = settings.timestamp_fail_closed_hours * 3600
    stamping = bool(settings.tsa_url) and settings.evidence
    now = dt.datetime.now(dt.UTC)
    with open_sessions(database) as sessions, sessions() as db:
        states = [side_status(db, side.value) for side in Side]
    rows: list[dict[str, Any]] = []
    for state in states:
        oldest = state.oldest_unstamped_age(now)
        rows.append(
            {
                "side": state.side,
                "entries": state.entries,
                "last_seq": state.entries,
                "unstamped": state.unstamped,
                "oldest_unstamped_age_seconds": oldest,
                "batches": state.batches,
                "last_timestamp_at": (
                    state.last_timestamp_at.isoformat() if state.last_timestamp_at else None
                ),
                "last_tsa_url": state.last_tsa_url,
                # only the hub refuses pushes; the agent's chain is stamped by the agent
                "fail_closed": bool(
                    state.side == Side.HUB
                    and stamping
                    and window > 0
                    and oldest is not None
                    and oldest > window
                ),
            }
        )
    summary = {
        "time_stamping": stamping,
        "tsa_url": settings.tsa_url or None,
        "fail_closed_hours": settings.timestamp_fail_closed_hours,
        "sides": rows,
    }
    if as_json:
        console.print(json_text(summary), soft_wrap=True, markup=False)
        return
    if not stamping:
        console.print(
            "[yellow]Chưa đóng dấu thời gian (LIENTHONG_TSA_URL trống) / "
            "Time-stamping is off (LIENTHONG_TSA_URL is empty)[/yellow]"
        )
    else:
        console.print(f"TSA: {safe(settings.tsa_url)}")
    table = Table("side", "entries", "unstamped", "oldest unstamped", "batches", "last stamp")
    table.add_column("fail closed")
    for row in rows:
        table.add_row(
            row["side"],
            str(row["entries"]),
            str(row["unstamped"]),
            _age(row["oldest_unstamped_age_seconds"]),
            str(row["batches"]),
            safe(row["last_timestamp_at"] or "-"),
            "[red]yes[/red]" if row["fail_closed"] else "no",
        )
    console.print(table)
