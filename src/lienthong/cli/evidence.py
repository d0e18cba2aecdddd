"""`lienthong evidence audit|status|archive|export|verify`: check the evidence chain, say how it
stands, move its old entries to archive segments, export a dossier's (a petition's, a
message's) evidence as an ASiC-E container, and check a container or a segment offline.

``audit`` walks a side's chain (docs/evidence.md, "Audit"), after its archive segments when
``--archives`` names their folder, and names the first broken piece; exit 0 clean, 1 broken, 2
for usage errors. ``status`` prints each side's entries, those without a time-stamp and the age
of the oldest, the last batch, the archive lag and whether pushes are refused. ``archive``
(docs/evidence-archives.md) exits 0 done, 2 refused, 75 (EX_TEMPFAIL) when trying later may
help (the TSA out of reach, the disk full). ``verify`` checks a container
(docs/evidence-container.md) or a segment with no database and no network: exit 0 when every
proof holds, 1 when one does not (each failure named), 2 for usage errors and a file that is
neither.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lienthong.cli.database import DatabaseOption, open_sessions
from lienthong.cli.keys import (
    MasterKeyFileOption,
    MasterKeyLabelOption,
    MasterKeyModuleOption,
    MasterKeyPinFileOption,
    MasterKeyTokenOption,
    sealed_sessions,
)
from lienthong.cli.output import console, err_console, fail
from lienthong.cli.reports import json_text, printable, safe
from lienthong.cli.sign import (
    CertOption,
    ChainOption,
    DigestOption,
    KeyLabelOption,
    KeyOption,
    PasswordOption,
    PinOption,
    Pkcs11ModuleOption,
    Pkcs12Option,
    SchemeOption,
    TokenOption,
)

if TYPE_CHECKING:
    from lienthong.evidence.archive import ArchivesAudit, SegmentReport
    from lienthong.security.file_keys import KeyFile
    from lienthong.security.selfcheck import Stapled
    from lienthong.security.signers import Signer

__all__ = ["evidence_app"]

evidence_app = typer.Typer(
    help="Nhật ký chứng cứ / The evidence store: audit the chain, show its state, archive it, "
    "export a dossier's proofs (ASiC-E) and verify them offline.",
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


EncryptKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--encrypt-key-file",
        help="The key file of encrypted segments (64 hex characters; lienthong backup key FILE).",
        exists=True,
        dir_okay=False,
    ),
]


def _segment_key(path: Path | None) -> KeyFile | None:
    from lienthong.security.file_keys import KeyFile
    from lienthong.security.sealed_files import SealedFileError

    if path is None:
        return None
    try:
        return KeyFile.read(path)
    except SealedFileError as problem:
        fail(problem.vi, problem.en)


@contextmanager
def _sealed_bodies() -> Iterator[None]:
    """A sealed body that cannot be opened (no master key, the wrong one, a changed value):
    the sealer's bilingual message and exit 2, never a traceback."""
    from lienthong.security.sealing import SealingError

    try:
        yield
    except SealingError as problem:
        fail(problem.vi, problem.en)


