"""Pulls: storing and change detection, paging, the catalog, failures, settings; and end to end
over real HTTP: the hub has a petition and a question, the agent pulls them, a local webhook
receiver gets signed notifications, the local system answers through the agent, and the hub
shows them answered (``[sqlite]`` and ``[postgresql]``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lienthong.agent import Client
from lienthong.agent.portal import PortalClient
from lienthong.agent.pulls import GLOBAL_UNIT, PulledStore, Puller, item_key
from lienthong.agent.settings import AgentSettings, PullSettings, WebhookSettings
from lienthong.agent.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from lienthong.hub.petitions import submit_petition
from lienthong.hub.questions import submit_question
from lienthong.spec import load_catalog
from lienthong.store.tables import AgentWebhookDelivery, Petition, Question
from tests.agent.conftest import (
    API_KEY,
    HUB_PASSWORD,
    HUB_USER,
    OTHER_KEY,
    UNIT,
    Pair,
    agent_settings,
    free_port,
    serve,
    wait_until,
)

SECRET = "bi-mat-webhook-cua-mot-cua"
CATALOG = load_catalog()
PAKN = "DanhSachPAKNChoXuLy"


def _deliveries(sessions: sessionmaker[Session]) -> list[AgentWebhookDelivery]:
    with sessions() as db:
        return list(db.scalars(select(AgentWebhookDelivery).order_by(AgentWebhookDelivery.id)))


# -- storing ---------------------------------------------------------------------------------------


def test_new_changed_and_unchanged_items(sessions: sessionmaker[Session]) -> None:
    store = PulledStore(sessions)
    first = {"Id": "PAKN-000001", "TieuDe": "Ngập nước", "TrangThai": "1"}
    second = {"Id": "PAKN-000002", "TieuDe": "Đèn đường", "TrangThai": "1"}
    counts = store.store(PAKN, UNIT, [("PAKN-000001", first), ("PAKN-000002", second)])
    assert (counts.new, counts.changed, counts.unchanged) == (2, 0, 0)

    again = store.store(PAKN, UNIT, [("PAKN-000001", dict(reversed(list(first.items()))))])
    assert (again.new, again.changed, again.unchanged) == (0, 0, 1)  # key order does not matter

    moved = {**first, "TrangThai": "2"}
    changed = store.store(PAKN, UNIT, [("PAKN-000001", moved), ("PAKN-000002", second)])
    assert (changed.new, changed.changed, changed.unchanged) == (0, 1, 1)
    # the same key for another unit is another item
    assert store.store(PAKN, "000.00.00.H60", [("PAKN-000001", first)]).new == 1

    item = store.get(PAKN, UNIT, "PAKN-000001")
    assert item is not None and item.record == moved and item.first_seen_at <= item.updated_at
    events = [(d.event, d.payload["item_key"], d.payload["unit"]) for d in _deliveries(sessions)]
    assert events == [
        ("pulled.new", "PAKN-000001", UNIT),
        ("pulled.new", "PAKN-000002", UNIT),
        ("pulled.changed", "PAKN-000001", UNIT),
        ("pulled.new", "PAKN-000001", "000.00.00.H60"),
    ]
    assert _deliveries(sessions)[2].payload["record"] == moved


def test_a_key_twice_in_one_pull_and_no_webhook(sessions: sessionmaker[Session]) -> None:
    store = PulledStore(sessions, notify=False)
    counts = store.store(PAKN, UNIT, [("A", {"Id": "A", "v": 1}), ("A", {"Id": "A", "v": 2})])
    assert counts.new == 1
    item = store.get(PAKN, UNIT, "A")
    assert item is not None and item.record["v"] == 2
    assert _deliveries(sessions) == []


def test_item_keys() -> None:
    assert item_key({"Id": "PAKN-000007"}, "Id") == "PAKN-000007"
    assert item_key({"HOIDAPID": 1000000004}, "HOIDAPID") == "1000000004"
    keyless = item_key({"TEN": "Nam"}, "MAGIOITINH")
    assert keyless.startswith("sha256:") and keyless == item_key({"TEN": "Nam"}, None)


# -- pulling from a fake portal ----------------------------------------------------------------------


class FakePortal:
    """The portal's login and share endpoints over ``httpx.MockTransport``."""

    def __init__(self, data: dict[str, list[dict[str, Any]]]) -> None:
        self.data = data
        self.calls: list[dict[str, Any]] = []
        self.failures = 0
        """Answer this many share calls with HTTP 503 first."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        if request.url.path == "/api/login":
            return httpx.Response(
                200, json={"error_code": "00", "session": "s", "expires_in": 1800}
            )
        self.calls.append(body)
        if self.failures > 0:
            self.failures -= 1
            return httpx.Response(503, text="Service Unavailable")
        rows = self.data.get(body["service"], [])
        if body["service"] == "LayThuTuc":
            rows = [row for row in rows if row["MATTHC"] == body["maTTHC"]]
        if "trangHienTai" in body:
            page, size = int(body["trangHienTai"]), int(body["soBanGhiMoiTrang"])
            rows = rows[(page - 1) * size : page * size]
        return httpx.Response(200, json={"error_code": "00", "result": rows})

    def client(self, settings: AgentSettings) -> PortalClient:
        return PortalClient(
            settings.portal, password="x", transport=httpx.MockTransport(self.handler)
        )


def _settings(**pulls: Any) -> AgentSettings:
    base = agent_settings("http://portal.test")
    return replace(base, pulls=PullSettings(**pulls))


def test_paged_lists_and_the_catalog_round_robin(sessions: sessionmaker[Session]) -> None:
    fake = FakePortal(
        {
            PAKN: [{"Id": f"PAKN-{n:06d}", "TrangThai": "1"} for n in range(1, 6)],
            "LayDanhSachTTHC": [{"MATTHC": f"1.00{n}", "TENTTHC": f"TTHC {n}"} for n in range(3)],
            "LayThuTuc": [{"MATTHC": f"1.00{n}", "TENTTHC": f"TTHC {n}"} for n in range(3)],
            "LayDanhMucGioiTinh": [{"MAGIOITINH": "1", "TENGIOITINH": "Nam"}],
        }
    )
    settings = _settings(page_size=2, procedure_details=2, categories=("LayDanhMucGioiTinh",))
    puller = Puller(sessions, settings, CATALOG, fake.client(settings))
    try:
        [result] = puller.pull_now([PAKN])
        assert result.ok and result.items == 5 and result.counts.new == 5
        pages = [call["trangHienTai"] for call in fake.calls]
        assert pages == ["1", "2", "3"] and fake.calls[0]["soBanGhiMoiTrang"] == "2"

        listed, details = puller.pull_now(["LayDanhSachTTHC"])
        assert listed.ok and listed.items == 3 and details.ok and details.items == 2
        again = puller.pull_now(["LayDanhSachTTHC"])[1]  # the next two, wrapping round
        asked = [call["maTTHC"] for call in fake.calls if call["service"] == "LayThuTuc"]
        assert asked == ["1.000", "1.001", "1.002", "1.000"]
        assert again.counts.new == 1 and again.counts.unchanged == 1

        [category] = puller.pull_now(["LayDanhMucGioiTinh"])
        assert category.ok and category.unit == GLOBAL_UNIT
        assert puller.store.get("LayDanhMucGioiTinh", GLOBAL_UNIT, "1") is not None
        state = puller._state("pull.DanhSachPAKNChoXuLy")
        assert state is not None and state["items"] == 5 and state["new"] == 5
        assert "last_success_at" in state and state["failures"] == 0
    finally:
        puller.stop()


def test_a_portal_that_ignores_paging_is_not_asked_for_ever(
    sessions: sessionmaker[Session],
) -> None:
    fake = FakePortal({})
    rows = [{"Id": f"PAKN-{n:06d}"} for n in range(1, 3)]
    fake.handler = lambda request: (  # type: ignore[method-assign]
        httpx.Response(200, json={"error_code": "00", "session": "s", "expires_in": 1800})
        if request.url.path == "/api/login"
        else httpx.Response(200, json={"error_code": "00", "result": rows})
    )
    settings = _settings(page_size=2)
    puller = Puller(sessions, settings, CATALOG, fake.client(settings))
    try:
        [result] = puller.pull_now([PAKN])
    finally:
        puller.stop()
    assert result.ok and result.items == 2


def test_a_failing_pull_is_recorded_and_the_thread_goes_on(
    sessions: sessionmaker[Session],
) -> None:
    fake = FakePortal({PAKN: [{"Id": "PAKN-000001", "TrangThai": "1"}]})
    fake.failures = 2
    settings = _settings(
        pakn_interval_seconds=0.05,
        questions_interval_seconds=0,
        qa_sets_interval_seconds=0,
        catalog_interval_seconds=0,
        categories_interval_seconds=0,
    )
    puller = Puller(sessions, settings, CATALOG, fake.client(settings))
    seen: list[dict[str, Any]] = []

    def success() -> bool:
        state = puller._state("pull.DanhSachPAKNChoXuLy") or {}
        if state.get("last_error") and not seen:
            seen.append(state)
        return "last_success_at" in state

    puller.start()
    try:
        wait_until(success, 10, "a pull after the failures")
        assert puller.running
    finally:
        puller.stop()
    assert seen and "HTTP 503" in seen[0]["last_error"] and seen[0]["failures"] >= 1
    state = puller._state("pull.DanhSachPAKNChoXuLy")
    assert state is not None and state["failures"] == 0 and "last_error_at" in state
    assert puller.store.get(PAKN, UNIT, "PAKN-000001") is not None


# -- settings --------------------------------------------------------------------------------------


def test_pull_and_webhook_settings(tmp_path: Path) -> None:
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
units = ["{UNIT}"]
[portal]
username = "u"
[pulls]
enabled = true
pakn_interval_seconds = 30
categories = ["LayDanhMucGioiTinh"]
[webhook]
url = "http://127.0.0.1:9000/hook"
secret_file = "{secret_file}"
""",
        encoding="utf-8",
    )
    env = {
        "LIENTHONG_AGENT_PULLS_QUESTIONS_INTERVAL_SECONDS": "15",
        "LIENTHONG_AGENT_PULLS_CATEGORIES": "LayDanhMucGioiTinh,LayDanhMucDanToc",
        "LIENTHONG_AGENT_WEBHOOK_SECRET": "from-env",
    }
    settings = AgentSettings.load(config, environ=env)
    settings.validate()
    assert settings.pulls.enabled and settings.pulls.pakn_interval_seconds == 30.0
    assert settings.pulls.questions_interval_seconds == 15.0
    assert settings.pulls.categories == ("LayDanhMucGioiTinh", "LayDanhMucDanToc")
    assert settings.webhook.resolved_secret() == SECRET  # the file wins
    shown = settings.describe()
    assert shown["webhook"]["secret"] == "***" and "from-env" not in repr(settings)
    with pytest.raises(ValueError, match="unknown pulls"):
        AgentSettings.from_mapping({"pulls": {"pakn_interval": 1}})
    with pytest.raises(ValueError, match=r"webhook\.secret"):
        replace(settings, webhook=WebhookSettings(url="http://x/hook")).validate()


