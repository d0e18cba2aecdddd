"""Delivering through a provincial adapter (LGSP): the agent's client against a real HTTP fake
of the adapter on loopback, written from the wire (token endpoint, bare-array pushes with the
unit and ``isUpdating`` in the query, alias paths, shares under ``KetNoiMotCuaQuocGia`` with the
result as JSON text in ``message``). The outbox runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import logging
import secrets
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from lienthong.agent import Client
from lienthong.agent.api import create_app as create_agent_app
from lienthong.agent.classify import EnvelopeAction, classify_envelope
from lienthong.agent.delivery import DeliveryWorker
from lienthong.agent.lgsp import NOT_TAKEN, LgspClient, message_says_taken, push_answer
from lienthong.agent.outbox import NewRow, Outbox, record_identity
from lienthong.agent.portal import open_portal
from lienthong.agent.pulls import GLOBAL_UNIT, Puller
from lienthong.agent.service import AgentService
from lienthong.agent.settings import AgentSettings, PortalSettings
from lienthong.spec import load_catalog
from lienthong.store import session_factory
from tests.agent.conftest import (
    API_KEY,
    UNIT,
    agent_settings,
    demo_dossiers,
    free_port,
    serve,
    step,
    wait_until,
)

CLIENT_ID = "mcdt_thanhhoa"
CLIENT_SECRET = "bi-mat-cua-ung-dung-tinh"
SHARES = "KetNoiMotCuaQuocGia"
ALIASES: dict[str, tuple[str, bool | None]] = {
    "ThemMoiHoSo": ("DongBoHoSoMC", False),
    "CapNhatHoSo": ("DongBoHoSoMC", True),
    "CapNhatTienDo": ("CapNhatTienDoHoSoMC", None),
}
PROCEDURES = [
    {"MATTHC": "1.001", "TENTTHC": "Đăng ký khai sinh"},
    {"MATTHC": "1.002", "TENTTHC": "Đăng ký kết hôn"},
]


@dataclass
class Seen:
    """One request the adapter got."""

    method: str
    path: str
    """Relative to the adapter's prefix (``DongBoHoSoMC``, ``KetNoiMotCuaQuocGia/LayThuTuc``)."""
    query: dict[str, str]
    authorization: str
    body: Any


