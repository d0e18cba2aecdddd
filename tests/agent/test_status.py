"""What the agent shows about itself: ``GET /api/status``, ``GET /metrics`` (Prometheus) and
``lienthong agent status`` / ``stats show|send``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner, Result

from lienthong.agent import Client
from lienthong.agent.api import create_app
from lienthong.agent.service import AgentService
from lienthong.cli.main import app
from tests.agent.conftest import API_KEY, UNIT, Pair, agent_settings, demo_dossiers, free_port
from tests.agent.conftest import serve as serve_app
from tests.agent.test_stats import dossier


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_status_and_metrics_of_a_running_agent(start_pair: Callable[..., Pair]) -> None:
    pair = start_pair()
    records = demo_dossiers(3)
    # a dossier of a unit the hub account may not act for: refused for good (30)
    foreign = {**records[2], "MaHoSo": records[2]["MaHoSo"].replace("H56", "H60")}
    with Client(pair.agent_url, API_KEY) as agent:
        agent.submit("DongBoHoSoMC", records[:2], madonvi=UNIT, isUpdating="False")
        agent.submit("DongBoHoSoMC", [foreign], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()

    assert httpx.get(f"{pair.agent_url}/api/status").status_code == 401
    answer = httpx.get(f"{pair.agent_url}/api/status", headers={"X-API-Key": API_KEY})
    assert answer.status_code == 200
    status = answer.json()
    assert (status["queue_depth"], status["delivered"], status["dead_letters"]) == (0, 2, 1)
    assert status["oldest_pending_age_seconds"] is None and status["running"] is True
    [service] = status["services"]
    assert (service["service"], service["delivered"], service["dead"]) == ("DongBoHoSoMC", 2, 1)
    [dead] = status["dead_letter_rows"]
    assert dead["key"] == foreign["MaHoSo"] and dead["reason"].startswith("30")
    assert status["session"]["logged_in"] is True and status["session"]["logins"] == 1
    assert status["session"]["expires_at"] > status["session"]["logged_in_at"]
    assert status["last_success"]["service"] == "DongBoHoSoMC"
    assert status["worker_running"] is True

    metrics = _metrics(pair.agent_url)
    rows = "lienthong_agent_outbox_rows"
    assert metrics[(rows, (("service", "DongBoHoSoMC"), ("state", "delivered")))] == 2
    assert metrics[(rows, (("service", "DongBoHoSoMC"), ("state", "dead")))] == 1
    assert metrics[(rows, (("service", "DongBoHoSoMC"), ("state", "pending")))] == 0
    assert metrics[("lienthong_agent_dead_letters", ())] == 1
    assert metrics[("lienthong_agent_deliveries_total", (("service", "DongBoHoSoMC"),))] == 2
    assert metrics[("lienthong_agent_failed_attempts_total", (("service", "DongBoHoSoMC"),))] == 1
    assert metrics[("lienthong_agent_session_valid", ())] == 1
    assert metrics[("lienthong_agent_oldest_pending_age_seconds", ())] == 0
    assert metrics[("lienthong_agent_last_success_timestamp_seconds", ())] > 1.7e9


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_waiting_rows_status_page_access_and_the_command_line(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'agent.db'}"
    service = AgentService(
        agent_settings("http://127.0.0.1:9", database_url=database, deliver=False)
    )
    try:
        with (
            serve_app(create_app(service, manage_service=False), free_port()) as url,
            Client(url, API_KEY) as agent,
        ):
            base = demo_dossiers(2)
            agent.submit(
                "DongBoHoSoMC",
                [
                    dossier(base[0], "20261103080000", "20261115170000", "20261110090000"),
                    dossier(base[1], "20261020080000", "20261105170000"),
                ],
                madonvi=UNIT,
                isUpdating="False",
            )
            status = httpx.get(f"{url}/api/status", headers={"X-API-Key": API_KEY}).json()
            assert status["queue_depth"] == 2 and status["oldest_pending_age_seconds"] >= 0
            assert status["session"]["logged_in"] is False
            metrics = _metrics(url)
            assert metrics[("lienthong_agent_session_valid", ())] == 0
            key = (
                "lienthong_agent_outbox_rows",
                (("service", "DongBoHoSoMC"), ("state", "pending")),
            )
            assert metrics[key] == 2
    finally:
        service.stop()

    shown = cli("agent", "--database", database, "status", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["queue_depth"] == 2
    table = cli("agent", "--database", database, "status")
    assert table.exit_code == 0 and "DongBoHoSoMC" in table.output

    figures = cli(
        "agent", "--database", database, "stats", "show", "--unit", UNIT, "--month", "2026-11",
        "--json",
    )  # fmt: skip
    assert figures.exit_code == 0, figures.output
    [november] = json.loads(figures.output)
    assert (november["SoNhanTrongKy"], november["SoTonKyTruoc"]) == ("1", "1")
    assert (november["TongXuLyDungHan"], november["TongChuaXuLyTreHan"]) == ("1", "1")
    assert (
        cli("agent", "--database", database, "stats", "show", "--month", "11/2026").exit_code == 2
    )

    sent = cli("agent", "--database", database, "stats", "send", "--unit", UNIT, "-m", "2026-11")
    assert sent.exit_code == 0, sent.output
    assert "2026-11" in sent.output
    after = json.loads(cli("agent", "--database", database, "status", "--json").output)
    assert after["services"][1]["service"] == "DongBoThongKeHoSo"
    assert after["statistics_sent"][f"{UNIT}.2026-11"]["by"].startswith("cli:")


def test_status_page_and_metrics_are_refused_to_remote_callers_by_default(
    tmp_path: Path,
) -> None:
    async def codes(service: AgentService, peer: str) -> tuple[int, int]:
        transport = httpx.ASGITransport(create_app(service, manage_service=False), client=(peer, 5))
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
            return (await client.get("/")).status_code, (await client.get("/metrics")).status_code

    for access, remote, local in (("local", 403, 200), ("off", 404, 404), ("open", 200, 200)):
        settings = agent_settings(
            "http://127.0.0.1:9",
            database_url=f"sqlite:///{tmp_path / f'{access}.db'}",
            deliver=False,
            status_access=access,
        )
        service = AgentService(settings)
        try:
            assert anyio.run(codes, service, "192.0.2.7") == (remote, remote), access
            assert anyio.run(codes, service, "::1") == (local, local), access
        finally:
            service.stop()
