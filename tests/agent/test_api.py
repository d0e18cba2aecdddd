"""The local API: per-record results, and a stable code for every refusal of the whole request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from lienthong.agent.api import create_app
from lienthong.agent.service import AgentService
from lienthong.agent.settings import AgentSettings
from tests.agent.conftest import (
    API_KEY,
    OTHER_KEY,
    UNIT,
    agent_settings,
    demo_dossiers,
    free_port,
    serve,
    step,
)


@pytest.fixture
def service(engine: Engine) -> Iterator[AgentService]:
    settings = agent_settings("http://127.0.0.1:9", deliver=False, max_body_bytes=50_000)
    agent = AgentService(settings, engine=engine)
    yield agent
    agent.stop()


@pytest.fixture
def api(service: AgentService) -> Iterator[httpx.Client]:
    """The local API of ``service``, served by uvicorn on a free port (real HTTP)."""
    with (
        serve(create_app(service, manage_service=False), free_port()) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as client,
    ):
        yield client


def envelope(records: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {
        "service": "DongBoHoSoMC",
        "madonvi": UNIT,
        "isUpdating": "False",
        "data": records,
        **changes,
    }


def test_all_records_queued(api: httpx.Client, service: AgentService) -> None:
    answer = api.post("/api/submit", json=envelope(demo_dossiers(3)))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["error_code"], body["queued"], body["refused"]) == ("ok", 3, 0)
    ids = [record["outbox_id"] for record in body["records"]]
    assert [record["status"] for record in body["records"]] == ["queued"] * 3
    row = service.outbox.get(ids[0])
    assert row is not None and row.submitter == "motcua" and row.params == {"isUpdating": "False"}
    assert row.record_key == body["records"][0]["key"] and row.order_key == f"hoso:{row.record_key}"
    state = api.get(f"/api/outbox/{ids[0]}").json()
    assert state["state"] == "pending" and state["madonvi"] == UNIT and state["attempts"] == 0


def test_a_bad_record_is_returned_with_its_issues_and_the_others_queued(api: httpx.Client) -> None:
    records = demo_dossiers(2)
    records[1]["NgayHenTra"] = "20260230170000"
    answer = api.post("/api/submit", json=envelope(records))
    assert answer.status_code == 207
    body = answer.json()
    assert body["error_code"] == "partial"
    good, bad = body["records"]
    assert good["status"] == "queued" and "outbox_id" in good
    assert bad["status"] == "invalid" and "outbox_id" not in bad
    issue = next(i for i in bad["issues"] if i["code"] == "field.date")
    assert issue["path"] == "$.data[1].NgayHenTra" and issue["message"] and issue["message_en"]


def test_nothing_queued_is_422_with_per_record_results(api: httpx.Client) -> None:
    foreign = {**demo_dossiers(1)[0], "MaHoSo": "000.00.13.H01-260302-0001"}
    answer = api.post("/api/submit", json=envelope([foreign, {"MaHoSo": 1}]))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error_code"] == "rejected"
    assert [record["status"] for record in body["records"]] == ["forbidden", "invalid"]
    assert body["records"][0]["issues"][-1]["code"] == "unit.forbidden"
    assert body["records"][0]["issues"][-1]["path"] == "$.data[0].MaHoSo"


def test_madonvi_defaults_to_the_only_unit_and_params_are_kept(
    api: httpx.Client, service: AgentService
) -> None:
    answer = api.post(
        "/api/submit",
        json={
            "service": "CapNhatTienDoHoSoMC",
            "data": [step("000.00.13.H56-260302-0001", "20260302080000", "2", "x")],
        },
        headers={"X-API-Key": OTHER_KEY},
    )
    # the other key's only unit is H60: a H56 dossier's step is not its to send
    assert answer.status_code == 422 and answer.json()["madonvi"] == "000.00.00.H60"


#: (headers, body, HTTP status, code, path) of requests refused as a whole
REFUSALS: list[tuple[dict[str, str], bytes, int, str, str | None]] = [
    ({"X-API-Key": ""}, b"{}", 401, "auth.key_missing", "header X-API-Key"),
    ({"X-API-Key": "wrong"}, b"{}", 401, "auth.key_invalid", "header X-API-Key"),
    ({}, b"{not json", 400, "request.not_json", "$"),
    ({}, b"[1, 2]", 400, "request.not_object", "$"),
    ({"Content-Type": "text/plain"}, b"{}", 415, "request.content_type", None),
    (
        {},
        b'{"service": "DongBoHoSoMC", "madonvi": "000.00.00.H56"}',
        400,
        "envelope.missing",
        "$.data",
    ),
    ({}, b'{"madonvi": "000.00.00.H56", "data": []}', 400, "envelope.missing", "$.service"),
    ({}, b'{"service": "XoaHoSo", "data": []}', 400, "service.unknown", "$.service"),
    ({}, b'{"service": "TraCuuHoSo", "mahoso": "x"}', 400, "service.not_pushable", "$.service"),
    (
        {},
        b'{"service": "DongBoHoSoMC", "madonvi": "000.00.00.H62", "isUpdating": "False", "data": []}',
        403,
        "auth.unit_forbidden",
        "$.madonvi",
    ),
    (
        {},
        b'{"service": "DongBoHoSoMC", "madonvi": "000.00.00.H56", "data": [{}]}',
        422,
        "envelope.invalid",
        "$.isUpdating",
    ),
    ({}, b'{"service": "DongBoHoSoMC", "data": {}}', 422, "envelope.invalid", "$.data"),
    (
        {},
        b'{"service": "DongBoHoSoMC", "madonvi": 5, "data": []}',
        422,
        "envelope.invalid",
        "$.madonvi",
    ),
    ({}, b'{"x": "' + b"a" * 60_000 + b'"}', 413, "request.too_large", None),
]


def test_refusals_have_stable_codes(api: httpx.Client, service: AgentService) -> None:
    for headers, body, status, code, path in REFUSALS:
        answer = api.post(
            "/api/submit", content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert answer.status_code == status, (code, answer.text)
        payload = answer.json()
        assert payload["error_code"] == code
        assert payload["message"] and payload["message_en"] and payload["retryable"] is False
        assert payload["path"] == path
    assert service.outbox.summary().counts["pending"] == 0


def test_another_units_outbox_row_is_not_found(api: httpx.Client) -> None:
    queued = api.post("/api/submit", json=envelope(demo_dossiers(1))).json()["records"][0][
        "outbox_id"
    ]
    assert (
        api.get(f"/api/outbox/{queued}", headers={"X-API-Key": OTHER_KEY}).json()["error_code"]
        == "outbox.not_found"
    )
    assert api.get("/api/outbox/999999").status_code == 404
    assert api.get("/api/outbox/1", headers={"X-API-Key": "nope"}).status_code == 401


def test_settings_loaded_from_nothing_still_answer_health(engine: Engine) -> None:
    agent = AgentService(AgentSettings(deliver=False), engine=engine)
    with serve(create_app(agent), free_port()) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