def _print_broken(first: Any) -> None:
    if first is not None:
        console.print(f"[red]Hỏng / Broken[/red]\n  {safe(first.vi)}\n  {safe(first.en)}")


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
    archives: Annotated[
        Path | None,
        typer.Option(
            "--archives",
            help="The folder of the chain's archive segments: walked first, then the database.",
            file_okay=False,
        ),
    ] = None,
    encrypt_key_file: EncryptKeyOption = None,
    master_key_file: MasterKeyFileOption = None,
    master_key_pkcs11_token: MasterKeyTokenOption = None,
    master_key_pkcs11_label: MasterKeyLabelOption = None,
    master_key_pin_file: MasterKeyPinFileOption = None,
    master_key_pkcs11_module: MasterKeyModuleOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Check every entry, link and time-stamped batch of a chain (with --archives, every
    segment first); exit 1 naming the first broken piece. Sealed bodies open with the master
    key (--master-key-* or LIENTHONG_MASTER_KEY_*)."""
    from lienthong.evidence.archive import audit_archives
    from lienthong.evidence.audit import audit_chain

    roots = _anchors(anchors)
    wrapper = _segment_key(encrypt_key_file)
    walked: ArchivesAudit | None = None
    with (
        sealed_sessions(
            database,
            master_key_file,
            master_key_pkcs11_token,
            master_key_pkcs11_label,
            master_key_pin_file,
            master_key_pkcs11_module,
        ) as sessions,
        sessions() as db,
        _sealed_bodies(),
    ):
        if archives is not None:
            walked = audit_archives(db, archives, side.value, roots, wrapper=wrapper)
        report = audit_chain(db, side.value, roots)
    first = walked.first if walked is not None else None
    first = first or report.first
    broken = not report.clean or (walked is not None and not walked.clean)
    if as_json:
        result = report.as_dict()
        if walked is not None:  # the first broken piece of the two, archives first
            result["archives"] = walked.as_dict()
            result["clean"] = not broken
            result["first"] = first.as_dict() if first is not None else None
        console.print(json_text(result), soft_wrap=True, markup=False)
    else:
        if walked is not None:
            console.print(
                f"[bold]{side.value}[/bold] lưu trữ / archives {safe(str(walked.directory))}: "
                f"{len(walked.segments)} đoạn / segments, {walked.entries} mục / entries"
            )
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
        if first is None:
            console.print("[green]Nguyên vẹn / Intact[/green]")
        else:
            _print_broken(first)
    if broken:
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
    from lienthong.evidence.status import archive_status, side_status
    from lienthong.hub.settings import HubSettings, SettingsError

    try:
        settings = HubSettings.from_env()
    except SettingsError as refused:
        fail(refused.vi, refused.en)
    window = settings.timestamp_fail_closed_hours * 3600
    stamping = bool(settings.tsa_url) and settings.evidence
    now = dt.datetime.now(dt.UTC)
    with open_sessions(database) as sessions, sessions() as db:
        states = [(side_status(db, side.value), archive_status(db, side.value)) for side in Side]
    retention = dt.timedelta(days=settings.evidence_retention_days)
    rows: list[dict[str, Any]] = []
    for state, archived in states:
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
                "archived_last_seq": archived.archived_last_seq,
                "last_segment": archived.last_segment,
                "archive_lag_seconds": archived.lag(now, retention),
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
        "retention_days": settings.evidence_retention_days,
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
    table.add_column("archived")
    table.add_column("archive lag")
    for row in rows:
        table.add_row(
            row["side"],
            str(row["entries"]),
            str(row["unstamped"]),
            _age(row["oldest_unstamped_age_seconds"]),
            str(row["batches"]),
            safe(row["last_timestamp_at"] or "-"),
            "[red]yes[/red]" if row["fail_closed"] else "no",
            str(row["archived_last_seq"]),
            _age(row["archive_lag_seconds"]),
        )
    console.print(table)


@evidence_app.command("archive")
def archive_command(
    to: Annotated[
        Path, typer.Option("--to", help="The archive folder the segments go to.", file_okay=False)
    ],
    database: DatabaseOption = None,
    side: Annotated[Side, typer.Option(help="Which chain.")] = Side.HUB,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            min=0,
            help="Days entries stay in the database (default LIENTHONG_EVIDENCE_RETENTION_DAYS, "
            "else 30).",
        ),
    ] = None,
    tsa_url: Annotated[
        str | None,
        typer.Option(
            "--tsa-url", envvar="LIENTHONG_TSA_URL", help="The time-stamp authority (RFC 3161)."
        ),
    ] = None,
    encrypt_key_file: EncryptKeyOption = None,
    segment_entries: Annotated[
        int, typer.Option("--segment-entries", min=1, help="Entries per segment at most.")
    ] = 10_000,
    cert: CertOption = None,
    key: KeyOption = None,
    pkcs12: Pkcs12Option = None,
    password: PasswordOption = None,
    module: Pkcs11ModuleOption = None,
    token: TokenOption = None,
    key_label: KeyLabelOption = None,
    pin: PinOption = None,
    chain: ChainOption = None,
    scheme: SchemeOption = None,
    digest: DigestOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the TSA.")] = 10.0,
    master_key_file: MasterKeyFileOption = None,
    master_key_pkcs11_token: MasterKeyTokenOption = None,
    master_key_pkcs11_label: MasterKeyLabelOption = None,
    master_key_pin_file: MasterKeyPinFileOption = None,
    master_key_pkcs11_module: MasterKeyModuleOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Move the chain's whole time-stamped batches older than the retention to segment files
    in --to, signed with the key of --cert/--key, --pkcs12 or --token (as `lienthong sign`;
    default: the hub's receipt key, LIENTHONG_RECEIPT_*) and time-stamped; then delete them
    from the database. A run cut short is finished by the next."""
    from lienthong.evidence.archive import ArchiveError, Archiver
    from lienthong.hub.settings import HubSettings, SettingsError
    from lienthong.security.signers import Pkcs11Signer

    if not tsa_url:
        fail(
            "cần máy chủ dấu thời gian (--tsa-url hoặc LIENTHONG_TSA_URL)",
            "a time-stamp authority is needed (--tsa-url or LIENTHONG_TSA_URL)",
        )
    if retention_days is None:
        try:
            retention_days = HubSettings.from_env().evidence_retention_days
        except SettingsError as refused:
            fail(refused.vi, refused.en)
        if retention_days < 0:
            fail(
                "LIENTHONG_EVIDENCE_RETENTION_DAYS phải từ 0 trở lên",
                "LIENTHONG_EVIDENCE_RETENTION_DAYS must be 0 or more",
            )
    wrapper = _segment_key(encrypt_key_file)
    signer = _archive_signer(
        cert, key, pkcs12, password, module, token, key_label, pin, chain, scheme, digest
    )
    assert signer is not None  # required: _archive_signer exits without one
    try:
        with (
            sealed_sessions(
                database,
                master_key_file,
                master_key_pkcs11_token,
                master_key_pkcs11_label,
                master_key_pin_file,
                master_key_pkcs11_module,
            ) as sessions,
            _sealed_bodies(),
        ):
            run = Archiver(
                sessions,
                to,
                signer=signer,
                tsa_url=tsa_url,
                side=side.value,
                retention=dt.timedelta(days=retention_days),
                wrapper=wrapper,
                segment_entries=segment_entries,
                timeout=timeout,
            ).run()
    except ArchiveError as problem:
        fail(problem.vi, problem.en, 75 if problem.retryable else 2)
    finally:
        if isinstance(signer, Pkcs11Signer):
            signer.close()
    if as_json:
        console.print(json_text(run.as_dict()), soft_wrap=True, markup=False)
        return
    for name in run.resumed:
        err_console.print(f"đã hoàn tất / finished: {safe(name)} (lần trước bị ngắt / cut short)")
    for name in run.set_aside:
        err_console.print(
            f"đã để riêng / set aside: {safe(name)}.unrecorded (chưa từng được ghi nhận / never "
            "recorded; its entries stayed in the database)"
        )
    for segment in run.segments:
        console.print(
            f"{safe(segment.name)}: {segment.first_seq}-{segment.last_seq} "
            f"({segment.count} mục / entries, {segment.batches} lô / batches"
            + (", mã hóa / encrypted" if segment.encrypted else "")
            + ")"
        )
    console.print(
        f"{len(run.segments)} đoạn mới / new segments; {run.deleted} mục đã xóa khỏi cơ sở dữ "
        f"liệu / entries deleted from the database (lưu giữ / retention {retention_days} ngày / "
        "days)"
    )