@dataclass
class FakeAdapter:
    """A provincial adapter in front of the portal, as the wire describes it (prefix ``/lgsp``)."""

    expires_in: int = 600
    message_only: bool = False
    """Answer pushes with a message only, no per-record ``records``."""
    refuse: set[str] = field(default_factory=set)
    """Dossier codes refused as invalid data (15)."""
    script: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)
    """Answers given to the next calls before anything else (None: a plain-text body)."""
    tokens: set[str] = field(default_factory=set)
    token_requests: list[Seen] = field(default_factory=list)
    calls: list[Seen] = field(default_factory=list)
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/lgsp/token", self.token, methods=["POST"]),
                Route(f"/lgsp/{SHARES}/{{service}}", self.share, methods=["GET"]),
                Route("/lgsp/{service}", self.push, methods=["POST"]),
            ]
        )

    def revoke(self) -> None:
        """Every token issued so far stops working (the adapter restarted, or they expired)."""
        with self.lock:
            self.tokens.clear()

    @property
    def issued(self) -> list[str]:
        return list(self.tokens)

    # -- the wire ------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        form = {name: values[0] for name, values in parse_qs(raw).items()}
        seen = Seen("POST", "token", form, request.headers.get("authorization", ""), raw)
        self.token_requests.append(seen)
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if seen.authorization != f"Basic {expected}":
            return JSONResponse(
                {
                    "error": "invalid_client",
                    "error_description": "Sai thông tin ứng dụng",
                    "error_description_en": "Wrong client credentials",
                    "retryable": False,
                },
                401,
                headers={"WWW-Authenticate": 'Basic realm="lienthong"'},
            )
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type", "retryable": False}, 400)
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.tokens.add(token)
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in},
            headers={"Cache-Control": "no-store"},
        )

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self.lock:
            return scheme == "Bearer" and token in self.tokens

    def _refused_token(self) -> Response:
        return JSONResponse(
            {
                "error_code": "22",
                "message": "Phiên làm việc không hợp lệ",
                "message_en": "Invalid session",
            },
            401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    def _scripted(self) -> Response | None:
        if not self.script:
            return None
        status, body = self.script.pop(0)
        if body is None:
            return PlainTextResponse("Service Unavailable", status)
        return JSONResponse(body, status)

    async def push(self, request: Request) -> Response:
        name = request.path_params["service"]
        raw = await request.body()
        seen = Seen(
            "POST",
            name,
            dict(request.query_params),
            request.headers.get("authorization", ""),
            orjson.loads(raw),
        )
        self.calls.append(seen)
        if not self._authorized(request):
            return self._refused_token()
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        service, implied = ALIASES.get(name, (name, None))
        unit = seen.query.get("MaDinhDanhDV")
        if not unit:
            return JSONResponse(
                {"error_code": "12", "message": "Thiếu MaDinhDanhDV", "message_en": "No unit"},
                400,
            )
        updating = (
            implied
            if implied is not None
            else seen.query.get("isUpdating", "False").lower() in ("true", "1")
        )
        records = seen.body if isinstance(seen.body, list) else [seen.body]
        outcomes = [self._record(service, updating, i, r) for i, r in enumerate(records)]
        taken = sum(1 for o in outcomes if o["status"] in ("accepted", "updated"))
        total = len(records)
        if taken == total:
            code, message = "0", f"Đồng bộ thành công {taken}/{total} bản ghi"
            message_en = f"{taken}/{total} records synchronised"
        else:
            code = "01" if taken else str(outcomes[0]["error_code"])
            message = f"Có {total - taken}/{total} bản ghi bị từ chối"
            message_en = f"{total - taken}/{total} records were refused"
        body: dict[str, Any] = {"error_code": code, "message": message, "message_en": message_en}
        if not self.message_only:
            body["records"] = outcomes
        return JSONResponse(body)

    def _record(
        self, service: str, updating: bool, index: int, record: dict[str, Any]
    ) -> dict[str, Any]:
        key = str(record.get("MaHoSo", ""))
        outcome: dict[str, Any] = {"index": index, "key": key}
        with self.lock:
            if key in self.refuse or not key:
                return {**outcome, "status": "rejected", "error_code": "15"}
            if service == "DongBoHoSoMC":
                if key in self.dossiers and not updating:
                    return {**outcome, "status": "exists", "error_code": "3"}
                status = "updated" if key in self.dossiers else "accepted"
                self.dossiers[key] = record
                return {**outcome, "status": status, "error_code": "0"}
            if service == "CapNhatTienDoHoSoMC" and key not in self.dossiers:
                return {**outcome, "status": "rejected", "error_code": "40"}
            self.steps.append(record)
            return {**outcome, "status": "accepted", "error_code": "0"}

    async def share(self, request: Request) -> Response:
        service = request.path_params["service"]
        query = {name.lower(): value for name, value in request.query_params.items()}
        self.calls.append(
            Seen(
                "GET",
                f"{SHARES}/{service}",
                dict(request.query_params),
                request.headers.get("authorization", ""),
                None,
            )
        )
        if not self._authorized(request):
            return self._refused_token()
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        if service == "LayDanhSachTTHC":
            result = PROCEDURES
        elif service == "LayThuTuc" and "matthc" in query:
            result = [p for p in PROCEDURES if p["MATTHC"] == query["matthc"]]
        elif service == "LayThuTuc":
            return JSONResponse(
                {
                    "error_code": "12",
                    "message": "Thiếu tham số maTTHC",
                    "message_en": "maTTHC is required",
                    "retryable": False,
                },
                400,
            )
        else:
            return JSONResponse({"error_code": "13", "message": "Không có dịch vụ"}, 400)
        return JSONResponse({"error_code": "0", "message": orjson.dumps(result).decode()})


@pytest.fixture
def adapter() -> Iterator[tuple[FakeAdapter, str]]:
    """The fake adapter, running; yields it and its base URL (``http://127.0.0.1:PORT/lgsp``)."""
    fake = FakeAdapter()
    with serve(fake.app(), free_port()) as url:
        yield fake, f"{url}/lgsp"


def lgsp_portal(base_url: str, **changes: Any) -> PortalSettings:
    return replace(
        PortalSettings(
            kind="lgsp",
            base_url=base_url,
            lgsp_client_id=CLIENT_ID,
            lgsp_client_secret=CLIENT_SECRET,
        ),
        **changes,
    )


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(session_factory(engine))


@pytest.fixture
def workers() -> Iterator[list[LgspClient]]:
    clients: list[LgspClient] = []
    yield clients
    for client in clients:
        client.close()


def make_worker(
    outbox: Outbox, portal: PortalSettings, clients: list[LgspClient]
) -> tuple[DeliveryWorker, LgspClient]:
    settings = AgentSettings(
        portal=portal, batch_size=10, backoff_base_seconds=0.001, backoff_max_seconds=0.002
    )
    client = LgspClient(portal, timeout=5)
    clients.append(client)
    return DeliveryWorker(outbox, client, settings), client


def dossier(n: int, **fields: str) -> dict[str, Any]:
    return {"MaHoSo": f"000.00.13.H56-260302-{n:04d}", "TrangThaiHoSo": "2", **fields}


def queue(outbox: Outbox, service: str, records: list[dict[str, Any]], **params: str) -> list[int]:
    rows = []
    for record in records:
        key, order = record_identity(service, UNIT, record)
        rows.append(NewRow(service, UNIT, record, dict(params), "motcua", key, order))
    return outbox.enqueue(rows)


def states(outbox: Outbox, ids: list[int]) -> list[str]:
    return [row.state if row else "?" for row in map(outbox.get, ids)]


def deliver_due(worker: DeliveryWorker) -> None:
    """One round, once the rows' (millisecond) backoff has passed."""
    time.sleep(0.02)
    assert worker.deliver_once()


# -- the token ------------------------------------------------------------------------------------


def test_the_token_is_fetched_with_basic_reused_and_renewed_on_401(
    adapter: tuple[FakeAdapter, str],
) -> None:
    fake, base_url = adapter
    now = [1000.0]
    fake.expires_in = 100
    client = LgspClient(lgsp_portal(base_url), timeout=5, clock=lambda: now[0])
    try:
        for n in (1, 2):
            answer = client.integration("DongBoHoSoMC", UNIT, {"isUpdating": "False"}, [dossier(n)])
            assert answer.error_code == "00" and not answer.relogged
        [asked] = fake.token_requests
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        assert asked.authorization == f"Basic {basic}"
        assert asked.query == {"grant_type": "client_credentials"}
        [token] = fake.issued
        assert [call.authorization for call in fake.calls] == [f"Bearer {token}"] * 2

        fake.revoke()  # the adapter forgets it: 401, a new token once, the call again
        answer = client.integration("DongBoHoSoMC", UNIT, {"isUpdating": "False"}, [dossier(3)])
        assert answer.relogged and answer.body is not None
        assert answer.body["records"][0]["status"] == "accepted"
        assert len(fake.token_requests) == 2 and len(fake.calls) == 4
        assert fake.calls[2].authorization == f"Bearer {token}"
        assert fake.calls[3].authorization == f"Bearer {fake.issued[0]}"

        # renewed ahead of expiry (100 s, 10 s early), without a 401 first
        now[0] += 91
        client.integration("DongBoHoSoMC", UNIT, {"isUpdating": "False"}, [dossier(4)])
        assert len(fake.token_requests) == 3 and len(fake.calls) == 5
        info = client.session_info
        assert info is not None and info.logins == 3 and info.expires_in == 100
    finally:
        client.close()


def test_a_refused_client_waits_for_the_account_and_keeps_the_rows(
    adapter: tuple[FakeAdapter, str], outbox: Outbox, workers: list[LgspClient]
) -> None:
    fake, base_url = adapter
    worker, _ = make_worker(outbox, lgsp_portal(base_url, lgsp_client_secret="sai"), workers)
    ids = queue(outbox, "DongBoHoSoMC", [dossier(1)], isUpdating="False")
    assert worker.deliver_once()
    assert states(outbox, ids) == ["pending"] and not fake.calls
    last_error = outbox.state("delivery.last_error")
    assert last_error is not None and last_error["action"] == "wait_account"
    assert last_error["error_code"] == "invalid_client"


# -- pushes ---------------------------------------------------------------------------------------


def test_a_dossier_batch_goes_as_a_bare_array_with_the_unit_and_is_updating(
    adapter: tuple[FakeAdapter, str], outbox: Outbox, workers: list[LgspClient]
) -> None:
    fake, base_url = adapter
    worker, _ = make_worker(outbox, lgsp_portal(base_url), workers)
    records = [dossier(n) for n in range(1, 4)]
    ids = queue(outbox, "DongBoHoSoMC", records, isUpdating="False")
    assert worker.deliver_once()
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "DongBoHoSoMC")
    assert call.query == {"MaDinhDanhDV": UNIT, "isUpdating": "False"}
    assert call.body == records
    assert states(outbox, ids) == ["delivered"] * 3

    # a new version sent as "not updating": the adapter says it exists, the agent resends it
    # with isUpdating True
    changed = dossier(1, TrangThaiHoSo="5")
    [again] = queue(outbox, "DongBoHoSoMC", [changed], isUpdating="False")
    assert worker.deliver_once()
    assert states(outbox, [again]) == ["pending"]
    deliver_due(worker)
    assert fake.calls[-1].query == {"MaDinhDanhDV": UNIT, "isUpdating": "True"}
    row = outbox.get(again)
    assert row is not None and row.state == "delivered"
    assert row.last_answer is not None and row.last_answer["status"] == "updated"
    assert fake.dossiers[changed["MaHoSo"]]["TrangThaiHoSo"] == "5"


