"""`lienthong backup key | create | verify | restore`: backups with legal value (issue 13;
docs/backups.md).

Exit codes: 0 done (verify: the backup holds); 1 verify found a problem; 2 usage, a wrong key,
a file that cannot be read, a target that is not empty; 75 (EX_TEMPFAIL) a retryable failure
(the time-stamp authority out of reach): try again later, nothing was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from cryptography import x509

from lienthong.cli.database import DatabaseOption, database_url, open_database, ready_database
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
    open_signer,
)
from lienthong.cli.verify import load_certificates
from lienthong.security.signers import Pkcs11Signer

if TYPE_CHECKING:  # the backup package is imported when a backup command runs
    from lienthong.backup import BackupError, BackupReport, KeyWrapper

__all__ = ["backup_app"]

#: sysexits' EX_TEMPFAIL: a failure that a later try may not meet.
RETRY_EXIT = 75
TSA_URL_ENV = "LIENTHONG_TSA_URL"

backup_app = typer.Typer(
    help="Backups: encrypted, signed and time-stamped snapshots of the database and archives.",
    no_args_is_help=True,
)

KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file", help="The backup key file (64 hex characters; lienthong backup key FILE)."
    ),
]
WrapTokenOption = Annotated[
    str | None, typer.Option("--wrap-token", help="Token (PKCS#11) holding the backup's AES key.")
]
WrapLabelOption = Annotated[
    str | None, typer.Option("--wrap-key-label", help="Label of the AES key on that token.")
]
WrapPinOption = Annotated[
    str | None,
    typer.Option("--wrap-pin", envvar="LIENTHONG_BACKUP_PIN", help="That token's user PIN."),
]
AnchorOption = Annotated[
    list[Path] | None,
    typer.Option("--anchor", help="A trusted root certificate, PEM or DER (repeatable)."),
]
IntermediateOption = Annotated[
    list[Path] | None,
    typer.Option("--intermediate", help="An intermediate certificate (repeatable)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _failed(problem: BackupError) -> NoReturn:
    fail(problem.vi, problem.en, RETRY_EXIT if problem.retryable else 2)


def _certificates(paths: list[Path] | None, *, required: bool) -> list[x509.Certificate]:
    if required and not paths:
        fail(
            "cần ít nhất một chứng thư gốc tin cậy (--anchor ROOT.pem)",
            "at least one trust anchor is needed (--anchor ROOT.pem)",
        )
    found: list[x509.Certificate] = []
    for path in paths or []:
        try:
            found += load_certificates(path.read_bytes())
        except (OSError, ValueError):
            fail(
                f"không đọc được chứng thư trong {path} (PEM hoặc DER)",
                f"cannot read a certificate from {path} (PEM or DER)",
            )
    return found


def _wrap_pin(pin: str | None) -> str:
    if pin is None:
        fail(
            "cần mã PIN của token (--wrap-pin hoặc LIENTHONG_BACKUP_PIN)",
            "the token's PIN is needed (--wrap-pin or LIENTHONG_BACKUP_PIN)",
        )
    return pin


@contextmanager
def _wrapper(
    key_file: Path | None,
    module: str | None,
    token: str | None,
    label: str | None,
    pin: str | None,
    *,
    required: bool = True,
) -> Iterator[KeyWrapper | None]:
    """The backup key the options name: a key file, or an AES key on a token."""
    from lienthong.backup import BackupError, KeyFile, TokenKey

    if key_file is not None and token is None:
        try:
            yield KeyFile.read(key_file)
        except BackupError as problem:
            _failed(problem)
        return
    if token is not None and label is not None and key_file is None:
        try:
            wrapper = TokenKey(module, token, _wrap_pin(pin), label)
        except BackupError as problem:
            _failed(problem)
        try:
            yield wrapper
        finally:
            wrapper.close()
        return
    if not required and key_file is None and token is None:
        yield None
        return
    fail(
        "chọn đúng một khóa sao lưu: --key-file, hoặc --wrap-token và --wrap-key-label",
        "choose exactly one backup key: --key-file, or --wrap-token and --wrap-key-label",
    )


@backup_app.command("key")
def key_command(
    file: Annotated[
        Path | None, typer.Argument(help="The new key file (never overwritten).")
    ] = None,
    module: Pkcs11ModuleOption = None,
    token: WrapTokenOption = None,
    label: WrapLabelOption = None,
    pin: WrapPinOption = None,
) -> None:
    """Make a backup key: a new key file (mode 0600), or an AES-256 key on a token that never
    leaves it (--wrap-token, --wrap-key-label). Prints the key's check value."""
    from lienthong.backup import BackupError, KeyFile, create_token_key

    try:
        if file is not None and token is None:
            check_value = KeyFile.generate(file).key_id()
            where = str(file)
        elif token is not None and label is not None and file is None:
            check_value = create_token_key(module, token, _wrap_pin(pin), label)
            where = f"token {token}, {label}"
        else:
            fail(
                "cho một tệp khóa, hoặc --wrap-token và --wrap-key-label",
                "give a key file, or --wrap-token and --wrap-key-label",
            )
    except BackupError as problem:
        _failed(problem)
    err_console.print(
        f"đã tạo khóa sao lưu / backup key made: {safe(where)} (mã kiểm tra / check value "
        f"{check_value}); giữ nó ngoài các bản sao lưu / keep it apart from the backups"
    )


