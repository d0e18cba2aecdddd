"""``lienthong accounts``: the hub's accounts (add, list, disable, enable, grant, revoke, bind,
bind-cert, passwd, ...).

Passwords come from ``--password-file`` or a hidden prompt (asked twice); they are never echoed,
printed or logged. Every command upgrades the database first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from lienthong.cli.database import DatabaseOption, open_database
from lienthong.cli.output import console, fail
from lienthong.cli.reports import json_text, safe
from lienthong.store import AccountError, Accounts, session_factory
from lienthong.store.db import database_problem
from lienthong.store.tables import Account

__all__ = ["accounts_app"]

accounts_app = typer.Typer(
    help="Tài khoản của hệ thống một cửa / Accounts of one-stop systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


T = TypeVar("T")

PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the password from this file (first line); default: prompt, hidden.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
UnitsOption = Annotated[
    list[str] | None,
    typer.Option("--unit", "-u", help="Agency code (mã đơn vị), repeatable."),
]
ServicesOption = Annotated[
    list[str] | None,
    typer.Option("--service", "-s", help="Service name (e.g. DongBoHoSoMC), repeatable."),
]


def _run(database: str | None, action: Callable[[Accounts], T]) -> T:
    with open_database(database) as engine:
        try:
            return action(Accounts(session_factory(engine)))
        except AccountError as exc:
            fail(exc.vi, exc.en)
        except SQLAlchemyError as exc:
            problem = database_problem(engine.url, exc)
            fail(problem.vi, problem.en)


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(
                f"không đọc được tệp mật khẩu {password_file}: {exc}",
                f"cannot read the password file {password_file}: {exc}",
            )
        password = text.splitlines()[0] if text else ""
    else:
        password = typer.prompt(
            "Mật khẩu / Password",
            hide_input=True,
            confirmation_prompt="Nhập lại / Repeat",
        )
    if not password:
        fail("mật khẩu trống", "the password is empty")
    return password


def _describe(account: Account) -> str:
    state = "tạm khóa / disabled" if account.disabled else "hoạt động / enabled"
    bound = f"; mạng / networks {', '.join(account.networks)}" if account.networks else ""
    form = f"; mã thành công / success code {account.success_code}" if account.success_code else ""
    strict = "; kiểm tra chặt / strict" if account.strict else ""
    signed = f"; chữ ký / signature {account.signature_mode}" if account.signature_mode else ""
    certificates = account.client_certificates or []
    certs = f"; chứng thư / certificates {', '.join(certificates)}" if certificates else ""
    return (
        f"{account.username}: đơn vị / units {', '.join(account.units) or '-'}; "
        f"dịch vụ / services {', '.join(account.services) or '-'}"
        f"{bound}{certs}{form}{strict}{signed}; {state}"
    )


@accounts_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name of the one-stop system.")],
    unit: Annotated[
        list[str],
        typer.Option("--unit", "-u", help="Agency code (mã đơn vị), repeatable; required."),
    ],
    service: ServicesOption = None,
    password_file: PasswordFileOption = None,
    database: DatabaseOption = None,
) -> None:
    """Tạo tài khoản / Create an account (all services unless --service is given)."""
    password = _read_password(password_file)
    account = _run(database, lambda accounts: accounts.add(username, password, unit, service))
    console.print(f"Đã tạo tài khoản / Account created: {safe(_describe(account))}")


@accounts_app.command("list")
def list_accounts(
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Liệt kê tài khoản / List the accounts."""
    accounts = _run(database, lambda accounts: accounts.list())
    if as_json:
        console.out(
            json_text(
                [
                    {
                        "username": account.username,
                        "units": list(account.units),
                        "services": list(account.services),
                        "networks": list(account.networks or []),
                        "disabled": account.disabled,
                        "success_code": account.success_code,
                        "strict": account.strict,
                        "signature_mode": account.signature_mode,
                        "client_certificates": list(account.client_certificates or []),
                    }
                    for account in accounts
                ]
            )
        )
        return
    table = Table(title="Tài khoản / Accounts")
    table.add_column("Tài khoản / Username")
    table.add_column("Đơn vị / Units")
    table.add_column("Dịch vụ / Services")
    table.add_column("Mạng / Networks")
    table.add_column("Chứng thư máy khách / Client certificates (SHA-256)")
    table.add_column("Tạm khóa / Disabled")
    table.add_column("Mã thành công / Success code")
    table.add_column("Kiểm tra chặt / Strict")
    for account in accounts:
        table.add_row(
            safe(account.username),
            "\n".join(safe(unit) for unit in account.units),
            "\n".join(safe(service) for service in account.services),
            "\n".join(safe(network) for network in account.networks or []) or "-",
            "\n".join(account.client_certificates or []) or "-",
            "có / yes" if account.disabled else "không / no",
            safe(account.success_code or "default"),
            "có / yes" if account.strict else "không / no",
        )
    console.print(table)