def test_per_record_outcomes_settle_each_row(
    adapter: tuple[FakeAdapter, str], outbox: Outbox, workers: list[LgspClient]
) -> None:
    fake, base_url = adapter
    worker, _ = make_worker(outbox, lgsp_portal(base_url), workers)
    records = [dossier(n) for n in range(1, 4)]
    fake.refuse = {records[1]["MaHoSo"]}
    ids = queue(outbox, "DongBoHoSoMC", records, isUpdating="False")
    assert worker.deliver_once()
    assert states(outbox, ids) == ["delivered", "dead", "delivered"]
    dead = outbox.get(ids[1])
    assert dead is not None and dead.last_answer is not None
    assert dead.last_answer["status"] == "rejected" and "rejected (15)" in (dead.last_error or "")
    # a step of a dossier the adapter does not have: refused for good (40)
    [orphan] = queue(
        outbox,
        "CapNhatTienDoHoSoMC",
        [step("000.00.13.H56-260302-9999", "20260302080000", "2", "x")],
    )
    assert worker.deliver_once()
    assert fake.calls[-1].query == {"MaDinhDanhDV": UNIT, "isUpdating": "False"}
    assert states(outbox, [orphan]) == ["dead"]


def test_alias_paths_for_adding_updating_and_progress(
    adapter: tuple[FakeAdapter, str], outbox: Outbox, workers: list[LgspClient]
) -> None:
    fake, base_url = adapter
    portal = lgsp_portal(
        base_url,
        lgsp_add_path="ThemMoiHoSo",
        lgsp_update_path="CapNhatHoSo",
        lgsp_progress_path="CapNhatTienDo",
    )
    worker, _ = make_worker(outbox, portal, workers)
    code = dossier(1)["MaHoSo"]
    ids = queue(outbox, "DongBoHoSoMC", [dossier(1)], isUpdating="False")
    ids += queue(outbox, "CapNhatTienDoHoSoMC", [step(code, "20260302080000", "2", "Tiếp nhận")])
    ids += queue(outbox, "DongBoHoSoMC", [dossier(1, TrangThaiHoSo="4")], isUpdating="False")
    for _ in range(4):  # add, progress, add (exists), update
        deliver_due(worker)
    assert [call.path for call in fake.calls] == [
        "ThemMoiHoSo",
        "CapNhatTienDo",
        "ThemMoiHoSo",
        "CapNhatHoSo",
    ]
    # the path says what isUpdating would: only the unit in the query
    assert all(call.query == {"MaDinhDanhDV": UNIT} for call in fake.calls)
    assert states(outbox, ids) == ["delivered"] * 3
    assert fake.dossiers[code]["TrangThaiHoSo"] == "4" and len(fake.steps) == 1


