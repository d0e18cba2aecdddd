"""``lienthong accounts`` and ``lienthong db`` on a SQLite file, driven in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from lienthong.cli.accounts import accounts_app
from lienthong.cli.db import db_app
from lienthong.store import Accounts, head_revision, make_engine, session_factory

HANOI = "000.00.00.H26"
HANOI_DISTRICT = "000.00.01.H26"
SECRET = "Mật-khẩu rất bí mật 42"

app = typer.Typer()
app.add_typer(accounts_app, name="accounts")
app.add_typer(db_app, name="db")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("LIENTHONG_DATABASE_URL", raising=False)
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(SECRET + "\n", "utf-8")
    return path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input, env={"COLUMNS": "200"})


def accounts_of(database: str) -> Accounts:
    return Accounts(session_factory(make_engine(database)))


def test_db_upgrade_prints_the_revision(database: str) -> None:
    result = run("db", "upgrade", "--database", database)
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    assert f"phiên bản {head_revision()}" in result.output
    again = run("db", "upgrade", "--database", database)
    assert again.exit_code == 0, again.output


def test_database_url_from_the_environment(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", database)
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "hub.db" in result.output


def test_add_with_a_password_file(database: str, password_file: Path) -> None:
    result = run(
        "accounts", "add", "mcdt-hanoi",
        "--unit", HANOI, "--unit", HANOI_DISTRICT,
        "--service", "DongBoHoSoMC", "--service", "CapNhatTienDoHoSoMC",
        "--password-file", str(password_file),
        "--database", database,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mcdt-hanoi" in result.output
    assert SECRET not in result.output
    account = accounts_of(database).authenticate("mcdt-hanoi", SECRET)
    assert account is not None
    assert account.units == [HANOI, HANOI_DISTRICT]
    assert account.services == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]


def test_add_with_a_prompt_never_echoes_the_password(database: str) -> None:
    result = run(
        "accounts", "add", "a", "--unit", HANOI, "--database", database,
        input=f"{SECRET}\n{SECRET}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    account = accounts_of(database).authenticate("a", SECRET)
    assert account is not None and account.services == ["*"]


def test_the_prompt_asks_twice(database: str) -> None:
    result = run(
        "accounts", "add", "a", "--unit", HANOI, "--database", database,
        input="first\nsecond\nagain\nagain\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "first" not in result.output and "again" not in result.output
    assert accounts_of(database).authenticate("a", "again") is not None


def test_add_needs_a_unit(database: str, password_file: Path) -> None:
    result = run("accounts", "add", "a", "--password-file", str(password_file), "-d", database)
    assert result.exit_code == 2
    assert "--unit" in result.output


def test_add_refuses_an_invalid_unit(database: str, password_file: Path) -> None:
    result = run(
        "accounts", "add", "a", "--unit", "nope", "--password-file", str(password_file),
        "--database", database,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Lỗi:" in result.output and "Error:" in result.output
    assert "invalid unit code" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_add_refuses_a_duplicate(database: str, password_file: Path) -> None:
    args = ["accounts", "add", "a", "-u", HANOI, "--password-file", str(password_file)]
    assert run(*args, "-d", database).exit_code == 0
    result = run(*args, "-d", database)
    assert result.exit_code == 2
    assert "already exists" in result.output and "đã tồn tại" in result.output
    assert "Traceback" not in result.output


def test_add_refuses_an_empty_password_file(database: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", "utf-8")
    result = run("accounts", "add", "a", "-u", HANOI, "--password-file", str(empty), "-d", database)
    assert result.exit_code == 2
    assert "the password is empty" in result.output


def test_list(database: str, password_file: Path) -> None:
    pw = ["--password-file", str(password_file), "-d", database]
    assert run("accounts", "add", "mcdt-hanoi", "-u", HANOI, *pw).exit_code == 0
    assert (
        run("accounts", "add", "mcdt-hcm", "-u", "000.00.00.H29", "-s", "LayThuTuc", *pw).exit_code
        == 0
    )
    assert run("accounts", "disable", "mcdt-hcm", "-d", database).exit_code == 0
    result = run("accounts", "list", "--database", database)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    hanoi = next(line for line in lines if "mcdt-hanoi" in line)
    hcm = next(line for line in lines if "mcdt-hcm" in line)
    assert HANOI in hanoi and "*" in hanoi and "không / no" in hanoi
    assert "000.00.00.H29" in hcm and "LayThuTuc" in hcm and "có / yes" in hcm
    assert "scrypt" not in result.output


def test_disable_enable(database: str, password_file: Path) -> None:
    pw = ["--password-file", str(password_file), "-d", database]
    assert run("accounts", "add", "a", "-u", HANOI, *pw).exit_code == 0
    assert run("accounts", "disable", "a", "-d", database).exit_code == 0
    assert accounts_of(database).authenticate("a", SECRET) is None
    assert run("accounts", "enable", "a", "-d", database).exit_code == 0
    assert accounts_of(database).authenticate("a", SECRET) is not None


def test_grant_and_revoke(database: str, password_file: Path) -> None:
    pw = ["--password-file", str(password_file), "-d", database]
    assert run("accounts", "add", "a", "-u", HANOI, "-s", "DongBoHoSoMC", *pw).exit_code == 0
    result = run(
        "accounts", "grant", "a", "--service", "LayThuTuc", "--service", "DongBoHoSoMC",
        "--unit", HANOI_DISTRICT, "-d", database,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    account = accounts_of(database).get("a")
    assert account is not None
    assert account.services == ["DongBoHoSoMC", "LayThuTuc"]
    assert account.units == [HANOI, HANOI_DISTRICT]
    result = run(
        "accounts", "revoke", "a", "--service", "DongBoHoSoMC", "--unit", HANOI, "-d", database
    )
    assert result.exit_code == 0, result.output
    account = accounts_of(database).get("a")
    assert account is not None
    assert (account.services, account.units) == (["LayThuTuc"], [HANOI_DISTRICT])


def test_grant_needs_something_to_grant(database: str, password_file: Path) -> None:
    result = run("accounts", "grant", "a", "-d", database)
    assert result.exit_code == 2
    assert "--service" in result.output


def test_unknown_account(database: str) -> None:
    for command in (["disable", "ghost"], ["enable", "ghost"], ["grant", "ghost", "-s", "X"]):
        result = run("accounts", *command, "-d", database)
        assert result.exit_code == 2, command
        assert "không có tài khoản" in result.output and "no such account" in result.output


def test_passwd(database: str, password_file: Path, tmp_path: Path) -> None:
    assert (
        run(
            "accounts",
            "add",
            "a",
            "-u",
            HANOI,
            "--password-file",
            str(password_file),
            "-d",
            database,
        ).exit_code
        == 0
    )
    new = tmp_path / "new.txt"
    new.write_text("brand new password", "utf-8")
    result = run("accounts", "passwd", "a", "--password-file", str(new), "-d", database)
    assert result.exit_code == 0, result.output
    assert "brand new password" not in result.output
    accounts = accounts_of(database)
    assert accounts.authenticate("a", SECRET) is None
    assert accounts.authenticate("a", "brand new password") is not None
    prompted = run("accounts", "passwd", "a", "-d", database, input="third one\nthird one\n")
    assert prompted.exit_code == 0, prompted.output
    assert accounts_of(database).authenticate("a", "third one") is not None


def test_bad_database_urls_are_friendly(tmp_path: Path) -> None:
    result = run("accounts", "list", "--database", "nonsense://")
    assert result.exit_code == 2
    assert "Lỗi:" in result.output and "Error:" in result.output
    assert "Traceback" not in result.output


def test_unreachable_database_is_friendly_and_hides_the_password() -> None:
    result = run(
        "db",
        "upgrade",
        "--database",
        "postgresql://hub:s3cret@127.0.0.1:1/nowhere?connect_timeout=2",
    )
    assert result.exit_code == 2
    assert "cannot reach the server" in result.output
    assert "không kết nối được máy chủ" in result.output
    assert "s3cret" not in result.output


def test_bind_and_unbind_networks(database: str, password_file: Path) -> None:
    assert run("accounts", "add", "mcdt", "-u", HANOI, "--password-file", str(password_file),
               "--database", database).exit_code == 0  # fmt: skip
    bound = run(
        "accounts", "bind", "mcdt", "203.0.113.7", "198.51.100.9/28", "--database", database
    )
    assert bound.exit_code == 0, bound.output
    assert "203.0.113.7/32, 198.51.100.0/28" in bound.output
    listed = run("accounts", "list", "--database", database)
    assert "203.0.113.7/32" in listed.output and "198.51.100.0/28" in listed.output
    wide = run("accounts", "bind", "mcdt", "0.0.0.0/0", "--database", database)
    assert wide.exit_code != 0 and "quá rộng" in wide.output and "too wide" in wide.output
    gone = run("accounts", "unbind", "mcdt", "198.51.100.0/28", "--database", database)
    assert gone.exit_code == 0, gone.output
    account = accounts_of(database).get("mcdt")
    assert account is not None and account.networks == ["203.0.113.7/32"]


def test_success_code_sets_and_clears_an_accounts_form(database: str, password_file: Path) -> None:
    assert (
        run(
            "accounts",
            "add",
            "mc",
            "-u",
            HANOI,
            "--password-file",
            str(password_file),
            "--database",
            database,
        ).exit_code
        == 0
    )
    chosen = run("accounts", "success-code", "mc", "integer", "--database", database)
    assert chosen.exit_code == 0, chosen.output
    assert "mc -> integer" in chosen.output
    assert accounts_of(database).get("mc").success_code == "integer"  # type: ignore[union-attr]
    listed = run("accounts", "list", "--database", database)
    assert "integer" in listed.output
    cleared = run("accounts", "success-code", "mc", "default", "--database", database)
    assert cleared.exit_code == 0 and "mc -> default" in cleared.output
    assert accounts_of(database).get("mc").success_code is None  # type: ignore[union-attr]
    wrong = run("accounts", "success-code", "mc", "zero", "--database", database)
    assert wrong.exit_code == 2
    assert "choose 0, 00, integer" in wrong.output and "chọn 0, 00, integer" in wrong.output


def test_strict_turns_an_accounts_strict_validation_on_and_off(
    database: str, password_file: Path
) -> None:
    added = run(
        "accounts",
        "add",
        "mc",
        "-u",
        HANOI,
        "--password-file",
        str(password_file),
        "--database",
        database,
    )
    assert added.exit_code == 0, added.output
    on = run("accounts", "strict", "mc", "on", "--database", database)
    assert on.exit_code == 0 and "mc -> on" in on.output, on.output
    assert accounts_of(database).get("mc").strict is True  # type: ignore[union-attr]
    listed = run("accounts", "list", "--json", "--database", database)
    assert '"strict": true' in listed.output or '"strict":true' in listed.output
    off = run("accounts", "strict", "mc", "off", "--database", database)
    assert off.exit_code == 0
    assert accounts_of(database).get("mc").strict is False  # type: ignore[union-attr]
    wrong = run("accounts", "strict", "mc", "maybe", "--database", database)
    assert wrong.exit_code == 2 and "choose on or off" in wrong.output
