"""Stored text printed by the CLI (``log tail|show``, ``accounts list``, ``agent dlq|status``)
can never drive the terminal: control characters (C0, DEL, C1), bidi overrides and other
invisible characters come out as visible escapes, and square brackets as text, not rich markup.

The hostile values get into the databases the way an attacker would put them there where that
is possible (a login with such a username, over HTTP, is a row of the message log), and by SQL
where the hub refuses them (an account name with a control character)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner, Result

from lienthong.agent.outbox import RowOutcome
from lienthong.agent.service import AgentService
from lienthong.cli.main import app
from lienthong.cli.reports import json_text, printable, safe
from lienthong.hub.app import Hub
from lienthong.hub.settings import HubSettings
from lienthong.store import make_engine
from lienthong.store.tables import Account, MessageLog
from tests.agent.conftest import UNIT, agent_settings, demo_dossiers
from tests.hub.conftest import free_port, serve

#: Clears the screen, then turns the rest red and bold by rich markup, then reverses the text.
HOSTILE = "\x1b[2J\x1b[31m[bold]tran\u202enav\x9b2J\x07\x7f\r\u2028\U000e0041"
#: What no output may hold: the raw characters above.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\u2028\U000e0041]")


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def assert_inert(output: str) -> None:
    assert RAW.search(output) is None, repr(output)
    assert "\\x1b[2J" in output  # shown, escaped
    assert "[bold]" in output  # shown as text, not read as markup


def test_printable_escapes_what_a_terminal_acts_on_and_keeps_letters() -> None:
    assert printable("Đà Nẵng – Hồ sơ 12 ✓") == "Đà Nẵng – Hồ sơ 12 ✓"
    assert printable("a\x1bb\u202ec\ud800d\x9b\n") == "a\\x1bb\\u202ec\\ud800d\\x9b\\x0a"
    assert printable("a\nb\tc\rd", multiline=True) == "a\nb\tc\\x0dd"
    assert safe("[bold]x[/bold]") == "\\[bold]x\\[/bold]"
    value = {"ghi_chu": HOSTILE + "\ud800 Đà Nẵng"}
    text = json_text(value)
    assert RAW.search(text) is None and "Đà Nẵng" in text
    assert json.loads(text) == value


@pytest.fixture
def hub_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A hub database whose message log holds a login with a hostile username (over HTTP), an
    accepted push whose kept body holds the hostile text, and an account named with it."""
    monkeypatch.delenv("LIENTHONG_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = HubSettings(database_url=url, port=free_port())
    engine = make_engine(url)
    hub = Hub(settings, engine=engine)
    with serve(hub, settings) as running:
        answer = running.client.post(
            settings.login_path, json={"username": HOSTILE, "password": "x"}
        ).json()
        assert answer["error_code"] == "20"
    with engine.begin() as connection:
        connection.execute(
            insert(MessageLog).values(
                at=dt.datetime.now(dt.UTC),
                endpoint="integration",
                service="DongBoHoSoMC" + HOSTILE,
                unit=HOSTILE[:40],
                duration_ms=1.0,
                http_status=200,
                error_code="00",
                raw_body=json.dumps({"GhiChu": HOSTILE}, ensure_ascii=False).encode(),
            )
        )
        connection.execute(
            insert(Account).values(
                username=HOSTILE, password_hash="x", units=[HOSTILE], services=["*"]
            )
        )
        stored = connection.scalar(select(MessageLog.account).order_by(MessageLog.id).limit(1))
    assert stored == HOSTILE  # the login's row: the username as sent
    engine.dispose()
    yield url


def test_log_tail_escapes_stored_text(hub_database: str) -> None:
    result = cli("log", "tail", "--database", hub_database)
    assert result.exit_code == 0, result.output
    assert_inert(result.output)


def test_log_show_escapes_stored_text_and_the_kept_body(hub_database: str) -> None:
    for entry in ("1", "2"):
        result = cli("log", "show", entry, "--database", hub_database)
        assert result.exit_code == 0, result.output
        assert_inert(result.output)
    assert "GhiChu" in result.output


def test_accounts_list_escapes_stored_names(hub_database: str) -> None:
    result = cli("accounts", "list", "--database", hub_database)
    assert result.exit_code == 0, result.output
    assert_inert(result.output)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[AgentService, str]]:
    """An agent database with a dead letter whose portal answer holds the hostile text."""
    database = f"sqlite:///{tmp_path / 'agent.db'}"
    service = AgentService(
        agent_settings("http://127.0.0.1:9", database_url=database, deliver=False)
    )
    receipt = service.submit(
        {
            "service": "DongBoHoSoMC",
            "madonvi": UNIT,
            "isUpdating": "False",
            "data": demo_dossiers(1),
        },
        service.settings.api_keys[0],
    )
    row = receipt.records[0].outbox_id or 0
    answer = {"index": 0, "status": "rejected", "error_code": "30", "message_en": HOSTILE}
    service.outbox.settle([RowOutcome(row, "dead", answer, f"rejected (30): {HOSTILE}")])
    yield service, database
    service.stop()


def test_agent_dead_letters_and_status_escape_the_portals_text(
    agent: tuple[AgentService, str],
) -> None:
    _service, database = agent
    listed = cli("agent", "--database", database, "dlq", "list")
    assert listed.exit_code == 0, listed.output
    assert_inert(listed.output)
    status = cli("agent", "--database", database, "status")
    assert status.exit_code == 0, status.output
    assert_inert(status.output)
    shown = cli("agent", "--database", database, "dlq", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert RAW.search(shown.output) is None, repr(shown.output)
    assert json.loads(shown.output)["last_answer"]["message_en"] == HOSTILE  # same JSON value
    as_json = cli("agent", "--database", database, "status", "--json")
    assert as_json.exit_code == 0 and RAW.search(as_json.output) is None, repr(as_json.output)
    json.loads(as_json.output)