def _archive_signer(
    cert: Path | None,
    key: Path | None,
    pkcs12: Path | None,
    password: str | None,
    module: str | None,
    token: str | None,
    key_label: str | None,
    pin: str | None,
    chain: Path | None,
    scheme: str | None = None,
    digest: str | None = None,
    *,
    required: bool = True,
) -> Signer | None:
    """The key the `lienthong sign` options name, else the hub's receipt key
    (``LIENTHONG_RECEIPT_*``); when neither, exit 2 if ``required`` (segments are always
    signed), else None (a container may go unsigned: its proofs stand alone)."""
    from lienthong.cli.sign import open_signer
    from lienthong.hub.receipts import open_receipt_signer
    from lienthong.hub.settings import HubSettings, SettingsError

    if cert or key or pkcs12 or token:
        return open_signer(
            cert, key, pkcs12, password, module, token, key_label, pin, chain, scheme, digest
        )
    try:
        signer = open_receipt_signer(HubSettings.from_env())
    except SettingsError as refused:
        fail(refused.vi, refused.en)
    if signer is None and required:
        fail(
            "cần khóa ký các đoạn lưu trữ: --cert và --key, --pkcs12, --token, hoặc khóa biên "
            "nhận của hub (LIENTHONG_RECEIPT_*)",
            "a key is needed to sign the segments: --cert and --key, --pkcs12, --token, or the "
            "hub's receipt key (LIENTHONG_RECEIPT_*)",
        )
    return signer


