"""Shared fixtures of the agent tests: a real hub and a real agent, each a uvicorn server on a
free local port, talking real HTTP; the agent's database is of the same kind as the hub's
(``[sqlite]`` and ``[postgresql]``, like the ``engine`` fixture)."""

from __future__ import annotations

import copy
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from lienthong.agent.api import create_app as create_agent_app
from lienthong.agent.portal import Portal, PortalClient, open_portal
from lienthong.agent.service import AgentService
from lienthong.agent.settings import AgentSettings, ApiKey, PortalSettings, hash_api_key
from lienthong.asgi_tls import uvicorn_tls_options
from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.app import create_app as create_hub_app
from lienthong.hub.settings import HubSettings
from lienthong.store import upgrade
from lienthong.store.testing import temporary_database
from tests.servers import serve_in_thread

UNIT = "000.00.00.H56"
OTHER_UNIT = "000.00.00.H60"
HUB_USER = "agent_thanhhoa"
HUB_PASSWORD = "mat-khau-cua-tac-tu"
API_KEY = "lta_test-key-of-the-one-stop-system"
OTHER_KEY = "lta_test-key-of-another-province"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Run an app with uvicorn on a loopback port in a thread (``https://`` with a certificate).
serve = serve_in_thread


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds (a deadline for delivery, not a performance check)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.05)


def agent_settings(hub_url: str, **changes: Any) -> AgentSettings:
    base = AgentSettings(
        port=free_port(),
        units=(UNIT,),
        api_keys=(
            ApiKey("motcua", hash_api_key(API_KEY), (UNIT, OTHER_UNIT)),
            ApiKey("lamdong", hash_api_key(OTHER_KEY), (OTHER_UNIT,)),
        ),
        portal=PortalSettings(base_url=hub_url, username=HUB_USER, password=HUB_PASSWORD),
        batch_size=50,
        backoff_base_seconds=0.05,
        backoff_max_seconds=0.5,
        poll_interval_seconds=0.05,
        request_timeout_seconds=10,
    )
    return replace(base, **changes)


@dataclass
class Pair:
    """A running hub and a running agent delivering to it."""

    hub: Hub
    hub_url: str
    agent: AgentService
    agent_url: str
    hub_http: httpx.Client

    def hub_lookup(self, mahoso: str) -> dict[str, Any]:
        login = self.hub_http.post(
            "/api/login", json={"username": HUB_USER, "password": HUB_PASSWORD}
        ).json()
        answer = self.hub_http.post(
            "/api/share",
            json={
                "session": login["session"],
                "madonvi": UNIT,
                "service": "TraCuuHoSo",
                "mahoso": mahoso,
            },
        ).json()
        assert answer["error_code"] == "0", answer
        return answer

    def wait_settled(self, timeout: float = 30.0) -> None:
        """Until no row is pending (every row delivered or dead)."""
        wait_until(lambda: self.agent.outbox.summary().counts["pending"] == 0, timeout, "delivery")


@pytest.fixture
def agent_engine(
    request: pytest.FixtureRequest, tmp_path: Path, engine: Engine
) -> Iterator[Engine]:
    """The agent's own database, of the same kind as the hub's ``engine``."""
    kind = request.node.callspec.params.get("blank_engine", "sqlite")
    with temporary_database(kind, tmp_path / "agent") as agent_db:
        upgrade(agent_db)
        yield agent_db


@pytest.fixture
def start_pair(engine: Engine, agent_engine: Engine) -> Iterator[Callable[..., Pair]]:
    """``start_pair(session_ttl=..., clock=..., adapter=..., hub_changes=...,
    portal_changes=..., **agent settings)`` runs a hub (``hub_changes``: its settings) and an
    agent (``adapter``: delivering through the hub's provincial-adapter door;
    ``portal_changes``: its portal settings)."""
    stack: list[Any] = []

    def start(
        session_ttl: int = 1800,
        clock: Callable[[], float] | None = None,
        adapter: bool = False,
        hub_changes: dict[str, Any] | None = None,
        portal_changes: dict[str, Any] | None = None,
        **changes: Any,
    ) -> Pair:
        hub_settings = HubSettings(
            port=free_port(), session_ttl_seconds=session_ttl, **(hub_changes or {})
        )
        hub = Hub(hub_settings, engine=engine)
        hub.accounts.add(HUB_USER, HUB_PASSWORD, [UNIT])
        tls = (  # HTTPS when the hub's settings name a certificate
            uvicorn_tls_options(hub_settings.tls_certfile, hub_settings.tls_keyfile)
            if hub_settings.tls_certfile
            else {}
        )
        hub_server = serve(create_hub_app(hub_settings, hub=hub), hub_settings.port, **tls)
        hub_url = hub_server.__enter__()
        stack.append(hub_server)
        portal: Portal
        if adapter:  # through the hub's provincial-adapter door (LGSP), as a province would
            through = PortalSettings(
                kind="lgsp",
                base_url=f"{hub_url}/lgsp",
                username=HUB_USER,
                password=HUB_PASSWORD,
                **(portal_changes or {}),
            )
            settings = agent_settings(hub_url, portal=through, **changes)
            portal = open_portal(settings.portal, timeout=10)
        else:
            settings = agent_settings(hub_url, **changes)
            if portal_changes:
                settings = replace(settings, portal=replace(settings.portal, **portal_changes))
            portal = PortalClient(
                settings.portal, timeout=10, **({"clock": clock} if clock else {})
            )
        service = AgentService(settings, engine=agent_engine, portal=portal)
        agent_server = serve(create_agent_app(service), settings.port)
        agent_url = agent_server.__enter__()
        stack.append(agent_server)
        ca_file = (portal_changes or {}).get("ca_file")
        verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
        http = httpx.Client(base_url=hub_url, timeout=10, verify=verify)
        stack.append(http)
        return Pair(hub, hub_url, service, agent_url, http)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


# -- data ------------------------------------------------------------------------------------


def demo_dossiers(count: int) -> list[dict[str, Any]]:
    return [copy.deepcopy(record) for record in dossiers(count)]


def step(mahoso: str, when: str, status: str, content: str) -> dict[str, Any]:
    """One CapNhatTienDoHoSoMC record."""
    return {
        "MaHoSo": mahoso,
        "NguoiXuLy": "Lê Thị Bình",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": when,
        "PhongBanXuLy": "Bộ phận Một cửa",
        "NoiDungXuLy": content,
        "TrangThai": status,
        "NgayBatDau": "20260302080000",
        "NgayKetThucTheoQuyDinh": "20260305170000",
    }
