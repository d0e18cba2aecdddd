"""The agent over TLS (``[sqlite]`` and ``[postgresql]``): it delivers to an HTTPS hub whose
certificate it checks against ``portal.ca_file``, with its client certificate to an account bound
to it (mutual TLS), through the envelope door and the adapters' door; and it serves its own local
API over HTTPS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from lienthong.agent import Client
from lienthong.agent.api import create_app as create_agent_app
from lienthong.agent.service import AgentService
from lienthong.agent.settings import AgentSettings, PortalSettings, SettingsError
from lienthong.asgi_tls import uvicorn_tls_options
from lienthong.hub.app import Hub
from lienthong.hub.app import create_app as create_hub_app
from lienthong.hub.settings import HubSettings
from lienthong.store.tables import MessageLog
from tests.agent.conftest import (
    API_KEY,
    HUB_PASSWORD,
    HUB_USER,
    UNIT,
    agent_settings,
    demo_dossiers,
    free_port,
    serve,
    wait_until,
)
from tests.tls_material import TLSMaterial, client_context, tls

__all__ = ["tls"]  # the fixture, imported for pytest

BOUND_USER = "agent_mtls"


@dataclass
class Running:
    hub: Hub
    agent: AgentService
    agent_url: str


@pytest.fixture
def start(
    engine: Engine, agent_engine: Engine, tls: TLSMaterial
) -> Iterator[Callable[..., Running]]:
    """``start(**portal settings, agent_tls=False, adapter=False)``: an HTTPS hub (client
    certificates from the test CA, ``agent_mtls`` bound to certificate A) and an agent
    delivering to it as ``agent_mtls`` when it presents a certificate, else ``agent_thanhhoa``."""
    with ExitStack() as stack:

        def run(agent_tls: bool = False, adapter: bool = False, **portal: Any) -> Running:
            settings = HubSettings(
                port=free_port(),
                tls_certfile=str(tls.server),
                tls_keyfile=str(tls.server_key),
                tls_client_ca=str(tls.ca),
            )
            hub = Hub(settings, engine=engine)
            hub.accounts.add(HUB_USER, HUB_PASSWORD, [UNIT])
            hub.accounts.add(BOUND_USER, HUB_PASSWORD, [UNIT])
            hub.accounts.bind_certificate(BOUND_USER, tls.client_a.read_bytes())
            options = uvicorn_tls_options(str(tls.server), str(tls.server_key), str(tls.ca))
            hub_url = stack.enter_context(
                serve(create_hub_app(settings, hub=hub), settings.port, **options)
            )
            user = BOUND_USER if portal.get("client_cert_file") else HUB_USER
            base = f"{hub_url}/lgsp" if adapter else hub_url
            kind = "lgsp" if adapter else "envelope"
            chosen = PortalSettings(
                kind=kind, base_url=base, username=user, password=HUB_PASSWORD, **portal
            )
            agent = agent_settings(hub_url, portal=chosen)
            if agent_tls:
                agent = replace(
                    agent, tls_certfile=str(tls.server), tls_keyfile=str(tls.server_key)
                )
            service = AgentService(agent, engine=agent_engine)
            served = uvicorn_tls_options(agent.tls_certfile, agent.tls_keyfile) if agent_tls else {}
            agent_url = stack.enter_context(serve(create_agent_app(service), agent.port, **served))
            return Running(hub, service, agent_url)

        yield run


def submit(running: Running, count: int = 3, verify: Any = True) -> list[int]:
    with Client(running.agent_url, API_KEY, verify=verify) as agent:
        answer = agent.submit(
            "DongBoHoSoMC", demo_dossiers(count), madonvi=UNIT, isUpdating="False"
        )
    assert answer.ok, answer
    return [record.outbox_id or 0 for record in answer.records]


def delivered(running: Running, ids: list[int]) -> bool:
    rows = [running.agent.outbox.get(i) for i in ids]
    return all(row is not None and row.state == "delivered" for row in rows)


def test_delivers_to_an_https_hub_checked_against_its_ca(
    start: Callable[..., Running], tls: TLSMaterial
) -> None:
    running = start(ca_file=str(tls.ca))
    ids = submit(running)
    wait_until(lambda: delivered(running, ids), what="delivery over HTTPS")


def test_a_hub_the_ca_does_not_vouch_for_gets_nothing(
    start: Callable[..., Running], tls: TLSMaterial
) -> None:
    running = start(ca_file=str(tls.other_ca))
    ids = submit(running)
    outbox = running.agent.outbox

    def failed_twice() -> bool:
        rows = [outbox.get(i) for i in ids]
        return all(row is not None and row.attempts >= 2 for row in rows)

    wait_until(failed_twice, what="retries")
    rows = [outbox.get(i) for i in ids]
    assert all(row is not None and row.state == "pending" for row in rows)  # kept, retried
    error = rows[0].last_error if rows[0] is not None else None
    assert error is not None and "CERTIFICATE_VERIFY_FAILED" in error, error
    last = outbox.state("delivery.last_error")
    assert last is not None and last["action"] == "retry"
    with running.hub.sessions() as db:  # not even the login reached the hub
        assert db.scalar(select(func.count()).select_from(MessageLog)) == 0


@pytest.mark.parametrize("adapter", [False, True], ids=["envelope", "adapter"])
def test_delivers_with_its_client_certificate_to_a_bound_account(
    start: Callable[..., Running], tls: TLSMaterial, adapter: bool
) -> None:
    running = start(
        adapter=adapter,
        ca_file=str(tls.ca),
        client_cert_file=str(tls.client_a),
        client_key_file=str(tls.client_a_key),
    )
    ids = submit(running)
    wait_until(lambda: delivered(running, ids), what="delivery with a client certificate")


def test_with_another_certificate_a_bound_account_waits(
    start: Callable[..., Running], tls: TLSMaterial
) -> None:
    # the bound account's name, but certificate B: the hub answers 25, the rows wait
    running = start(ca_file=str(tls.ca), client_cert_file=str(tls.client_b),
                    client_key_file=str(tls.client_b_key))  # fmt: skip
    ids = submit(running, 2)
    outbox = running.agent.outbox
    wait_until(lambda: outbox.state("delivery.last_error") is not None, what="a refusal")
    last = outbox.state("delivery.last_error")
    assert last is not None and last["error_code"] == "25", last
    assert last["action"] == "wait_account"
    assert "The client certificate does not match the account" in last["message"]
    rows = [outbox.get(i) for i in ids]
    assert all(row is not None and row.state == "pending" for row in rows)


def test_the_local_api_over_https(start: Callable[..., Running], tls: TLSMaterial) -> None:
    running = start(agent_tls=True, ca_file=str(tls.ca))
    assert running.agent_url.startswith("https://")
    ids = submit(running, 1, verify=client_context(tls))
    wait_until(lambda: delivered(running, ids), what="delivery")


def test_unusable_tls_files_are_named(tls: TLSMaterial) -> None:
    with pytest.raises(SettingsError, match=r"portal\.ca_file: cannot use it"):
        PortalSettings(ca_file=str(tls.ca) + ".gone").tls()
    with pytest.raises(SettingsError, match=r"portal\.client_cert_file: cannot use it"):
        PortalSettings(
            client_cert_file=str(tls.client_a), client_key_file=str(tls.client_b_key)
        ).tls()
    with pytest.raises(SettingsError, match=r"portal\.client_key_file needs"):
        PortalSettings(client_key_file=str(tls.client_a_key)).tls()
    loaded = AgentSettings.load(
        environ={
            "LIENTHONG_AGENT_PORTAL_CA_FILE": str(tls.ca),
            "LIENTHONG_AGENT_TLS_CERTFILE": str(tls.server),
            "LIENTHONG_AGENT_WEBHOOK_CA_FILE": str(tls.ca),
        }
    )
    assert loaded.portal.ca_file == str(tls.ca) and loaded.tls_certfile == str(tls.server)
    assert loaded.webhook.ca_file == str(tls.ca)
    loaded.webhook.tls()
