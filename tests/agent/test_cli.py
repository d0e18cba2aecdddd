"""``lienthong agent key|submit|dlq`` on a SQLite agent database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lienthong.agent.api import create_app
from lienthong.agent.outbox import RowOutcome
from lienthong.agent.service import AgentService
from lienthong.agent.settings import hash_api_key
from lienthong.cli.main import app
from tests.agent.conftest import API_KEY, UNIT, agent_settings, demo_dossiers, serve, step


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'agent.db'}"


@pytest.fixture
def agent(database: str) -> Iterator[AgentService]:
    service = AgentService(
        agent_settings("http://127.0.0.1:9", database_url=database, deliver=False)
    )
    yield service
    service.stop()


def test_key_prints_a_new_key_and_only_its_hash_for_the_configuration() -> None:
    result = cli("agent", "key", "motcua", "--unit", UNIT)
    assert result.exit_code == 0, result.output
    key = next(word for word in result.output.split() if word.startswith("lta_"))
    assert f'key_sha256 = "{hash_api_key(key)}"' in result.output
    assert f'units = ["{UNIT}"]' in result.output


def test_submit_goes_through_the_local_api(agent: AgentService, tmp_path: Path) -> None:
    envelope_file = tmp_path / "hs.json"
    records = demo_dossiers(2)
    records[1]["TrangThaiHoSo"] = "11"
    envelope_file.write_text(
        json.dumps(
            {"service": "DongBoHoSoMC", "madonvi": UNIT, "isUpdating": "False", "data": records}
        ),
        encoding="utf-8",
    )
    steps_file = tmp_path / "steps.jsonl"
    steps_file.write_text(
        "\n".join(
            json.dumps(step(r["MaHoSo"], "20260302080000", "2", "Tiếp nhận")) for r in records[:1]
        ),
        encoding="utf-8",
    )
    with serve(create_app(agent), agent.settings.port) as url:
        mixed = cli("agent", "submit", str(envelope_file), "--url", url, "--key", API_KEY)
        assert mixed.exit_code == 1, mixed.output
        assert (
            "queued" in mixed.output and "invalid" in mixed.output and "field.code" in mixed.output
        )
        lines = cli(
            "agent",
            "submit",
            str(steps_file),
            "-s",
            "CapNhatTienDoHoSoMC",
            "-u",
            UNIT,
            "--url",
            url,
            "--key",
            API_KEY,
        )
        assert lines.exit_code == 0, lines.output
        refused = cli("agent", "submit", str(steps_file), "--url", url, "--key", "wrong")
        assert refused.exit_code == 2 and "--service" in refused.output
        bad_key = cli("agent", "submit", str(envelope_file), "--url", url, "--key", "wrong")
        assert bad_key.exit_code == 1 and "auth.key_invalid" in bad_key.output
    assert agent.outbox.summary().counts["pending"] == 2


def test_dead_letters_list_show_replay_drop(
    agent: AgentService, database: str, tmp_path: Path
) -> None:
    records = demo_dossiers(3)
    receipt = agent.submit(
        {"service": "DongBoHoSoMC", "madonvi": UNIT, "isUpdating": "False", "data": records},
        agent.settings.api_keys[0],
    )
    ids = [r.outbox_id or 0 for r in receipt.records]
    answer = {"index": 0, "status": "rejected", "error_code": "30", "message_en": "other unit"}
    agent.outbox.settle([RowOutcome(i, "dead", answer, "rejected (30): other unit") for i in ids])

    listed = cli("agent", "--database", database, "dlq", "list")
    assert listed.exit_code == 0, listed.output
    assert "dead letters: 3" in listed.output and records[0]["MaHoSo"] in listed.output

    shown = cli("agent", "--database", database, "dlq", "show", str(ids[0]))
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["last_answer"]["error_code"] == "30"

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**records[0], "NgayHenTra": "hôm qua"}), encoding="utf-8")
    refused = cli(
        "agent", "--database", database, "dlq", "replay", str(ids[0]), "--edited", str(broken)
    )
    assert refused.exit_code == 1 and "NgayHenTra" in refused.output

    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({**records[0], "GhiChu": "sửa"}), encoding="utf-8")
    replayed = cli(
        "agent",
        "--database",
        database,
        "dlq",
        "replay",
        str(ids[0]),
        "--edited",
        str(fixed),
        "--by",
        "nguyen.van.a",
        "--note",
        "sửa ghi chú",
    )
    assert replayed.exit_code == 0, replayed.output
    dropped = cli("agent", "--database", database, "dlq", "drop", str(ids[1]), "--by", "le.thi.b")
    assert dropped.exit_code == 0, dropped.output
    again = cli("agent", "--database", database, "dlq", "drop", str(ids[1]))
    assert again.exit_code == 1 and "not dead" in again.output
    everything = cli("agent", "--database", database, "dlq", "replay", "--all")
    assert everything.exit_code == 0 and "1 row(s)" in everything.output

    states = [row.state if row else None for row in map(agent.outbox.get, ids)]
    assert states == ["pending", "dropped", "pending"]
    row = agent.outbox.get(ids[0])
    assert row is not None and row.record["GhiChu"] == "sửa"
    audit = agent.outbox.actions(ids[0])
    assert [(a.action, a.by, a.note) for a in audit] == [("replay", "nguyen.van.a", "sửa ghi chú")]
    assert cli("agent", "--database", database, "dlq", "replay").exit_code == 2