def verify_segment_file(
    file: Path,
    anchors: list[Path] | None,
    intermediates: list[Path] | None,
    encrypt_key_file: Path | None,
    as_json: bool,
) -> None:
    """`lienthong evidence verify` of an archive segment (where the file is one:
    :func:`lienthong.evidence.archive.is_segment`): exit 0 when it holds, 1 naming the first
    broken piece, 2 when it cannot be read at all."""
    from lienthong.cli.verify import read_certificates
    from lienthong.evidence.archive import verify_segment

    roots = _anchors(anchors)
    others = read_certificates(intermediates or [], "chứng thư trung gian", "certificate")
    report = verify_segment(
        file, roots, intermediates=others, wrapper=_segment_key(encrypt_key_file)
    )
    _print_segment(report, as_json, bool(roots))
    if not report.clean:
        raise typer.Exit(1)


def _print_segment(report: SegmentReport, as_json: bool, anchored: bool) -> None:
    if as_json:
        console.print(json_text(report.as_dict()), soft_wrap=True, markup=False)
        return
    info = report.info
    console.print(
        f"Đoạn lưu trữ / archive segment {safe(report.name)}: {info.get('side', '?')} "
        f"{info.get('first_seq', '?')}-{info.get('last_seq', '?')}, {report.audit.entries} mục / "
        f"entries, {report.audit.batches} lô / batches"
        + (", mã hóa / encrypted" if report.encrypted else "")
    )
    if report.signature is not None and report.clean:
        console.print(f"  ký bởi / signed by: {safe(report.signature.signer or '?')}")
    if report.timestamp is not None:
        console.print(f"  dấu thời gian / time-stamp: {report.timestamp.time.isoformat()}")
    if not anchored:
        console.print(
            "  chỉ kiểm tra tính toàn vẹn (không có chứng thư gốc) / integrity only (no anchors)"
        )
    first = report.audit.findings[0] if report.audit.findings else None
    if first is None:
        console.print("[green]Nguyên vẹn / Intact[/green]")
    else:
        _print_broken(first)


