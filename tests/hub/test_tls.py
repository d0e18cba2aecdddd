"""The hub over HTTPS, and accounts bound to client certificates (mutual TLS), on SQLite and
PostgreSQL: a real hub behind uvicorn with the options `lienthong hub` gives it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from lienthong.hub.app import Hub
from lienthong.hub.settings import HubSettings
from lienthong.store.accounts import certificate_fingerprint
from lienthong.store.tables import MessageLog
from tests.hub.conftest import PASSWORD, UNIT, free_port, serve
from tests.tls_material import TLSMaterial, client_context, tls

__all__ = ["tls"]  # the fixture, imported for pytest

BOUND = "mot_cua_a"
UNBOUND = "mot_cua_khac"
LOOKUP = {"madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": "000.00.00.H56-260101-0001"}


@dataclass
class Hubs:
    """One hub's database behind two servers: HTTPS (client CA set) and plain HTTP."""

    hub: Hub
    https: str
    http: str
    tls: TLSMaterial

    def client(self, cert: str = "", *, plain: bool = False) -> httpx.Client:
        """A client over HTTPS presenting client certificate ``cert`` ("a", "b" or none), or
        over plain HTTP."""
        if plain:
            return httpx.Client(base_url=self.http, timeout=30)
        paths = {"a": (self.tls.client_a, self.tls.client_a_key)}
        paths["b"] = (self.tls.client_b, self.tls.client_b_key)
        context = client_context(self.tls, *paths[cert]) if cert else client_context(self.tls)
        return httpx.Client(base_url=self.https, timeout=30, verify=context)


@pytest.fixture
def hubs(engine: Engine, tls: TLSMaterial) -> Iterator[Hubs]:
    settings = HubSettings(
        port=free_port(),
        tls_certfile=str(tls.server),
        tls_keyfile=str(tls.server_key),
        tls_client_ca=str(tls.ca),
        login_failures_per_account=50,
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add(BOUND, PASSWORD, [UNIT])
    hub.accounts.bind_certificate(BOUND, tls.client_a.read_bytes())
    hub.accounts.add(UNBOUND, PASSWORD, [UNIT])
    plain = replace(settings, port=free_port(), tls_certfile="", tls_keyfile="", tls_client_ca="")
    with (
        serve(hub, settings, client_context(tls)) as secure,
        serve(hub, plain) as insecure,
    ):
        yield Hubs(hub, secure.base, insecure.base, tls)


def login(client: httpx.Client, username: str = BOUND) -> httpx.Response:
    return client.post("/api/login", json={"username": username, "password": PASSWORD})


def lookup(client: httpx.Client, session: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.post("/api/share", json={"session": session, **LOOKUP}).json()
    return answer


def test_the_hub_serves_https_with_hsts(hubs: Hubs) -> None:
    with hubs.client() as client:
        health = client.get("/healthz")
    assert health.status_code == 200
    assert health.url.scheme == "https"
    assert health.headers["strict-transport-security"].startswith("max-age=")


def test_a_bound_account_logs_in_only_with_its_certificate(hubs: Hubs) -> None:
    with (
        hubs.client("a") as with_a,
        hubs.client("b") as with_b,
        hubs.client() as without,
        hubs.client(plain=True) as plain,
    ):
        answer = login(with_a)
        refusals = {"none": login(without), "B": login(with_b), "plain HTTP": login(plain)}
        wrong = with_a.post("/api/login", json={"username": BOUND, "password": "sai"})
    assert answer.status_code == 200 and answer.json()["error_code"] == "0", answer.text
    for how, refused in refusals.items():
        assert refused.status_code == 401, how
        body = refused.json()
        assert body["error_code"] == "25", (how, body)
        assert body["retryable"] is False
        assert "Chứng thư số máy khách không khớp tài khoản" in body["message"]
        assert "session" not in body
    assert "presented none" in refusals["none"].json()["message_en"]
    fingerprint_b = certificate_fingerprint(hubs.tls.client_b.read_bytes())
    assert fingerprint_b in refusals["B"].json()["message_en"]
    # a wrong password says nothing of the binding
    assert wrong.json()["error_code"] == "20"


def test_a_bound_accounts_session_works_only_with_its_certificate(hubs: Hubs) -> None:
    with (
        hubs.client("a") as with_a,
        hubs.client("b") as with_b,
        hubs.client() as without,
        hubs.client(plain=True) as plain,
    ):
        session = login(with_a).json()["session"]
        found = lookup(with_a, session)
        others = {"none": without, "B": with_b, "plain": plain}
        elsewhere = {how: lookup(client, session) for how, client in others.items()}
    assert found["error_code"] == "0", found  # past the session: nothing found, no refusal
    for how, refused in elsewhere.items():
        assert refused["error_code"] == "25", (how, refused)
    with hubs.hub.sessions() as db:
        codes = db.scalars(select(MessageLog.error_code).where(MessageLog.endpoint == "share"))
        assert sorted(codes) == ["0", "25", "25", "25"]


def test_an_unbound_account_needs_no_certificate(hubs: Hubs) -> None:
    with hubs.client() as without, hubs.client("b") as with_b:
        for client in (without, with_b):
            answer = login(client, UNBOUND).json()
            assert answer["error_code"] == "0", answer
            assert lookup(client, answer["session"])["error_code"] == "0"


def test_unbinding_frees_the_account(hubs: Hubs) -> None:
    fingerprint = certificate_fingerprint(hubs.tls.client_a.read_bytes())
    as_tools_print_it = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    hubs.hub.accounts.unbind_certificate(BOUND, as_tools_print_it)
    with hubs.client() as without:
        assert login(without).json()["error_code"] == "0"


def test_the_adapters_token_applies_the_binding(hubs: Hubs) -> None:
    basic = base64.b64encode(f"{BOUND}:{PASSWORD}".encode()).decode()
    request = {
        "data": {"grant_type": "client_credentials"},
        "headers": {"Authorization": f"Basic {basic}"},
    }
    with hubs.client("a") as with_a, hubs.client() as without:
        granted = with_a.post("/lgsp/token", **request)
        refused = without.post("/lgsp/token", **request)
        token = granted.json()["access_token"]
        path = "/lgsp/KetNoiMotCuaQuocGia/TraCuuHoSo"
        params = {"MaDinhDanhDV": UNIT, "mahoso": LOOKUP["mahoso"]}
        bearer = {"Authorization": f"Bearer {token}"}
        call_with = with_a.get(path, params=params, headers=bearer)
        call_without = without.get(path, params=params, headers=bearer)
    assert granted.status_code == 200, granted.text
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert "certificate" in refused.json()["error_description_en"]
    assert call_with.json()["error_code"] != "25", call_with.text
    assert call_without.json()["error_code"] == "25", call_without.text
