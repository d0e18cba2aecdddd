"""What the delivery worker does with each answer of the portal."""

from __future__ import annotations

import random
from typing import Any

import pytest

from lienthong.agent.classify import (
    PERMANENT_CODES,
    RETRYABLE_CODES,
    EnvelopeAction,
    RecordAction,
    classify_envelope,
    classify_record,
    normalize_code,
)
from lienthong.agent.delivery import backoff_delay
from lienthong.hub.errors import ANSWER_CODES


def test_the_code_table_agrees_with_the_hubs_retry_column() -> None:
    for code, entry in ANSWER_CODES.items():
        if code in ("00", "01"):
            continue
        assert (code in RETRYABLE_CODES) is entry.retryable, code
        assert (code in PERMANENT_CODES) is not entry.retryable, code
    assert set(ANSWER_CODES) - {"00", "01"} == RETRYABLE_CODES | PERMANENT_CODES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("00", "00"),
        (0, "00"),
        ("0", "00"),
        ("01", "01"),
        (1, "01"),
        (3, "3"),
        ("15", "15"),
        (None, ""),
    ],
)
def test_codes_sent_as_numbers_or_strings_read_the_same(value: Any, expected: str) -> None:
    assert normalize_code(value) == expected


@pytest.mark.parametrize(
    ("outcome", "service", "params", "action"),
    [
        ({"status": "accepted", "error_code": "00"}, "DongBoHoSoMC", {}, RecordAction.DELIVERED),
        ({"status": "updated", "error_code": "00"}, "DongBoHoSoMC", {}, RecordAction.DELIVERED),
        (
            {"status": "unchanged", "error_code": "00"},
            "CapNhatTienDoHoSoMC",
            {},
            RecordAction.DELIVERED,
        ),
        (
            {"status": "exists", "error_code": "3"},
            "DongBoHoSoMC",
            {"isUpdating": "False"},
            RecordAction.RESEND_UPDATING,
        ),
        (
            {"status": "exists", "error_code": "3"},
            "DongBoHoSoMC",
            {"isUpdating": "True"},
            RecordAction.DEAD,
        ),
        ({"status": "rejected", "error_code": "15"}, "DongBoHoSoMC", {}, RecordAction.DEAD),
        ({"status": "rejected", "error_code": "30"}, "DongBoHoSoMC", {}, RecordAction.DEAD),
        ({"status": "rejected", "error_code": "40"}, "CapNhatTienDoHoSoMC", {}, RecordAction.DEAD),
        ({"status": "rejected", "error_code": "99"}, "DongBoHoSoMC", {}, RecordAction.RETRY),
        ({"status": "rejected", "error_code": "77"}, "DongBoHoSoMC", {}, RecordAction.RETRY),
        ({"status": "lost in thought"}, "DongBoHoSoMC", {}, RecordAction.RETRY),
    ],
)
def test_record_outcomes(
    outcome: dict[str, Any], service: str, params: dict[str, Any], action: RecordAction
) -> None:
    assert classify_record(outcome, service, params) is action


@pytest.mark.parametrize(
    ("status", "body", "size", "action"),
    [
        (200, {"error_code": "00", "records": []}, 1, EnvelopeAction.PER_RECORD),
        (200, {"error_code": "01", "records": []}, 1, EnvelopeAction.PER_RECORD),
        (200, {"error_code": "15", "records": []}, 1, EnvelopeAction.PER_RECORD),
        (200, {"error_code": 0}, 3, EnvelopeAction.PER_RECORD),
        (401, {"error_code": "23"}, 3, EnvelopeAction.RELOGIN),
        (401, {"error_code": "22"}, 3, EnvelopeAction.RELOGIN),
        (401, {"error_code": "20"}, 3, EnvelopeAction.WAIT_ACCOUNT),
        (403, {"error_code": "24"}, 3, EnvelopeAction.WAIT_ACCOUNT),
        (429, {"error_code": "21"}, 3, EnvelopeAction.WAIT_ACCOUNT),
        (500, None, 3, EnvelopeAction.RETRY),
        (502, None, 3, EnvelopeAction.RETRY),
        (404, None, 3, EnvelopeAction.RETRY),
        (429, {"error_code": "x"}, 3, EnvelopeAction.RETRY),
        (500, {"error_code": "99"}, 3, EnvelopeAction.RETRY),
        (413, {"error_code": "14"}, 3, EnvelopeAction.SPLIT),
        (413, {"error_code": "14"}, 1, EnvelopeAction.DEAD),
        (403, {"error_code": "31"}, 3, EnvelopeAction.DEAD),
        (403, {"error_code": "30"}, 3, EnvelopeAction.DEAD),
        (400, {"error_code": "13"}, 3, EnvelopeAction.DEAD),
        (422, {"error_code": "15"}, 3, EnvelopeAction.DEAD),
        (418, {"error_code": "teapot"}, 3, EnvelopeAction.RETRY),
    ],
)
def test_envelope_answers(
    status: int, body: dict[str, Any] | None, size: int, action: EnvelopeAction
) -> None:
    assert classify_envelope(status, body, size).action is action


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    for failures in range(1, 80):
        ceiling = min(30.0, 0.5 * 2 ** (failures - 1))
        delay = backoff_delay(failures, 0.5, 30.0, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(backoff_delay(10, 0.5, 30.0, rng), 6) for _ in range(20)}) > 1