def test_a_message_only_answer_is_read_by_the_thanh_cong_rule(
    adapter: tuple[FakeAdapter, str], outbox: Outbox, workers: list[LgspClient]
) -> None:
    fake, base_url = adapter
    fake.message_only = True
    worker, _ = make_worker(outbox, lgsp_portal(base_url), workers)
    ids = queue(outbox, "DongBoHoSoMC", [dossier(n) for n in range(1, 4)], isUpdating="False")
    assert worker.deliver_once()
    assert states(outbox, ids) == ["delivered"] * 3  # "Đồng bộ thành công 3/3 bản ghi"

    records = [dossier(n) for n in range(4, 7)]
    fake.refuse = {records[0]["MaHoSo"]}
    ids = queue(outbox, "DongBoHoSoMC", records, isUpdating="False")
    assert worker.deliver_once()  # "Có 1/3 bản ghi bị từ chối": which one is unknown
    assert states(outbox, ids) == ["pending"] * 3
    row = outbox.get(ids[0])
    assert row is not None and row.last_error == "retry (01): 1/3 records were refused"

    # an adapter whose code says success while its message does not: not taken either
    fake.script = [(200, {"error_code": "0", "message": "Có 1/3 bản ghi bị từ chối"})]
    deliver_due(worker)
    assert states(outbox, ids) == ["pending"] * 3
    row = outbox.get(ids[0])
    assert row is not None and row.last_error == f"retry ({NOT_TAKEN}): Có 1/3 bản ghi bị từ chối"
    assert row.last_answer is not None and row.last_answer["adapter_error_code"] == "0"


