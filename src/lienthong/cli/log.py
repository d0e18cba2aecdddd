"""`lienthong log tail|show`: read the hub's message log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from lienthong.cli.database import DatabaseOption, open_sessions
from lienthong.cli.keys import (
    MasterKeyFileOption,
    MasterKeyLabelOption,
    MasterKeyModuleOption,
    MasterKeyPinFileOption,
    MasterKeyTokenOption,
    master_key,
)
from lienthong.cli.output import console, fail
from lienthong.cli.reports import json_text, safe

if TYPE_CHECKING:
    from lienthong.store.tables import MessageLog

log_app = typer.Typer(
    help="The hub's message log (every request and answer).", no_args_is_help=True
)


#: The columns of an entry that ``show`` and ``tail --json`` print (the raw body apart).
FIELDS = (
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
)


def _entry(row: MessageLog) -> dict[str, Any]:
    entry = {name: getattr(row, name) for name in FIELDS}
    entry["at"] = row.at.isoformat()
    return entry


@log_app.command("tail")
def tail(
    lines: Annotated[int, typer.Option("-n", help="How many of the latest entries.")] = 20,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """The latest entries, oldest first."""
    from lienthong.store.tables import MessageLog

    query = select(MessageLog).order_by(MessageLog.id.desc()).limit(lines)
    if service:
        query = query.where(MessageLog.service == service)
    with open_sessions(database) as sessions, sessions() as db:
        rows = list(reversed(db.scalars(query).all()))
    if as_json:
        console.out(json_text([_entry(row) for row in rows]))
        return
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
    master_key_file: MasterKeyFileOption = None,
    master_key_pkcs11_token: MasterKeyTokenOption = None,
    master_key_pkcs11_label: MasterKeyLabelOption = None,
    master_key_pin_file: MasterKeyPinFileOption = None,
    master_key_pkcs11_module: MasterKeyModuleOption = None,
) -> None:
    """One entry with its kept raw body (accepted pushes only; the session token blanked out;
    opened with the master key when it is sealed) and, for a signed request, the report of its
    signature's verification."""
    from sqlalchemy import select

    from lienthong.hub.signatures import kept_verification
    from lienthong.security.report import render_text
    from lienthong.security.sealing import SealingError
    from lienthong.store.sealing import RAW_BODY, open_sealer
    from lienthong.store.tables import MessageLog, MessageSignature

    body = None
    with (
        master_key(
            master_key_file,
            master_key_pkcs11_token,
            master_key_pkcs11_label,
            master_key_pin_file,
            master_key_pkcs11_module,
        ) as master,
        open_sessions(database) as sessions,
    ):
        with sessions() as db:
            row = db.get(MessageLog, entry)
            signatures = db.scalars(
                select(MessageSignature).where(MessageSignature.log_id == entry)
            ).all()
        if row is not None and row.raw_body is not None:
            try:
                body = open_sealer(sessions, master, create=False).open(
                    row.raw_body, RAW_BODY, f"message_log {entry}"
                )
            except SealingError as problem:
                fail(problem.vi, problem.en)
    if row is None:
        console.print(f"Không có mục {entry} / no entry {entry}")
        raise typer.Exit(2)
    for name in FIELDS:
        console.print(f"{name}: {safe(getattr(row, name))}")
    for kept in signatures:  # the signature's verification, as TT 15/2025 asks it shown
        console.print(safe(render_text(kept_verification(kept.result)), multiline=True))
    if body is not None:
        console.print("raw body:")
        console.print(safe(body.decode("utf-8", "replace"), multiline=True), soft_wrap=True)