def _exporter_check(signer: Signer | None) -> Stapled | None:
    """The exporter's key checked as the hub checks its receipt key (LIENTHONG_TRUST_ANCHORS):
    its OCSP answers, to staple; exit 2 for a revoked or expired key (nobody could trust the
    container's signature); None, said, without anchors or when the CA cannot be reached."""
    from lienthong.hub.receipts import receipt_self_check
    from lienthong.hub.settings import HubSettings, SettingsError

    if signer is None:
        return None
    try:
        check = receipt_self_check(signer, HubSettings.from_env())
    except SettingsError as refused:
        fail(refused.vi, refused.en)
    if check is None:
        err_console.print(
            "không có LIENTHONG_TRUST_ANCHORS: chữ ký của gói không kèm OCSP (kiểm tra ngoại tuyến "
            "không xác định được thu hồi) / no LIENTHONG_TRUST_ANCHORS: the container's signature "
            "carries no OCSP answer (offline, its revocation cannot be checked)"
        )
        return None
    if check.blocked:
        assert check.last_check is not None
        fail(
            f"khóa ký gói không dùng được: {check.last_check.vi}",
            f"the exporter's key may not sign: {check.last_check.en}",
        )
    if not check.stapled:
        err_console.print(
            "không lấy được OCSP của khóa ký: gói được ký không kèm OCSP / the key's OCSP answer "
            "could not be had: the container is signed without it"
        )
    return check.stapled or None


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
    master_key_file: MasterKeyFileOption = None,
    master_key_pkcs11_token: MasterKeyTokenOption = None,
    master_key_pkcs11_label: MasterKeyLabelOption = None,
    master_key_pin_file: MasterKeyPinFileOption = None,
    master_key_pkcs11_module: MasterKeyModuleOption = None,
) -> None:
    """Write the ASiC-E container of a dossier, a petition or one message, signed with the
    given key (the `lienthong sign` options) or the hub's receipt key (LIENTHONG_RECEIPT_*)."""
    from lienthong.evidence.export import ExportError, Selection, export_container
    from lienthong.security.signers import Pkcs11Signer

    selection = Selection(dossier=dossier, petition=petition, message=message, side=side)
    signer = _archive_signer(
        cert,
        key,
        pkcs12,
        password,
        pkcs11_module_path,
        token,
        key_label,
        pin,
        chain,
        required=False,
    )
    try:
        stapled = _exporter_check(signer)
        with (
            sealed_sessions(
                database,
                master_key_file,
                master_key_pkcs11_token,
                master_key_pkcs11_label,
                master_key_pin_file,
                master_key_pkcs11_module,
            ) as sessions,
            sessions() as db,
            _sealed_bodies(),
        ):
            data = export_container(
                db, selection, signer=signer, stapled=stapled, allow_unstamped=allow_unstamped
            )
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
        + (", kèm OCSP / OCSP stapled" if stapled else "")
        if signer is not None
        else "KHÔNG ký (chưa có khóa) / NOT signed (no key given)"
    )
    err_console.print(f"đã ghi / written: {safe(to)} ({len(data)} byte; {safe(signed)})")


@evidence_app.command("verify")
def verify_command(
    file: Annotated[
        Path, typer.Argument(help="The container (.asice) or archive segment (.zip).", exists=True)
    ],
    anchors: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor",
            "--anchors",
            help="A trusted root certificate file, PEM or DER (repeatable; a segment: default "
            "LIENTHONG_TRUST_ANCHORS).",
        ),
    ] = None,
    intermediates: Annotated[
        list[Path] | None,
        typer.Option("--intermediate", help="An intermediate certificate the file lacks."),
    ] = None,
    encrypt_key_file: EncryptKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a container or an archive segment with no database and no network. A container:
    who sent what, when it was received, the signature at its signing time, the time-stamp,
    its place in the log. A segment: its manifest's signature and time-stamp, every file,
    entry, link and batch."""
    from lienthong.cli.verify import read_certificates
    from lienthong.evidence.archive import is_segment
    from lienthong.evidence.container import ContainerError
    from lienthong.evidence.offline import render_report, verify_container

    if is_segment(file):
        verify_segment_file(file, anchors, intermediates, encrypt_key_file, as_json)
        return
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
