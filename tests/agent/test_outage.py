"""Outages end to end (``[sqlite]`` and ``[postgresql]``): what is killed runs as a real process.

(a) The hub is killed (SIGKILL) in the middle of a stream of submissions and started again on
    the same port and database: nothing is lost, each dossier's history is stored in the order
    it was submitted, nothing is stored twice.
(b) The agent (``lienthong agent run``) is killed (SIGKILL) with rows in its outbox, once while
    the hub is unreachable and once in the middle of delivering: after a restart everything is
    delivered, exactly once at the hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from lienthong.agent import Client
from lienthong.agent.api import create_app as create_agent_app
from lienthong.agent.service import AgentService
from lienthong.agent.settings import hash_api_key
from lienthong.hub.app import Hub
from lienthong.hub.app import create_app as create_hub_app
from lienthong.hub.settings import HubSettings
from lienthong.store import Accounts, session_factory
from lienthong.store.tables import AgentOutbox, Dossier, DossierEvent
from tests.agent.conftest import (
    API_KEY,
    HUB_PASSWORD,
    HUB_USER,
    UNIT,
    agent_settings,
    demo_dossiers,
    free_port,
    serve,
    step,
    wait_until,
)
from tests.servers import Server, process_url

STEPS = ("Tiếp nhận hồ sơ", "Thẩm định hồ sơ")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def hub_server(engine: Engine, tmp_path: Path, port: int | None = None) -> Server:
    Accounts(session_factory(engine)).add(HUB_USER, HUB_PASSWORD, [UNIT])
    port = port or free_port()
    args = ["hub", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return Server("hub", [*args, "--database", process_url(engine)], {}, port, tmp_path / "hub.log")


def agent_server(agent_engine: Engine, hub_url: str, tmp_path: Path, **extra: str) -> Server:
    port = free_port()
    env = {
        "LIENTHONG_AGENT_DATABASE_URL": process_url(agent_engine),
        "LIENTHONG_AGENT_HOST": "127.0.0.1",
        "LIENTHONG_AGENT_PORT": str(port),
        "LIENTHONG_AGENT_UNITS": UNIT,
        "LIENTHONG_AGENT_API_KEYS": f"motcua:{hash_api_key(API_KEY)}:{UNIT}",
        "LIENTHONG_AGENT_PORTAL_BASE_URL": hub_url,
        "LIENTHONG_AGENT_PORTAL_USERNAME": HUB_USER,
        "LIENTHONG_AGENT_PORTAL_PASSWORD": HUB_PASSWORD,
        "LIENTHONG_AGENT_BATCH_SIZE": "20",
        "LIENTHONG_AGENT_BACKOFF_BASE_SECONDS": "0.05",
        "LIENTHONG_AGENT_BACKOFF_MAX_SECONDS": "0.5",
        "LIENTHONG_AGENT_POLL_INTERVAL_SECONDS": "0.1",
        "LIENTHONG_AGENT_REQUEST_TIMEOUT_SECONDS": "5",
        **extra,
    }
    return Server("agent", ["agent", "run"], env, port, tmp_path / "agent.log")


def outbox_counts(agent_engine: Engine) -> dict[str, int]:
    with agent_engine.connect() as connection:
        rows = connection.execute(
            select(AgentOutbox.state, func.count()).group_by(AgentOutbox.state)
        )
        return {str(state): int(count) for state, count in rows}


def check_hub(
    engine: Engine, submitted: list[tuple[str, dict[str, Any]]], dossiers_sent: int
) -> None:
    """Everything submitted is at the hub once, each dossier's history in submission order."""
    codes = {record["MaHoSo"] for service, record in submitted if service == "DongBoHoSoMC"}
    steps = [(r["MaHoSo"], r["NoiDungXuLy"]) for s, r in submitted if s == "CapNhatTienDoHoSoMC"]
    assert len(codes) == dossiers_sent
    with engine.connect() as connection:
        stored = {
            row.ma_ho_so: row.record
            for row in connection.execute(select(Dossier.ma_ho_so, Dossier.record))
        }
        events = connection.execute(
            select(Dossier.ma_ho_so, DossierEvent.record)
            .join(DossierEvent, DossierEvent.dossier_id == Dossier.id)
            .order_by(DossierEvent.id)
        ).all()
    assert set(stored) == codes  # every dossier, once (the hub's rows are distinct dossiers)
    assert len(events) == len(set(steps)) == len(steps)  # every step, none twice
    for code in codes:
        history = [record["NoiDungXuLy"] for ma_ho_so, record in events if ma_ho_so == code]
        assert history == [content for mahoso, content in steps if mahoso == code], code
        versions = [r for s, r in submitted if s == "DongBoHoSoMC" and r["MaHoSo"] == code]
        assert stored[code] == versions[-1]  # the last version submitted is the current one


