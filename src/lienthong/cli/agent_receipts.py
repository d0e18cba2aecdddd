"""``lienthong agent receipts show ID``: the hub's signed receipt of an outbox row.

Like ``lienthong agent dlq``, it works directly on the agent database, whether the agent is
running or not. It prints the receipt (pretty-printed JSON), what the agent found when it
checked it, and the signature's verification report (Vietnamese, then English); ``--out DIR``
writes ``receipt.json`` (the exact bytes signed) and ``receipt.json.p7s`` (or ``.jws``), so
that ``lienthong verify`` or ``openssl cms -verify`` can check it independently. Exit 0 for a
valid receipt, 1 for an invalid or missing one, 2 for usage errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lienthong.cli.agent import _offline_service, agent_app
from lienthong.cli.output import console, err_console
from lienthong.cli.output import fail as _fail
from lienthong.cli.reports import json_text, printable

__all__ = ["receipts_app"]

receipts_app = typer.Typer(
    help="Biên nhận có chữ ký của hub / The hub's signed receipts of delivered rows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
agent_app.add_typer(receipts_app, name="receipts")


def _write(directory: Path, name: str, data: bytes) -> Path:
    target = directory / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:
        _fail(
            f"không ghi được {target}: {exc.strerror or exc}",
            f"cannot write {target}: {exc.strerror or exc}",
        )
    return target


@receipts_app.command("show")
def receipts_show(
    ctx: typer.Context,
    row_id: Annotated[int, typer.Argument(help="Outbox id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write receipt.json and its signature (receipt.json.p7s or .jws) there.",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Biên nhận của một bản ghi / The hub's receipt of one outbox row, and its check."""
    from lienthong.security.report import render_text, report_dict
    from lienthong.security.verify import Verification
    from lienthong.store.tables import AgentOutbox, AgentReceipt

    service = _offline_service(ctx)
    try:
        with service.sessions() as db:
            row = db.get(AgentOutbox, row_id)
            kept = db.get(AgentReceipt, row.receipt_id) if row and row.receipt_id else None
            if kept is not None:
                db.expunge(kept)
    finally:
        service.stop()
    if row is None:
        _fail(f"không có bản ghi {row_id}", f"no outbox row {row_id}")
    if kept is None:
        _fail(
            f"bản ghi {row_id} không có biên nhận của hub (chưa gửi, hoặc hub không ký biên nhận)",
            f"outbox row {row_id} has no receipt of the hub (not sent yet, or the hub signs none)",
            1,
        )
    result: dict[str, Any] = dict(kept.result)
    checked = result.get("verification")
    verification = Verification.from_dict(checked) if isinstance(checked, dict) else None
    receipt: Any = None
    if kept.receipt is not None:
        try:
            receipt = json.loads(kept.receipt)
        except ValueError:
            receipt = kept.receipt.decode("utf-8", "replace")
    if out is not None and kept.receipt is not None and kept.signature is not None:
        suffix = ".jws" if kept.format == "jws" else ".p7s"
        written = [
            _write(out, "receipt.json", kept.receipt),
            _write(out, "receipt.json" + suffix, kept.signature),
        ]
        err_console.print("đã ghi / written: " + ", ".join(str(path) for path in written))
    if as_json:
        console.out(
            json_text(
                {
                    "outbox_id": row_id,
                    "receipt_id": kept.id,
                    "at": kept.at.isoformat(timespec="seconds"),
                    "service": kept.service,
                    "madonvi": kept.unit,
                    "rows": kept.rows,
                    "request_sha256": kept.request_sha256,
                    "status": kept.status,
                    "reason": result.get("reason"),
                    "message": result.get("message"),
                    "message_en": result.get("message_en"),
                    "format": kept.format,
                    "receipt": receipt,
                    "report": report_dict(verification) if verification else None,
                }
            )
        )
    else:
        state = "HỢP LỆ / VALID" if kept.status == "valid" else "KHÔNG HỢP LỆ / INVALID"
        lines = [
            f"Biên nhận / Receipt {kept.id} (outbox {row_id}, {kept.service}, {kept.unit}, "
            f"{kept.rows} row(s), {kept.at.isoformat(timespec='seconds')})",
            f"Kết quả / Result: {state} ({result.get('reason')})",
            f"  {result.get('message')}",
            f"  {result.get('message_en')}",
            "",
            json.dumps(receipt, ensure_ascii=False, indent=2) if receipt is not None else "-",
            "",
        ]
        # names come from certificates and the hub: shown, never interpreted (no markup)
        console.out(printable("\n".join(lines), multiline=True))
        if verification is not None:
            console.out(printable(render_text(verification), multiline=True), end="")
    raise typer.Exit(0 if kept.status == "valid" else 1)
