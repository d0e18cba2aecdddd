"""The delivery worker against a scripted portal (httpx.MockTransport): envelope-level answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from lienthong.agent.delivery import DeliveryWorker
from lienthong.agent.outbox import NewRow, Outbox, record_identity
from lienthong.agent.portal import PortalClient
from lienthong.agent.settings import AgentSettings, PortalSettings
from lienthong.store import session_factory
from tests.agent.conftest import UNIT

Handler = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]]


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(session_factory(engine))


@pytest.fixture
def make_worker(outbox: Outbox) -> Iterator[Callable[[Handler], tuple[DeliveryWorker, list[Any]]]]:
    clients: list[PortalClient] = []

    def make(handler: Handler) -> tuple[DeliveryWorker, list[Any]]:
        seen: list[Any] = []

        def respond(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            seen.append(body)
            if request.url.path == "/api/login":
                return httpx.Response(
                    200, json={"error_code": "00", "session": "s1", "expires_in": 600}
                )
            status, answer = handler(body)
            if answer is None:
                return httpx.Response(status, text="Internal Server Error")
            return httpx.Response(status, json=answer)

        settings = AgentSettings(
            portal=PortalSettings(username="u", password="p"),
            batch_size=4,
            backoff_base_seconds=0.001,
            backoff_max_seconds=0.002,
        )
        portal = PortalClient(settings.portal, transport=httpx.MockTransport(respond))
        clients.append(portal)
        return DeliveryWorker(outbox, portal, settings), seen

    yield make
    for client in clients:
        client.close()


def queue(outbox: Outbox, count: int) -> list[int]:
    rows = []
    for i in range(1, count + 1):
        record = {"MaHoSo": f"000.00.13.H56-260302-{i:04d}"}
        key, order = record_identity("DongBoHoSoMC", UNIT, record)
        rows.append(NewRow("DongBoHoSoMC", UNIT, record, {"isUpdating": "False"}, "t", key, order))
    return outbox.enqueue(rows)


def states(outbox: Outbox, ids: list[int]) -> list[str]:
    return [row.state if row else "?" for row in map(outbox.get, ids)]


def test_a_portal_error_keeps_the_rows_pending_with_the_error(
    outbox: Outbox, make_worker: Callable[[Handler], tuple[DeliveryWorker, list[Any]]]
) -> None:
    worker, _ = make_worker(lambda body: (500, None))
    ids = queue(outbox, 2)
    assert worker.deliver_once()
    rows = [outbox.get(i) for i in ids]
    assert all(r is not None and r.state == "pending" and r.attempts == 1 for r in rows)
    assert rows[0] is not None and "http 500" in (rows[0].last_error or "")
    last_error = outbox.state("delivery.last_error")
    assert last_error is not None and last_error["action"] == "retry"


def test_an_unreachable_portal_is_retried(outbox: Outbox) -> None:
    settings = AgentSettings(
        portal=PortalSettings(base_url="http://127.0.0.1:9", username="u", password="p"),
        backoff_base_seconds=0.001,
        backoff_max_seconds=0.002,
    )
    portal = PortalClient(settings.portal, timeout=2)
    try:
        ids = queue(outbox, 1)
        assert DeliveryWorker(outbox, portal, settings).deliver_once()
    finally:
        portal.close()
    row = outbox.get(ids[0])
    assert row is not None and row.state == "pending" and "unavailable" in (row.last_error or "")


def test_a_service_not_granted_sends_the_batch_to_dead_letters(
    outbox: Outbox, make_worker: Callable[[Handler], tuple[DeliveryWorker, list[Any]]]
) -> None:
    worker, _ = make_worker(lambda body: (403, {"error_code": "31", "message_en": "not granted"}))
    ids = queue(outbox, 3)
    worker.deliver_once()
    assert states(outbox, ids) == ["dead"] * 3
    row = outbox.get(ids[0])
    assert row is not None and row.last_answer == {"error_code": "31", "message_en": "not granted"}


def test_a_wrong_password_waits_instead_of_dropping_rows(
    outbox: Outbox, make_worker: Callable[[Handler], tuple[DeliveryWorker, list[Any]]]
) -> None:
    worker, _ = make_worker(lambda body: (401, {"error_code": "20"}))
    ids = queue(outbox, 2)
    worker.deliver_once()
    assert states(outbox, ids) == ["pending"] * 2


def test_too_large_halves_the_batches(
    outbox: Outbox, make_worker: Callable[[Handler], tuple[DeliveryWorker, list[Any]]]
) -> None:
    def handler(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if len(body["data"]) > 1:
            return 413, {"error_code": "14"}
        return 200, {
            "error_code": "00",
            "records": [{"index": 0, "status": "accepted", "error_code": "00"}],
        }

    worker, seen = make_worker(handler)
    ids = queue(outbox, 4)
    while worker.deliver_once():
        pass
    assert states(outbox, ids) == ["delivered"] * 4
    assert [len(b["data"]) for b in seen if "data" in b] == [4, 2, 1, 1, 1, 1]
    assert all(b["session"] == "s1" for b in seen if "data" in b)


def test_a_record_that_breaks_whole_envelopes_is_isolated(
    outbox: Outbox, make_worker: Callable[[Handler], tuple[DeliveryWorker, list[Any]]]
) -> None:
    """The portal answers 500 to any envelope holding one poisonous record: after a few failed
    attempts that record travels alone, and the rest of its batch gets through."""
    import time

    poison = "000.00.13.H56-260302-0002"

    def handler(body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if any(record["MaHoSo"] == poison for record in body["data"]):
            return 500, None
        records = [
            {"index": i, "key": r["MaHoSo"], "status": "accepted", "error_code": "00"}
            for i, r in enumerate(body["data"])
        ]
        return 200, {"error_code": "00", "records": records}

    worker, seen = make_worker(handler)
    ids = queue(outbox, 4)  # one batch of 4 (batch_size=4), the second record poisonous
    deadline = time.monotonic() + 20
    while states(outbox, ids) != ["delivered", "pending", "delivered", "delivered"]:
        assert time.monotonic() < deadline, states(outbox, ids)
        if not worker.deliver_once():
            time.sleep(0.005)
    stuck = outbox.get(ids[1])
    assert stuck is not None and stuck.attempts >= 3 and "http 500" in (stuck.last_error or "")
    envelopes = [b for b in seen if "data" in b]
    assert any(len(b["data"]) == 1 and b["data"][0]["MaHoSo"] == poison for b in envelopes)