# -- end to end --------------------------------------------------------------------------------------


class Receiver:
    """The local system's webhook endpoint: a real HTTP server; answers 503 to the first call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            first = not self.calls
            self.calls.append(
                {
                    "ok": verify_signature(
                        SECRET,
                        request.headers.get(TIMESTAMP_HEADER),
                        body,
                        request.headers.get(SIGNATURE_HEADER),
                    ),
                    "event": request.headers.get(EVENT_HEADER),
                    "delivery": request.headers.get(DELIVERY_HEADER),
                    "body": orjson.loads(body),
                }
            )
        return Response(status_code=503 if first else 204)

    def keys(self) -> list[str]:
        with self.lock:
            return [call["body"]["item_key"] for call in self.calls]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    app = Starlette(routes=[Route("/hook", hook.hook, methods=["POST"])])
    with serve(app, free_port()) as url:
        yield hook, f"{url}/hook"


def test_pull_notify_answer_end_to_end(
    start_pair: Callable[..., Pair], receiver: tuple[Receiver, str]
) -> None:
    hook, hook_url = receiver
    pair = start_pair(
        pulls=PullSettings(
            enabled=True,
            pakn_interval_seconds=0.2,
            questions_interval_seconds=0.2,
            qa_sets_interval_seconds=0,
            catalog_interval_seconds=0,
            categories_interval_seconds=0,
        ),
        webhook=WebhookSettings(
            url=hook_url,
            secret=SECRET,
            backoff_base_seconds=0.05,
            backoff_max_seconds=0.2,
            poll_interval_seconds=0.05,
        ),
    )
    district = "000.00.13.H56"
    with pair.hub.sessions.begin() as db:  # a citizen's petition and question at the portal
        pakn_id = submit_petition(
            db,
            {
                "TieuDe": "Đường vào trường học bị ngập",
                "NoiDungPAKN": "Đoạn đường trước trường bị ngập mỗi khi mưa lớn.",
                "Ten": "Nguyễn Văn An",
                "SoDienThoai": "0912345678",
                "MaDonViXuLy": district,
            },
        )
        hoidap_id = str(
            submit_question(
                db,
                {
                    "NOIDUNG": "Làm căn cước cho con dưới 14 tuổi cần giấy tờ gì?",
                    "HOVATEN": "Phạm Thị Dung",
                    "THUDIENTU": "dung.pham@example.vn",
                    "MADONVI": district,
                },
            )
        )

    wait_until(lambda: {pakn_id, hoidap_id} <= set(hook.keys()), 20, "the webhook calls")
    calls = list(hook.calls)
    assert all(call["ok"] for call in calls)  # every notification verifies
    assert calls[0]["delivery"] == calls[1]["delivery"]  # the 503 was retried
    by_key = {call["body"]["item_key"]: call for call in calls}
    assert by_key[pakn_id]["event"] == "pulled.new"
    assert by_key[pakn_id]["body"]["service"] == PAKN
    assert by_key[pakn_id]["body"]["unit"] == UNIT
    assert by_key[pakn_id]["body"]["record"]["TieuDe"] == "Đường vào trường học bị ngập"
    assert by_key[hoidap_id]["body"]["service"] == "LayDanhSachHoiDapGuiTuDVCQG"
    state = pair.agent.outbox.state("pull.DanhSachPAKNChoXuLy")
    assert state is not None and "last_success_at" in state

    with httpx.Client(base_url=pair.agent_url, timeout=10) as local:
        listed = local.get("/api/pulled", params={"service": PAKN}, headers={"X-API-Key": API_KEY})
        assert listed.status_code == 200
        assert [item["item_key"] for item in listed.json()["items"]] == [pakn_id]
        one = local.get(f"/api/pulled/{PAKN}/{pakn_id}", headers={"X-API-Key": API_KEY})
        assert one.status_code == 200 and one.json()["record"]["Id"] == pakn_id
        # a key of another province sees none of it
        other = local.get("/api/pulled", headers={"X-API-Key": OTHER_KEY}).json()
        assert other["items"] == []
        hidden = local.get(f"/api/pulled/{PAKN}/{pakn_id}", headers={"X-API-Key": OTHER_KEY})
        assert hidden.status_code == 404 and hidden.json()["error_code"] == "pulled.not_found"
        forbidden = local.get(
            "/api/pulled", params={"unit": UNIT}, headers={"X-API-Key": OTHER_KEY}
        )
        assert forbidden.status_code == 403
        assert local.get("/api/pulled").status_code == 401
        bad = local.get("/api/pulled", params={"since": "hôm qua"}, headers={"X-API-Key": API_KEY})
        assert bad.status_code == 400 and bad.json()["error_code"] == "request.query"
        later = local.get(
            "/api/pulled",
            params={"since": "2999-01-01T00:00:00Z"},
            headers={"X-API-Key": API_KEY},
        )
        assert later.json()["items"] == []

    with Client(pair.agent_url, API_KEY) as agent:  # the local system answers both
        petition = agent.submit(
            "DongBoKetQuaXuLyPAKN",
            [
                {
                    "PAKNID": pakn_id,
                    "MaDonVi": district,
                    "NguoiTraLoi": "Lê Văn Bình",
                    "NgayTraLoi": "20260310090000",
                    "NoiDungTraLoi": "Đã khơi thông cống thoát nước.",
                    "CongKhai": "True",
                }
            ],
            madonvi=UNIT,
        )
        question = agent.submit(
            "DongBoKetQuaHoiDapGuiTuDVCQG",
            [
                {
                    "HOIDAPID": hoidap_id,
                    "MADONVI": district,
                    "NGAYTRALOI": "20260310090000",
                    "NOIDUNGTRALOI": "Cần giấy khai sinh của con.",
                }
            ],
            madonvi=UNIT,
        )
        assert petition.ok and question.ok
        pair.wait_settled()
        for answer in (petition, question):
            row = agent.outbox(answer.records[0].outbox_id or 0)
            assert row.state == "delivered", row
            assert row.last_answer is not None and row.last_answer["status"] == "updated"
    queued = pair.agent.outbox.get(petition.records[0].outbox_id or 0)
    assert queued is not None and queued.order_key == f"DongBoKetQuaXuLyPAKN:{pakn_id}"

    with pair.hub.sessions() as db:
        assert db.scalar(select(Petition.status).where(Petition.pakn_id == pakn_id)) == "4"
        assert db.scalar(select(Question.status).where(Question.hoidap_id == int(hoidap_id))) == "3"
    login = pair.hub_http.post(
        "/api/login", json={"username": HUB_USER, "password": HUB_PASSWORD}
    ).json()
    public = pair.hub_http.post(
        "/api/share",
        json={"session": login["session"], "madonvi": UNIT, "service": "DanhSachPAKNCongKhai"},
    ).json()
    assert [(row["Id"], row["TrangThai"]) for row in public["result"]] == [(pakn_id, "4")]
    # answered, they leave the pending lists: the next pulls find nothing new
    before = len(hook.calls)
    results = pair.agent.pull_now([PAKN, "LayDanhSachHoiDapGuiTuDVCQG"])
    assert all(result.ok and result.items == 0 for result in results)
    time.sleep(0.1)
    assert len(hook.calls) == before


# -- command line ----------------------------------------------------------------------------------


def test_the_pull_command_against_the_hub(start_pair: Callable[..., Pair], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lienthong.cli.main import app

    pair = start_pair()
    env = {
        "COLUMNS": "200",
        "LIENTHONG_AGENT_UNITS": UNIT,
        "LIENTHONG_AGENT_PORTAL_BASE_URL": pair.hub_url,
        "LIENTHONG_AGENT_PORTAL_USERNAME": HUB_USER,
        "LIENTHONG_AGENT_PORTAL_PASSWORD": HUB_PASSWORD,
    }
    database = f"sqlite:///{tmp_path / 'cli-agent.db'}"
    run = CliRunner().invoke(
        app,
        ["agent", "--database", database, "pull", "-s", "LayDanhMucGioiTinh", "-s", PAKN],
        env=env,
    )
    assert run.exit_code == 0, run.output
    assert "LayDanhMucGioiTinh" in run.output and "DanhSachPAKNChoXuLy" in run.output
    wrong = CliRunner().invoke(
        app,
        ["agent", "--database", database, "pull", "-s", "LayDanhMucKhongCo"],
        env=env,
    )
    assert wrong.exit_code == 1 and "error_code 13" in wrong.output