def test_a_refusal_without_a_known_code_is_a_dead_letter_with_the_reason(
    adapter: tuple[FakeAdapter, str], outbox: Outbox, workers: list[LgspClient]
) -> None:
    fake, base_url = adapter
    worker, _ = make_worker(outbox, lgsp_portal(base_url), workers)
    fake.script = [(400, {"error_code": "-1", "message": "Trường NgayTiepNhan không hợp lệ"})]
    ids = queue(outbox, "DongBoHoSoMC", [dossier(1), dossier(2)], isUpdating="False")
    assert worker.deliver_once()
    assert states(outbox, ids) == ["dead"] * 2
    row = outbox.get(ids[0])
    assert row is not None and row.last_error == "dead (15): Trường NgayTiepNhan không hợp lệ"
    assert row.last_answer is not None and row.last_answer["adapter_error_code"] == "-1"


def test_unavailable_and_unreachable_adapters_are_retried(
    adapter: tuple[FakeAdapter, str], outbox: Outbox, workers: list[LgspClient]
) -> None:
    fake, base_url = adapter
    worker, _ = make_worker(outbox, lgsp_portal(base_url), workers)
    fake.script = [(503, None), (502, {"error_code": "99", "message": "Lỗi hệ thống"})]
    ids = queue(outbox, "DongBoHoSoMC", [dossier(1)], isUpdating="False")
    assert worker.deliver_once()
    row = outbox.get(ids[0])
    assert row is not None and row.state == "pending" and "http 503" in (row.last_error or "")
    deliver_due(worker)
    row = outbox.get(ids[0])
    assert row is not None and row.state == "pending" and "retry (99)" in (row.last_error or "")
    deliver_due(worker)
    assert states(outbox, ids) == ["delivered"]

    nowhere, _ = make_worker(outbox, lgsp_portal(f"http://127.0.0.1:{free_port()}/lgsp"), workers)
    [lost] = queue(outbox, "DongBoHoSoMC", [dossier(2)], isUpdating="False")
    assert nowhere.deliver_once()
    row = outbox.get(lost)
    assert row is not None and row.state == "pending"
    assert "unavailable" in (row.last_error or "") and row.attempts == 1


# -- shares ---------------------------------------------------------------------------------------