@accounts_app.command("disable")
def disable(username: Annotated[str, typer.Argument()], database: DatabaseOption = None) -> None:
    """Tạm khóa tài khoản / Disable an account (its logins are refused)."""
    account = _run(database, lambda accounts: accounts.disable(username))
    console.print(f"Đã khóa / Disabled: {safe(account.username)}")


@accounts_app.command("enable")
def enable(username: Annotated[str, typer.Argument()], database: DatabaseOption = None) -> None:
    """Mở khóa tài khoản / Enable an account again."""
    account = _run(database, lambda accounts: accounts.enable(username))
    console.print(f"Đã mở khóa / Enabled: {safe(account.username)}")


@accounts_app.command("grant")
def grant(
    username: Annotated[str, typer.Argument()],
    service: ServicesOption = None,
    unit: UnitsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Cấp thêm dịch vụ, đơn vị / Grant services and units ("*" = every service)."""
    if not service and not unit:
        fail("cần --service hoặc --unit", "give --service or --unit")
    account = _run(database, lambda accounts: accounts.grant(username, service or (), unit or ()))
    console.print(f"Đã cấp / Granted: {safe(_describe(account))}")


@accounts_app.command("revoke")
def revoke(
    username: Annotated[str, typer.Argument()],
    service: ServicesOption = None,
    unit: UnitsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Thu hồi dịch vụ, đơn vị / Revoke services and units."""
    if not service and not unit:
        fail("cần --service hoặc --unit", "give --service or --unit")
    account = _run(database, lambda accounts: accounts.revoke(username, service or (), unit or ()))
    console.print(f"Đã thu hồi / Revoked: {safe(_describe(account))}")


NetworksArgument = Annotated[
    list[str],
    typer.Argument(help="Client address or network (CIDR), e.g. 203.0.113.7 or 203.0.113.0/28."),
]


@accounts_app.command("bind")
def bind(
    username: Annotated[str, typer.Argument()],
    network: NetworksArgument,
    database: DatabaseOption = None,
) -> None:
    """Gắn tài khoản với mạng của hệ thống / Bind an account to its system's networks.

    Logins from them are exempt from the per-account failure limit, so that wrong logins from
    elsewhere cannot lock the system out (the limit per client address still applies)."""
    account = _run(database, lambda accounts: accounts.bind(username, network))
    console.print(f"Đã gắn / Bound: {safe(_describe(account))}")


@accounts_app.command("unbind")
def unbind(
    username: Annotated[str, typer.Argument()],
    network: NetworksArgument,
    database: DatabaseOption = None,
) -> None:
    """Bỏ gắn mạng / Remove bound networks."""
    account = _run(database, lambda accounts: accounts.unbind(username, network))
    console.print(f"Đã bỏ gắn / Unbound: {safe(_describe(account))}")


@accounts_app.command("bind-cert")
def bind_cert(
    username: Annotated[str, typer.Argument()],
    certificate: Annotated[
        Path,
        typer.Argument(
            help="The client certificate (PEM or DER) the system presents over TLS.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    database: DatabaseOption = None,
) -> None:
    """Gắn chứng thư số máy khách / Bind a client certificate to an account (mutual TLS).

    From then on the account logs in and calls only over a TLS connection to the hub that
    presents one of its bound certificates (the hub needs LIENTHONG_TLS_CLIENT_CA). Its
    sessions end now."""
    try:
        data = certificate.read_bytes()
    except OSError as exc:
        fail(
            f"không đọc được tệp {certificate}: {exc.strerror}",
            f"cannot read the file {certificate}: {exc.strerror}",
        )
    account, fingerprint = _run(
        database, lambda accounts: accounts.bind_certificate(username, data)
    )
    console.print(f"Đã gắn chứng thư / Certificate bound: {safe(account.username)} {fingerprint}")


@accounts_app.command("unbind-cert")
def unbind_cert(
    username: Annotated[str, typer.Argument()],
    fingerprint: Annotated[
        str,
        typer.Argument(help="SHA-256 fingerprint (hex; colons allowed), as accounts list shows."),
    ],
    database: DatabaseOption = None,
) -> None:
    """Bỏ gắn chứng thư số máy khách / Remove a bound client certificate."""
    account = _run(database, lambda accounts: accounts.unbind_certificate(username, fingerprint))
    console.print(f"Đã bỏ gắn chứng thư / Certificate unbound: {safe(_describe(account))}")


@accounts_app.command("passwd")
def passwd(
    username: Annotated[str, typer.Argument()],
    password_file: PasswordFileOption = None,
    database: DatabaseOption = None,
) -> None:
    """Đổi mật khẩu / Set a new password."""
    password = _read_password(password_file)
    account = _run(database, lambda accounts: accounts.set_password(username, password))
    console.print(f"Đã đổi mật khẩu / Password changed: {safe(account.username)}")


@accounts_app.command("success-code")
def success_code(
    username: Annotated[str, typer.Argument()],
    form: Annotated[
        str,
        typer.Argument(
            help='"0" (the string "0"), "00" (QCVN 120\'s table), "integer" (the number 0), '
            'or "default" for the hub\'s LIENTHONG_SUCCESS_CODE.'
        ),
    ],
    database: DatabaseOption = None,
) -> None:
    """Mã thành công trả cho tài khoản / How answers to the account spell success.

    Real clients differ: one compares error_code with the string "0", OpenCPS parses an
    integer, none accepts "00". Its sessions go on."""
    chosen = None if form == "default" else form
    account = _run(database, lambda accounts: accounts.set_success_code(username, chosen))
    console.print(
        f"Mã thành công / Success code: {safe(account.username)} -> "
        f"{safe(account.success_code or 'default')}"
    )


@accounts_app.command("strict")
def strict(
    username: Annotated[str, typer.Argument()],
    mode: Annotated[str, typer.Argument(help='"on" or "off".')],
    database: DatabaseOption = None,
) -> None:
    """Kiểm tra chặt dữ liệu của tài khoản / Validate the account's pushes strictly.

    On: the deviations the hub takes from real clients with a warning (a dossier returned
    without NgayTra, another record layout, a percentage that is not a number, the sender's own
    codes, unknown fields) refuse the record instead. Its sessions go on."""
    if mode not in ("on", "off"):
        fail(f"{mode!r}: chọn on hoặc off", f"{mode!r}: choose on or off")
    account = _run(database, lambda accounts: accounts.set_strict(username, mode == "on"))
    console.print(f"Kiểm tra chặt / Strict: {safe(account.username)} -> {mode}")


@accounts_app.command("signature")
def signature(
    username: Annotated[str, typer.Argument()],
    mode: Annotated[
        str,
        typer.Argument(
            help='"required", "if-present", "off", or "default" for the service\'s or the '
            "hub's mode (LIENTHONG_SIGNATURE_SERVICES, LIENTHONG_SIGNATURE_MODE)."
        ),
    ],
    database: DatabaseOption = None,
) -> None:
    """Chữ ký số của tài khoản / Whether the account's envelopes must be signed.

    required: unsigned envelopes are refused (code 50); if-present: a signature is verified
    when there is one; off: none is verified. Its sessions go on."""
    chosen = None if mode == "default" else mode
    account = _run(database, lambda accounts: accounts.set_signature_mode(username, chosen))
    console.print(
        f"Chữ ký số / Signature: {safe(account.username)} -> "
        f"{safe(account.signature_mode or 'default')}"
    )
