"""``lienthong agent status`` and ``lienthong agent stats show|send``.

Like ``lienthong agent dlq``, these work directly on the agent database (``--config``,
``--database`` or ``LIENTHONG_AGENT_DATABASE_URL``), whether the agent is running or not. A
running agent delivers a statistics row queued here at its next poll.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from lienthong.cli.agent import _by, _offline_service, agent_app
from lienthong.cli.output import console
from lienthong.cli.output import fail as _fail
from lienthong.cli.reports import json_text, safe

__all__ = ["stats_app"]

stats_app = typer.Typer(
    help="Số liệu thống kê / Monthly statistics (DongBoThongKeHoSo) the agent computes and sends.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
agent_app.add_typer(stats_app, name="stats")

_FIGURES = (
    ("SoNhanTrongKy", "nhận trong kỳ / received"),
    ("SoTonKyTruoc", "tồn kỳ trước / carried over"),
    ("TongSoXuLy", "phải xử lý / to process"),
    ("TongDaXuLy", "đã xử lý / processed"),
    ("TongXuLyDungHan", "đúng hạn / on time"),
    ("TongXuLyTreHan", "trễ hạn / late"),
    ("PhanTramXuLyDungHan", "% đúng hạn / % on time"),
    ("TongChuaXuLy", "chưa xử lý / pending"),
    ("TongChuaXuLyTrongHan", "trong hạn / in time"),
    ("TongChuaXuLyTreHan", "quá hạn / overdue"),
)


def _month(text: str, option: str) -> tuple[int, int]:
    from lienthong.agent.stats import parse_month

    try:
        return parse_month(text)
    except ValueError:
        _fail(f"{option} {text}: cần YYYY-MM", f"{option} {text}: expected YYYY-MM")


def _unit(service: Any, unit: str | None) -> str:
    if unit:
        return unit
    if len(service.settings.units) == 1:
        return str(service.settings.units[0])
    _fail("cần --unit", "give --unit (the agent serves several units, or none is configured)")


@agent_app.command("status")
def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, as GET /api/status.")] = False,
) -> None:
    """Trạng thái tác tử / Queues, oldest waiting row, dead letters, session, last delivery."""
    from lienthong.agent.status import agent_status

    service = _offline_service(ctx)
    try:
        status = agent_status(service.sessions)
        status["evidence"] = service.evidence.status()
    finally:
        service.stop()
    if as_json:
        console.out(json_text(status))
        return
    table = Table(
        title=(
            f"hàng đợi / queue: {status['queue_depth']} · đã gửi / delivered: "
            f"{status['delivered']} · từ chối / dead: {status['dead_letters']}"
        )
    )
    for column in ("service", "pending", "delivered", "dead", "dropped", "oldest waiting (s)"):
        table.add_column(column, justify="left" if column == "service" else "right")
    for row in status["services"]:
        age = row["oldest_pending_age_seconds"]
        table.add_row(
            safe(row["service"]),
            str(row["pending"]),
            str(row["delivered"]),
            str(row["dead"]),
            str(row["dropped"]),
            "" if age is None else f"{age:.0f}",
        )
    console.print(table)
    session = status["session"]
    success, error = status["last_success"] or {}, status["last_error"] or {}
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(
        "phiên / session (last written)",
        f"{safe(session['logged_in_at'] or '-')} → {safe(session['expires_at'] or '-')} "
        f"({session['logins']} login(s))",
    )
    facts.add_row(
        "gửi được / last success",
        f"{safe(success.get('at', '-'))} {safe(success.get('service', ''))} "
        f"{success.get('delivered', '')}/{success.get('rows', '')}".strip(),
    )
    facts.add_row(
        "lỗi / last error",
        f"{safe(error.get('at', '-'))} {safe(error.get('service', ''))} "
        f"{safe(error.get('action', ''))} {safe(error.get('message', ''))}".strip(),
    )
    receipts = status["receipts"]
    last_invalid = receipts["last_invalid"] or {}
    facts.add_row(
        "biên nhận / receipts",
        f"{receipts['valid']} valid, {receipts['invalid']} INVALID, {receipts['missing']} missing"
        + (
            f"; last invalid {safe(last_invalid.get('at', ''))}: "
            f"{safe(last_invalid.get('message_en', ''))}"
            if last_invalid
            else ""
        ),
    )
    oldest = status["oldest_pending_age_seconds"]
    facts.add_row("chờ lâu nhất / oldest waiting", "-" if oldest is None else f"{oldest:.0f} s")
    evidence = status["evidence"]
    unstamped_age = evidence["oldest_unstamped_age_seconds"]
    facts.add_row(
        "chứng cứ / evidence",
        f"{evidence['state'].upper() if evidence['blocked'] else evidence['state']}: "
        f"{evidence['entries']} entries, {evidence['unstamped']} without a time-stamp"
        + ("" if unstamped_age is None else f" (oldest {unstamped_age:.0f} s)")
        + ("" if evidence["tsa_url"] else "; no TSA configured"),
    )
    for name, value in status["pull"].items():
        facts.add_row(f"pull.{safe(name)}", safe(json.dumps(value, ensure_ascii=False)[:200]))
    console.print(facts)
    if status["dead_letter_rows"]:
        dead = Table(title="dead letters (lienthong agent dlq list)")
        for column in ("id", "service", "key", "reason"):
            dead.add_column(column)
        for row in status["dead_letter_rows"]:
            dead.add_row(
                str(row["id"]), safe(row["service"]), safe(row["key"] or ""), safe(row["reason"])
            )
        console.print(dead)


@stats_app.command("show")
def stats_show(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", "-m", help="YYYY-MM (the first, with --to).")],
    unit: Annotated[
        str | None, typer.Option("--unit", "-u", help="Unit (and the units under it).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last month of a range, YYYY-MM.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The wire records.")] = False,
) -> None:
    """Số liệu một tháng / The figures of a month (or range) computed from the agent's dossiers."""
    first = _month(month, "--month")
    last = _month(to, "--to") if to else first
    service = _offline_service(ctx)
    try:
        chosen = _unit(service, unit)
        try:
            rows = service.stats.figures(chosen, first, last)
        except ValueError as exc:
            _fail(str(exc), str(exc))
    finally:
        service.stop()
    if as_json:
        console.out(json_text(rows))
        return
    table = Table(title=f"DongBoThongKeHoSo {safe(chosen)}")
    table.add_column("")
    for row in rows:
        table.add_column(f"{int(row['Nam']):04d}-{int(row['Thang']):02d}", justify="right")
    for name, text in _FIGURES:
        table.add_row(f"{name} ({text})", *(row[name] for row in rows))
    console.print(table)


@stats_app.command("send")
def stats_send(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", "-m", help="YYYY-MM.")],
    units: Annotated[
        list[str] | None, typer.Option("--unit", "-u", help="Unit (default: the agent's units).")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who (default: the OS user).")] = None,
) -> None:
    """Gửi lại số liệu / Queue a month's statistics now, even if they were sent before."""
    period = _month(month, "--month")
    service = _offline_service(ctx)
    try:
        chosen = units or list(service.settings.units)
        if not chosen:
            _fail("cần --unit", "give --unit (no units are configured)")
        try:
            reports = service.stats.send(period, chosen, force=True, by=f"cli:{_by(by)}"[:128])
        except ValueError as exc:
            _fail(str(exc), str(exc), 1)
    finally:
        service.stop()
    for report in reports:
        console.print(
            f"{safe(report.unit)} {report.period}: hàng đợi / queued, row {report.outbox_id}"
        )