def test_a_share_goes_under_the_prefix_and_is_unwrapped_from_message(
    adapter: tuple[FakeAdapter, str], sessions: sessionmaker[Session]
) -> None:
    fake, base_url = adapter
    client = LgspClient(lgsp_portal(base_url), timeout=5)
    try:
        answer = client.share("LayThuTuc", UNIT, {"maTTHC": "1.002"})
        assert answer.error_code == "00" and answer.body is not None
        assert answer.body["result"] == [PROCEDURES[1]]
        [call] = fake.calls
        assert (call.method, call.path) == ("GET", f"{SHARES}/LayThuTuc")
        assert call.query == {"MaDinhDanhDV": UNIT, "maTTHC": "1.002"}

        refused = client.share("LayThuTuc", UNIT)
        assert refused.http_status == 400 and refused.error_code == "12"
        assert refused.body is not None and "result" not in refused.body

        # the pulls work unchanged: the list, then each procedure
        settings = agent_settings(base_url)
        puller = Puller(sessions, settings, load_catalog(), client)
        listed, details = puller.pull_now(["LayDanhSachTTHC"])
        assert listed.ok and listed.items == 2 and details.ok and details.items == 2
        stored = puller.store.get("LayThuTuc", GLOBAL_UNIT, "1.001")
        assert stored is not None and stored.record == PROCEDURES[0]
    finally:
        client.close()


# -- mapping, settings, secrets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "taken"),
    [
        ("Đồng bộ thành công 3/3 bản ghi", True),
        ("ĐỒNG BỘ THÀNH CÔNG", True),
        (unicodedata.normalize("NFD", "Đồng bộ thành công"), True),
        ("Đồng bộ không thành công", False),
        ("Có 1/3 bản ghi bị từ chối", False),
        ("", False),
    ],
)
def test_the_thanh_cong_rule(message: str, taken: bool) -> None:
    assert message_says_taken(message) is taken
    answer = push_answer(200, {"error_code": "0", "message": message}, False)
    action = classify_envelope(answer.http_status, answer.body, 3).action
    if message:
        assert (answer.error_code == "00") is taken
    expected = EnvelopeAction.PER_RECORD if taken or not message else EnvelopeAction.RETRY
    assert action is expected  # no message at all: the code decides, as on the envelope path


def test_open_portal_follows_the_kind() -> None:
    lgsp = open_portal(lgsp_portal("http://127.0.0.1:9/lgsp"))
    envelope = open_portal(PortalSettings(username="u", password="p"))
    try:
        assert isinstance(lgsp, LgspClient) and not isinstance(envelope, LgspClient)
    finally:
        lgsp.close()
        envelope.close()


def test_neither_the_secret_nor_the_token_is_logged(
    adapter: tuple[FakeAdapter, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, base_url = adapter
    caplog.set_level(logging.DEBUG)
    client = LgspClient(lgsp_portal(base_url), timeout=5)
    try:
        client.integration("DongBoHoSoMC", UNIT, {"isUpdating": "False"}, [dossier(1)])
        first = fake.issued
        fake.revoke()
        client.integration("DongBoHoSoMC", UNIT, {"isUpdating": "True"}, [dossier(1)])
        tokens = first + fake.issued
    finally:
        client.close()
    assert len(tokens) == 2 and "new one" in caplog.text
    for secret in (CLIENT_SECRET, *tokens, base64.b64encode(CLIENT_SECRET.encode()).decode()):
        assert secret not in caplog.text
    assert CLIENT_SECRET not in repr(client) and CLIENT_SECRET not in repr(client.settings)


# -- end to end -----------------------------------------------------------------------------------


def test_an_agent_configured_for_an_adapter_delivers_through_it(
    adapter: tuple[FakeAdapter, str], agent_engine: Engine
) -> None:
    fake, base_url = adapter
    settings = agent_settings(base_url, portal=lgsp_portal(base_url))
    service = AgentService(settings, engine=agent_engine)
    assert isinstance(service.portal, LgspClient)
    records = demo_dossiers(5)
    with (
        serve(create_agent_app(service), settings.port) as agent_url,
        Client(agent_url, API_KEY) as agent,
    ):
        assert agent.submit("DongBoHoSoMC", records, madonvi=UNIT, isUpdating="False").ok
        wait_until(lambda: service.outbox.summary().counts["delivered"] == 5, 30, "delivery")
    assert set(fake.dossiers) == {record["MaHoSo"] for record in records}
    assert all(call.query["MaDinhDanhDV"] == UNIT for call in fake.calls)
