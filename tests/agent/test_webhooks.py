"""Webhooks: the signature scheme, and the sender's retries in order (on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from lienthong.agent.pulls import PulledStore
from lienthong.agent.settings import WebhookSettings
from lienthong.agent.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    sign,
    verify_signature,
)
from tests.agent.conftest import UNIT

SECRET = "bi-mat-chung-cua-webhook"


def test_signature_round_trip() -> None:
    body = b'{"id":1,"event":"pulled.new"}'
    timestamp = str(int(time.time()))
    header = sign(SECRET, timestamp, body)
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert header == "sha256=" + expected.hexdigest()
    assert verify_signature(SECRET, timestamp, body, header)
    assert verify_signature(SECRET.encode(), timestamp, body, header)


def test_tampered_or_expired_notifications_are_refused() -> None:
    body = b'{"id":1,"event":"pulled.new"}'
    now = 1_767_225_600.0
    timestamp = str(int(now))
    header = sign(SECRET, timestamp, body)
    assert verify_signature(SECRET, timestamp, body, header, now=now + 299)
    assert not verify_signature(SECRET, timestamp, body + b" ", header, now=now)  # body changed
    assert not verify_signature("another-secret", timestamp, body, header, now=now)
    assert not verify_signature(SECRET, str(int(now) + 1), body, header, now=now)  # ts changed
    assert not verify_signature(SECRET, timestamp, body, header, now=now + 301)  # too old
    assert not verify_signature(SECRET, timestamp, body, header, now=now - 301)  # from the future
    assert not verify_signature(SECRET, timestamp, body, header, now=now + 30, tolerance_seconds=10)
    assert not verify_signature(SECRET, timestamp, body, header.removeprefix("sha256="), now=now)
    assert not verify_signature(SECRET, "not-a-number", body, header, now=now)
    assert not verify_signature(SECRET, None, body, header, now=now)
    assert not verify_signature(SECRET, timestamp, body, None, now=now)
    assert not verify_signature("", timestamp, body, sign("", timestamp, body), now=now)


@pytest.mark.parametrize(
    "timestamp",
    ["²", "١٢٣", "１２３", "12²", "9" * 5000, "9" * 400, "-5", "+5", " 5", "5\n", "0x10", ""],
)
def test_a_timestamp_that_is_not_ascii_digits_is_refused_without_raising(timestamp: str) -> None:
    body = b"{}"
    header = sign(SECRET, str(int(time.time())), body)
    assert verify_signature(SECRET, timestamp, body, header) is False


@pytest.mark.parametrize("header", ["sha256=é", "sha256=\ud800", "\x00", "ś" * 80])
def test_a_header_with_non_ascii_text_is_refused_without_raising(header: str) -> None:
    timestamp = str(int(time.time()))
    assert verify_signature(SECRET, timestamp, b"{}", header) is False


@given(timestamp=st.text(max_size=20), header=st.text(max_size=80))
def test_verify_signature_answers_false_for_any_forged_text(timestamp: str, header: str) -> None:
    assert verify_signature(SECRET, timestamp, b"{}", header, now=1_700_000_000) is False


def test_the_receiver_failing_first_gets_every_notification_in_order(
    sessions: sessionmaker[Session],
) -> None:
    received: list[tuple[int, str, bool]] = []
    answers = iter([500, 503])  # two failures, then 200 for ever

    def receiver(request: httpx.Request) -> httpx.Response:
        body = request.content
        ok = verify_signature(
            SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER]
        )
        payload = orjson.loads(body)
        assert payload["id"] == int(request.headers[DELIVERY_HEADER])
        assert payload["event"] == request.headers[EVENT_HEADER]
        received.append((payload["id"], payload["item_key"], ok))
        return httpx.Response(next(answers, 200))

    store = PulledStore(sessions)
    store.store("DanhSachPAKNChoXuLy", UNIT, [("PAKN-000001", {"Id": "PAKN-000001"})])
    store.store(
        "DanhSachPAKNChoXuLy",
        UNIT,
        [("PAKN-000002", {"Id": "PAKN-000002"}), ("PAKN-000003", {"Id": "PAKN-000003"})],
    )
    settings = WebhookSettings(
        url="http://local.test/hook",
        secret=SECRET,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
    )
    sender = WebhookSender(sessions, settings, transport=httpx.MockTransport(receiver))
    try:
        deadline = time.monotonic() + 10
        while sender.pending():
            assert time.monotonic() < deadline, "webhooks not delivered"
            wait = sender.send_once()
            if wait:
                time.sleep(min(wait, 0.05))
        rows = sender.deliveries()
    finally:
        sender.stop()
    first = rows[0].id
    assert [key for _, key, _ in received] == ["PAKN-000001"] * 3 + ["PAKN-000002", "PAKN-000003"]
    assert [row_id - first for row_id, _, _ in received] == [0, 0, 0, 1, 2]
    assert all(ok for _, _, ok in received)
    assert [(row.state, row.attempts) for row in rows] == [
        ("delivered", 3),
        ("delivered", 1),
        ("delivered", 1),
    ]
    assert rows[0].last_error is None and rows[0].delivered_at is not None
    assert {row.event for row in rows} == {"pulled.new"}


def test_the_secret_is_never_shown() -> None:
    settings = WebhookSettings(url="http://local.test/hook", secret=SECRET)
    assert SECRET not in repr(settings)
    assert "***" in repr(settings)