@backup_app.command("create")
def create_command(
    to: Annotated[Path, typer.Option("--to", help="The backup file to write (a new file).")],
    database: DatabaseOption = None,
    archives: Annotated[
        Path | None, typer.Option("--archives", help="Folder of archive files to include.")
    ] = None,
    tsa_url: Annotated[
        str | None,
        typer.Option("--tsa-url", envvar=TSA_URL_ENV, help="The time-stamp authority (RFC 3161)."),
    ] = None,
    anchors: AnchorOption = None,
    key_file: KeyFileOption = None,
    wrap_token: WrapTokenOption = None,
    wrap_label: WrapLabelOption = None,
    wrap_pin: WrapPinOption = None,
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
) -> None:
    """Back up the database (and --archives) into one encrypted file, its manifest signed with
    the key of --cert/--key, --pkcs12 or --token (as `lienthong sign`) and time-stamped. With
    --anchor the signing certificate is checked first and its revocation data kept."""
    from lienthong.backup import BackupError, create_backup

    if not tsa_url:
        fail(
            f"cần máy chủ dấu thời gian (--tsa-url hoặc {TSA_URL_ENV})",
            f"a time-stamp authority is needed (--tsa-url or {TSA_URL_ENV})",
        )
    trusted = _certificates(anchors, required=False)
    with _wrapper(key_file, module, wrap_token, wrap_label, wrap_pin) as wrapper:
        assert wrapper is not None
        signer = open_signer(
            cert, key, pkcs12, password, module, token, key_label, pin, chain, scheme, digest
        )
        try:
            with open_database(database) as engine:
                created = create_backup(
                    to,
                    engine,
                    wrapper,
                    signer,
                    tsa_url,
                    anchors=trusted,
                    archives=archives,
                    timeout=timeout,
                )
        except BackupError as problem:
            _failed(problem)
        finally:
            if isinstance(signer, Pkcs11Signer):
                signer.close()
    tables = created.manifest["database"]["tables"]
    console.out(
        printable(
            f"Đã tạo bản sao lưu / backup written: {created.path}\n"
            f"  {len(created.manifest['parts'])} phần / parts, {sum(tables.values())} dòng / "
            f"rows in {len(tables)} bảng / tables\n"
            f"  ký bởi / signed by: {created.signer}\n"
            f"  dấu thời gian / time-stamped: {created.stamp.time.isoformat()} ({created.stamp.tsa})",
            multiline=True,
        )
    )


