"""`lienthong evidence audit|status|export|verify`: check the evidence chain and say how it
stands; export a dossier's (a petition's, a message's) evidence as an ASiC-E container, and
check that container on a machine with no database and no network (docs/evidence-container.md).

``audit`` walks a side's chain (docs/evidence.md, "Audit") and names the first broken entry;
exit 0 clean, 1 broken, 2 for usage errors. ``status`` prints each side's entries, those
without a time-stamp and the age of the oldest, the last batch and whether pushes are refused.
``verify`` exits 0 when every proof of a container holds, 1 when one does not (each failure
named), 2 for usage errors and a file that is not a readable container.
"""

from __future__ import annotations

import datetime as dt
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lienthong.cli.database import DatabaseOption, open_sessions
from lienthong.cli.output import console, err_console, fail
from lienthong.cli.reports import json_text, printable, safe
from lienthong.cli.sign import (
    CertOption,
    ChainOption,
    KeyLabelOption,
    KeyOption,
    PasswordOption,
    PinOption,
    Pkcs11ModuleOption,
    Pkcs12Option,
    TokenOption,
)

if TYPE_CHECKING:
    from lienthong.security.signers import Signer

__all__ = ["evidence_app"]

evidence_app = typer.Typer(
    help="Nhật ký chứng cứ / The evidence store: audit the chain, show its state, export a "
    "dossier's proofs (ASiC-E) and verify them offline.",
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


def _exporter_key(
    cert: Path | None,
    key: Path | None,
    pkcs12: Path | None,
    password: str | None,
    module: str | None,
    token: str | None,
    key_label: str | None,
    pin: str | None,
    chain: Path | None,
) -> Signer | None:
    """The key given by the ``lienthong sign`` options, else the hub's receipt key
    (``LIENTHONG_RECEIPT_*``), else none."""
    from lienthong.cli.sign import open_signer
    from lienthong.hub.receipts import open_receipt_signer
    from lienthong.hub.settings import HubSettings, SettingsError

    if cert or key or pkcs12 or token:  # open_signer says why a key cannot be used, and exits
        return open_signer(
            cert, key, pkcs12, password, module, token, key_label, pin, chain, None, None
        )
    try:
        return open_receipt_signer(HubSettings.from_env())
    except SettingsError as exc:
        fail(exc.vi, exc.en)


@evidence_app.command("export")
def export_command(
    to: Annotated[Path, typer.Option("--to", help="The container to write (.asice).")],
    dossier: Annotated[
        str | None, typer.Option("--dossier", help="Every message that carried this dossier.")
    ] = None,
    petition: Annotated[
        str | None,
        typer.Option("--petition", help="Every message that carried this petition (or question)."),
    ] = None,
    message: Annotated[
        int | None,
        typer.Option("--message", help="The message of this log id (hub: message_log.id)."),
    ] = None,
    side: Annotated[
        str | None, typer.Option("--side", help="hub or agent, when the database has both.")
    ] = None,
    allow_unstamped: Annotated[
        bool,
        typer.Option(
            "--allow-unstamped",
            help="Export entries not time-stamped yet (the container says they are not proven).",
        ),
    ] = False,
    database: DatabaseOption = None,
    cert: CertOption = None,
    key: KeyOption = None,
    pkcs12: Pkcs12Option = None,
    password: PasswordOption = None,
    pkcs11_module_path: Pkcs11ModuleOption = None,
    token: TokenOption = None,
    key_label: KeyLabelOption = None,
    pin: PinOption = None,
    chain: ChainOption = None,
) -> None:
    """Write the ASiC-E container of a dossier, a petition or one message, signed with the
    given key (the `lienthong sign` options) or the hub's receipt key (LIENTHONG_RECEIPT_*)."""
    from lienthong.evidence.export import ExportError, Selection, export_container
    from lienthong.security.signers import Pkcs11Signer

    selection = Selection(dossier=dossier, petition=petition, message=message, side=side)
    signer = _exporter_key(
        cert, key, pkcs12, password, pkcs11_module_path, token, key_label, pin, chain
    )
    try:
        with open_sessions(database) as sessions, sessions() as db:
            data = export_container(db, selection, signer=signer, allow_unstamped=allow_unstamped)
    except ExportError as exc:
        fail(exc.vi, exc.en, code=1 if exc.code == "export.not_found" else 2)
    finally:
        if isinstance(signer, Pkcs11Signer):
            signer.close()
    try:
        to.write_bytes(data)
    except OSError as exc:
        fail(
            f"không ghi được {exc.filename or to}: {exc.strerror}",
            f"cannot write {exc.filename or to}: {exc.strerror}",
        )
    signed = (
        f"ký bởi / signed by {signer.certificate.subject.rfc4514_string()}"
        if signer is not None
        else "KHÔNG ký (chưa có khóa) / NOT signed (no key given)"
    )
    err_console.print(f"đã ghi / written: {safe(to)} ({len(data)} byte; {safe(signed)})")


@evidence_app.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(help="The container (.asice).")],
    anchors: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor",
            "--anchors",
            help="A trusted root certificate file, PEM or DER (repeatable).",
        ),
    ] = None,
    intermediates: Annotated[
        list[Path] | None,
        typer.Option("--intermediate", help="An intermediate certificate the container lacks."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a container with no database and no network; print who sent what, when it was
    received, the signature at its signing time, the time-stamp, its place in the log."""
    from lienthong.cli.verify import read_certificates
    from lienthong.evidence.container import ContainerError
    from lienthong.evidence.offline import render_report, verify_container

    if not anchors:
        fail(
            "cần ít nhất một chứng thư gốc tin cậy (--anchor ROOT.pem)",
            "at least one trust anchor is needed (--anchor ROOT.pem)",
        )

    trusted = read_certificates(anchors, "chứng thư gốc", "anchor")
    others = read_certificates(intermediates or [], "chứng thư trung gian", "certificate")
    try:
        report = verify_container(file, trusted, others)
    except ContainerError as exc:
        fail(f"[{exc.code}] {exc.vi}", f"[{exc.code}] {exc.en}")
    if as_json:
        console.out(json_text(report.as_dict()))
    else:
        # names come from certificates and the container: shown, never interpreted
        console.out(printable(render_report(report), multiline=True), end="")
    raise typer.Exit(0 if report.ok else 1)