def stream(count: int) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """A one-stop system at work: (service, record, isUpdating) one change at a time. Each new
    dossier is followed by steps of the earlier ones, and some dossiers change again (sent as
    "not updating": the hub says "exists" and the agent resends it as an update)."""
    records = demo_dossiers(count)
    for i, record in enumerate(records):
        yield "DongBoHoSoMC", record, "False"
        if i >= 1:
            yield (
                "CapNhatTienDoHoSoMC",
                step(records[i - 1]["MaHoSo"], "20260302080000", "2", STEPS[0]),
                None,
            )
        if i >= 2:
            yield (
                "CapNhatTienDoHoSoMC",
                step(records[i - 2]["MaHoSo"], "20260302100000", "4", STEPS[1]),
                None,
            )
        if i >= 3 and i % 3 == 0:
            yield (
                "DongBoHoSoMC",
                {**records[i - 3], "TrangThaiHoSo": "4", "GhiChu": f"v{i}"},
                "False",
            )


def submit(client: Client, service: str, record: dict[str, Any], updating: str | None) -> None:
    params = {"isUpdating": updating} if updating is not None else {}
    result = client.submit(service, [record], madonvi=UNIT, **params)
    assert result.ok, result.records


def test_hub_killed_and_restarted_in_the_middle_of_a_stream(
    engine: Engine, agent_engine: Engine, tmp_path: Path, servers: list[Server]
) -> None:
    hub = hub_server(engine, tmp_path)
    servers.append(hub)
    hub.start()
    settings = agent_settings(hub.url, batch_size=10)
    agent = AgentService(settings, engine=agent_engine)
    changes = list(stream(30))
    submitted: list[tuple[str, dict[str, Any]]] = []

    def hub_dossiers() -> int:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Dossier)) or 0)

    with (
        serve(create_agent_app(agent), settings.port) as agent_url,
        Client(agent_url, API_KEY) as client,
    ):
        third = len(changes) // 3
        for service, record, updating in changes[:third]:
            submit(client, service, record, updating)
            submitted.append((service, record))
        wait_until(lambda: hub_dossiers() > 0, 30, "the first deliveries")
        hub.kill()  # mid-stream: the agent may be waiting for an answer right now
        for service, record, updating in changes[third : 2 * third]:
            submit(client, service, record, updating)  # the local API keeps taking them
            submitted.append((service, record))
        wait_until(
            lambda: (
                (agent.outbox.state("delivery.last_error") or {}).get("error_code") == "unavailable"
            ),
            30,
            "the agent to notice the outage",
        )
        assert outbox_counts(agent_engine).get("pending", 0) > 0
        hub.start()  # same port, same database
        for service, record, updating in changes[2 * third :]:
            submit(client, service, record, updating)
            submitted.append((service, record))
        wait_until(lambda: outbox_counts(agent_engine).get("pending", 0) == 0, 60, "delivery")
    counts = outbox_counts(agent_engine)
    assert counts == {"delivered": len(changes)}, counts
    check_hub(engine, submitted, 30)


def test_agent_killed_with_rows_in_its_outbox_delivers_them_once_after_restart(
    engine: Engine, agent_engine: Engine, tmp_path: Path, servers: list[Server]
) -> None:
    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"  # nothing listens there yet
    agent = agent_server(agent_engine, hub_url, tmp_path, LIENTHONG_AGENT_BATCH_SIZE="5")
    servers.append(agent)
    agent.start()
    changes = list(stream(60))
    first, second = changes[:40], changes[40:]
    submitted: list[tuple[str, dict[str, Any]]] = []
    with Client(agent.url, API_KEY) as client:
        for service, record, updating in first:
            submit(client, service, record, updating)
            submitted.append((service, record))
    assert outbox_counts(agent_engine) == {"pending": len(first)}
    agent.kill()  # with every row in the outbox

    agent.start()  # the same database, the hub still down: more rows join the outbox
    with Client(agent.url, API_KEY) as client:
        for service, record, updating in second:
            submit(client, service, record, updating)
            submitted.append((service, record))
    assert outbox_counts(agent_engine) == {"pending": len(changes)}

    Accounts(session_factory(engine)).add(HUB_USER, HUB_PASSWORD, [UNIT])
    hub_settings = HubSettings(port=hub_port)
    hub = Hub(hub_settings, engine=engine)
    with serve(create_hub_app(hub_settings, hub=hub), hub_port):
        # the hub is back: killed again, this time in the middle of delivering (batches of 5)
        wait_until(
            lambda: outbox_counts(agent_engine).get("delivered", 0) > 0, 30, "first deliveries"
        )
        agent.kill()
        at_kill = outbox_counts(agent_engine)
        assert at_kill.get("pending", 0) > 0, at_kill
        agent.start()
        wait_until(lambda: outbox_counts(agent_engine).get("pending", 0) == 0, 60, "delivery")
        agent.kill()
    counts = outbox_counts(agent_engine)
    assert counts == {"delivered": len(changes)}, counts
    check_hub(engine, submitted, 60)