def _render(report: BackupReport) -> str:
    manifest = report.contents.manifest
    database = manifest["database"]
    signature = report.signature
    lines = [
        f"Bản sao lưu / Backup: {report.contents.path}",
        f"  Tạo lúc / created: {manifest.get('created_at')} (lienthong {manifest.get('lienthong')}, "
        f"{database['kind']}, revision {database.get('revision')})",
    ]
    if report.signature_ok:
        lines.append(
            f"  Chữ ký / signature: hợp lệ / valid: {signature.signer} "
            f"({signature.signing_time.isoformat() if signature.signing_time else '?'})"
        )
        if signature.status.value != "valid":
            lines.append(
                "    chưa biết tình trạng thu hồi khi ngoại tuyến / revocation unknown offline: "
                f"{signature.vi} / {signature.en}"
            )
    else:
        lines.append(
            f"  Chữ ký / signature: KHÔNG hợp lệ / NOT valid: {signature.vi} / {signature.en}"
        )
    stamp = report.timestamp
    if stamp is not None:
        lines.append(f"  Dấu thời gian / time-stamp: {stamp.time.isoformat()} ({stamp.tsa})")
    elif report.timestamp_problem is not None:
        problem = report.timestamp_problem
        lines.append(
            f"  Dấu thời gian / time-stamp: KHÔNG hợp lệ / NOT valid: {problem.vi} / {problem.en}"
        )
    key = manifest["key"]
    lines.append(
        f"  Khóa / key: {key['method']} {key['id']}"
        + (f" ({key['label']})" if key.get("label") else "")
        + (
            ": đã giải mã mọi phần / every part decrypted"
            if report.key_checked
            else ": chưa giải mã (không có khóa) / not decrypted (no key given)"
        )
    )
    lines.append("  Các phần / parts:")
    for part in report.parts:
        state = "OK" if part.ok else f"HỎNG / DAMAGED: {part.problem.vi} / {part.problem.en}"  # type: ignore[union-attr]
        lines.append(f"    {part.name} ({part.size} byte): {state}")
    for finding in report.problems:
        lines.append(f"  {finding.vi} / {finding.en}")
    lines.append(
        "Kết quả / result: " + ("HỢP LỆ / VALID" if report.ok else "KHÔNG HỢP LỆ / NOT VALID")
    )
    return "\n".join(lines) + "\n"


@backup_app.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    anchors: AnchorOption = None,
    intermediates: IntermediateOption = None,
    key_file: KeyFileOption = None,
    module: Pkcs11ModuleOption = None,
    wrap_token: WrapTokenOption = None,
    wrap_label: WrapLabelOption = None,
    wrap_pin: WrapPinOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a backup with no database and no network: the manifest's signature and
    time-stamp, every part's checksum, and with the key every chunk decrypted. Exit 0 when it
    holds, 1 when not."""
    from lienthong.backup import BackupError, verify_backup

    trusted = _certificates(anchors, required=True)
    others = _certificates(intermediates, required=False)
    with _wrapper(key_file, module, wrap_token, wrap_label, wrap_pin, required=False) as wrapper:
        try:
            report = verify_backup(file, trusted, wrapper, intermediates=others)
        except BackupError as problem:
            _failed(problem)
    if as_json:
        console.out(json_text(report.as_dict()))
    else:
        console.out(printable(_render(report), multiline=True), end="")
    raise typer.Exit(0 if report.ok else 1)


@backup_app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    database: DatabaseOption = None,
    anchors: AnchorOption = None,
    intermediates: IntermediateOption = None,
    key_file: KeyFileOption = None,
    module: Pkcs11ModuleOption = None,
    wrap_token: WrapTokenOption = None,
    wrap_label: WrapLabelOption = None,
    wrap_pin: WrapPinOption = None,
    archives_to: Annotated[
        Path | None,
        typer.Option("--archives-to", help="Folder to write the archive files back into."),
    ] = None,
) -> None:
    """Verify a backup, then restore it into a fresh (empty) SQLite or PostgreSQL database;
    a database that holds any table is refused, nothing is overwritten."""
    from lienthong.backup import BackupError, restore_backup

    trusted = _certificates(anchors, required=True)
    others = _certificates(intermediates, required=False)
    url = database_url(database)
    ready_database(url)
    with _wrapper(key_file, module, wrap_token, wrap_label, wrap_pin) as wrapper:
        assert wrapper is not None
        try:
            restored = restore_backup(
                file, url, trusted, wrapper, intermediates=others, archives_to=archives_to
            )
        except BackupError as problem:
            _failed(problem)
    lines = [
        f"Đã khôi phục / restored: {file} -> {database_url(database)}",
        f"  {sum(restored.tables.values())} dòng / rows in {len(restored.tables)} bảng / tables,"
        " khớp bản kê / matching the manifest",
    ]
    if restored.archives:
        lines.append(f"  {len(restored.archives)} tệp lưu trữ / archive files -> {archives_to}")
    if restored.archives_skipped:
        lines.append(
            f"  {len(restored.archives_skipped)} tệp lưu trữ chưa khôi phục (thiếu --archives-to) "
            "/ archive files not restored (no --archives-to)"
        )
    console.out(printable("\n".join(lines), multiline=True))
