"""The first run: every command that opens a database or a port says what is wrong in
Vietnamese and English and exits 2 (never a traceback, never a silently created folder); output
into a pipe is never cut.

The commands run as real processes (``python -m lienthong.cli.main``), as a user starts them:
the streams, the exit code and the absence of a traceback are what the user sees."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lienthong.store import Accounts, make_engine, session_factory, upgrade
from lienthong.store.testing import postgresql_url
from tests.hub.conftest import free_port

COMMANDS = {
    "hub": ["hub"],
    "accounts": ["accounts", "list"],
    "log": ["log", "tail"],
    "db": ["db", "upgrade"],
    "agent": ["agent", "status"],
}

#: A long name that a narrow table would cut or fold.
LONG = "mcdt-" + "rat-dai-" * 12 + "het"


def lienthong(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LIENTHONG_") and key != "COLUMNS"
    }
    environment.update({"COLUMNS": "30", "LIENTHONG_PORT": str(free_port())}, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "lienthong.cli.main", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def with_database(command: str, url: str) -> list[str]:
    if command == "agent":
        return ["agent", "--database", url, *COMMANDS[command][1:]]
    return [*COMMANDS[command], "--database", url]


def assert_bilingual_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    assert "Lỗi:" in result.stderr and "Error:" in result.stderr, output
    for needle in needles:
        assert needle in result.stderr, output
    assert "lienthong hub" not in result.stdout  # no banner before the error


def pg(user: str = "postgres", database: str = "test", port: int | None = None) -> str:
    """A URL on the test server with another user, database or port."""
    from sqlalchemy.engine import make_url

    url = make_url(postgresql_url())
    return url.set(username=user, database=database, port=port or url.port).render_as_string(
        hide_password=False
    )


CASES = {
    "unparseable": ("not a url", ["invalid database URL", "địa chỉ cơ sở dữ liệu không hợp lệ"]),
    "unknown-dialect": ("mysqlx://u@h/d", ["invalid database URL", "mysqlx://u@h/d"]),
    "unknown-role": (
        pg(user="lienthong_no_such_role"),
        ["role (user) lienthong_no_such_role does not exist", "createuser", "vai trò"],
    ),
    "unknown-database": (
        pg(database="lienthong_no_such_db"),
        ["the database lienthong_no_such_db does not exist", "createdb", "không tồn tại"],
    ),
    "unreachable": (
        pg(port=1),
        ["cannot reach the server", "không kết nối được máy chủ"],
    ),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_database_is_one_bilingual_error(command: str, case: str, tmp_path: Path) -> None:
    url, needles = CASES[case]
    result = lienthong(*with_database(command, url), cwd=tmp_path)
    assert_bilingual_exit_2(result, *needles)
    assert list(tmp_path.iterdir()) == []  # nothing created


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_sqlite_folder_that_does_not_exist_is_never_created(command: str, tmp_path: Path) -> None:
    url = "sqlite:///no/such/folder/x.db"
    result = lienthong(*with_database(command, url), cwd=tmp_path)
    assert_bilingual_exit_2(result, "mkdir -p no/such/folder", "không tự tạo thư mục")
    assert list(tmp_path.iterdir()) == []


def test_the_password_of_a_bad_url_is_never_shown(tmp_path: Path) -> None:
    url = pg(user="lienthong_no_such_role").replace(
        "lienthong_no_such_role@", "lienthong_no_such_role:s3cret@"
    )
    result = lienthong("accounts", "list", "--database", url, cwd=tmp_path)
    assert_bilingual_exit_2(result, "***")
    assert "s3cret" not in result.stdout + result.stderr


def test_the_default_database_folder_is_created_and_said(tmp_path: Path) -> None:
    result = lienthong("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created the folder var for the default database" in result.stderr
    assert (tmp_path / "var" / "lienthong.db").is_file()


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_hub_reports_a_port_in_use_before_any_banner(listening: int, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    result = lienthong("hub", "--port", str(listening), "--database", url, "--demo", cwd=tmp_path)
    assert_bilingual_exit_2(result, f"port {listening} is in use", f"cổng {listening}")
    assert not (tmp_path / "hub.db").exists()  # checked before the migrations


def test_agent_reports_a_port_in_use_before_any_banner(listening: int, tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "agent.db"}"\ndeliver = false\n', "utf-8"
    )
    result = lienthong(
        "agent", "--config", str(config), "run", "--port", str(listening), cwd=tmp_path
    )
    assert_bilingual_exit_2(result, f"port {listening} is in use")
    assert "lienthong agent" not in result.stdout


def test_agent_without_settings_points_at_config(tmp_path: Path) -> None:
    result = lienthong("agent", cwd=tmp_path)
    assert_bilingual_exit_2(result, "--config FILE", "--config TỆP")
    assert list(tmp_path.iterdir()) == []  # the settings are refused before any database


def test_hub_prints_its_url_and_database_without_demo(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    with subprocess.Popen(
        [sys.executable, "-m", "lienthong.cli.main", "hub", "--port", str(port), "--database", url],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
        finally:
            process.terminate()
            process.wait(30)
    assert f"http://127.0.0.1:{port}" in banner
    assert url in banner
    assert "demo account" not in banner


# -- output into a pipe is never cut --------------------------------------------------------------


def test_spec_list_in_a_pipe_prints_whole_names(tmp_path: Path) -> None:
    result = lienthong("spec", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("LayDanhSachHoiDapGuiTuDVCQG", "DongBoKetQuaHoiDapGuiTuDVCQG"):
        assert name in result.stdout
    assert "…" not in result.stdout
    listed = json.loads(lienthong("spec", "list", "--json", cwd=tmp_path).stdout)
    assert "LayDanhSachHoiDapGuiTuDVCQG" in [p["name"] for p in listed["packets"]]


def test_spec_show_in_a_pipe_keeps_descriptions_on_their_line(tmp_path: Path) -> None:
    result = lienthong("spec", "show", "DongBoHoSoMC", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "False = insert a new dossier, True = update an already synced dossier" in result.stdout


@pytest.fixture
def hub_database(tmp_path: Path) -> str:
    """A hub database with an account and a message-log entry of long names."""
    import datetime as dt

    from sqlalchemy import insert

    from lienthong.store.tables import MessageLog

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        Accounts(session_factory(engine)).add(LONG, "mật khẩu dài", ["000.00.00.H26"], None)
        with engine.begin() as connection:
            connection.execute(
                insert(MessageLog).values(
                    at=dt.datetime.now(dt.UTC),
                    endpoint="integration",
                    service="DongBoHoSoMC",
                    account=LONG,
                    duration_ms=1.0,
                    http_status=200,
                    error_code="00",
                )
            )
    finally:
        engine.dispose()
    return url


def test_log_tail_and_accounts_list_in_a_pipe_print_whole_names(
    hub_database: str, tmp_path: Path
) -> None:
    for command in (["log", "tail"], ["accounts", "list"]):
        result = lienthong(*command, "--database", hub_database, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert LONG in result.stdout, result.stdout
        assert "DongBoHoSoMC" in result.stdout or command[0] == "accounts"
    tail = json.loads(lienthong("log", "tail", "--json", "-d", hub_database, cwd=tmp_path).stdout)
    assert [(e["account"], e["service"], e["error_code"]) for e in tail] == [
        (LONG, "DongBoHoSoMC", "00")
    ]
    accounts = json.loads(
        lienthong("accounts", "list", "--json", "-d", hub_database, cwd=tmp_path).stdout
    )
    assert accounts == [
        {
            "username": LONG,
            "units": ["000.00.00.H26"],
            "services": ["*"],
            "networks": [],
            "disabled": False,
            "success_code": None,
            "strict": False,
            "signature_mode": None,
            "client_certificates": [],
        }
    ]


# -- the README's CLI tour ----------------------------------------------------------------------


def test_the_readme_cli_tour_runs_in_an_empty_folder(tmp_path: Path) -> None:
    """Every file the tour uses, it creates first; every command in it succeeds."""
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    tour = readme.split("## CLI tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tour],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "packet DongBoHoSoMC assumed from the field names" in result.stdout
    assert (tmp_path / "report.xml").is_file()


def test_an_unknown_packet_names_the_profile_as_a_configuration(tmp_path: Path) -> None:
    result = lienthong("spec", "show", "KhongCo", cwd=tmp_path)
    assert_bilingual_exit_2(result, "trong cấu hình qcvn120-2019", "in profile qcvn120-2019")
    assert "hồ sơ" not in result.stderr  # hồ sơ is a dossier, not a profile


@pytest.mark.parametrize(
    ("setting", "value", "needle"),
    [
        ("LIENTHONG_SUCCESS_CODE", "zero", "choose 0, 00, integer"),
        ("LIENTHONG_WORKERS", "two", "is not an integer"),
        ("LIENTHONG_SIGNATURE_MODE", "maybe", "choose required, if-present, off"),
        ("LIENTHONG_SIGNATURE_SERVICES", "DongBoHoSoMC", "must read Service=mode"),
        ("LIENTHONG_TRUST_ANCHORS", "khong-co.pem", "cannot read the trust anchor"),
    ],
)
def test_hub_names_a_setting_it_cannot_start_with(
    setting: str, value: str, needle: str, tmp_path: Path
) -> None:
    result = lienthong("hub", cwd=tmp_path, env={setting: value})
    assert_bilingual_exit_2(result, setting, needle)
