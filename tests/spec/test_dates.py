"""Wire dates: the fast parser agrees with the plain definition on every 14-digit string."""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given
from hypothesis import strategies as st

from lienthong.spec.dates import VIETNAM, format_wire_date, parse_wire_date


def reference(value: str) -> dt.datetime | None:
    """yyyyMMddHHmmss, Vietnam time, years 1900-2199, real calendar dates only."""
    if len(value) != 14 or not value.isascii() or not value.isdigit():
        return None
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
    hour, minute, second = int(value[8:10]), int(value[10:12]), int(value[12:14])
    if not 1900 <= year <= 2199:
        return None
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=VIETNAM)
    except ValueError:
        return None


@given(st.text("0123456789", min_size=14, max_size=14))
@example("20240229000000")
@example("20250229000000")
@example("20260302240000")
@example("18991231235959")
@example("21991231235959")
@example("22000101000000")
def test_any_fourteen_digits(value: str) -> None:
    assert parse_wire_date(value) == reference(value)


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2199, 12, 31)))
def test_round_trip(moment: dt.datetime) -> None:
    aware = moment.replace(microsecond=0, tzinfo=VIETNAM)
    parsed = parse_wire_date(format_wire_date(aware))
    assert parsed == aware
    assert parsed is not None and parsed.tzinfo is VIETNAM


def test_not_digits() -> None:
    for value in (
        "2026030207351",
        "202603020735120",
        "2026-03-02 07:35",
        "２０２６０３０２０７３５１２",
    ):
        assert parse_wire_date(value) is None
