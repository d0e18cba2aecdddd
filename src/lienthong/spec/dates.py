"""Wire dates of QCVN 120: ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh (UTC+7, no daylight saving)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

VIETNAM = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Vietnam has kept UTC+7 without daylight saving since 1975, so a fixed offset is exact."""

WIRE_FORMAT = "yyyyMMddHHmmss"
SUPPORTED_FORMATS = ("yyyyMMddHHmmss", "dd/MM/yyyy", "yyyyMMdd")

#: A wire date-time whose every part is in range, years as :func:`parse_wire_date` admits them.
#: A day up to 28 exists in every month, so only days 29-31 still need the calendar.
WIRE_DATE_SHAPE = (
    r"(?:19|20|21)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])(?:[01][0-9]|2[0-3])"
    r"[0-5][0-9][0-5][0-9]"
)

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _valid(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> bool:
    if not (1900 <= year <= 2199 and 1 <= month <= 12 and day >= 1):
        return False
    last = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    return day <= last and hour < 24 and minute < 60 and second < 60


def parse_wire_date(value: str, fmt: str = WIRE_FORMAT) -> dt.datetime | None:
    """Parse a wire date into an aware datetime, or None when it is not a real date-time.

    Cached: a batch repeats the same timestamps (reception, due date), and validation, rules and
    storage all read them; one cache key whichever way the format is passed.
    """
    return _parse(value, fmt)


@lru_cache(maxsize=65536)
def _parse(value: str, fmt: str) -> dt.datetime | None:
    if fmt == "yyyyMMddHHmmss":
        if len(value) != 14 or not value.isascii() or not value.isdigit():
            return None
        if not "1900" <= value[0:4] <= "2199":
            return None
        # the C parser of ISO 8601 basic form checks the calendar like _valid, 3x faster
        try:
            return dt.datetime.fromisoformat(f"{value[0:8]}T{value[8:14]}").replace(tzinfo=VIETNAM)
        except ValueError:
            return None
    elif fmt == "yyyyMMdd":
        if len(value) != 8 or not value.isascii() or not value.isdigit():
            return None
        parts = (int(value[0:4]), int(value[4:6]), int(value[6:8]), 0, 0, 0)
    elif fmt == "dd/MM/yyyy":
        if len(value) != 10 or value[2] != "/" or value[5] != "/":
            return None
        day, month, year = value[0:2], value[3:5], value[6:10]
        if not all(p.isascii() and p.isdigit() for p in (day, month, year)):
            return None
        parts = (int(year), int(month), int(day), 0, 0, 0)
    else:
        raise ValueError(f"unsupported date format {fmt!r}")
    if not _valid(*parts):
        return None
    return dt.datetime(*parts, tzinfo=VIETNAM)


def parse_any(value: str, formats: tuple[str, ...]) -> dt.datetime | None:
    """First successful parse among ``formats``."""
    for fmt in formats:
        parsed = parse_wire_date(value, fmt)
        if parsed is not None:
            return parsed
    return None


def format_wire_date(moment: dt.datetime) -> str:
    """Render an aware datetime as a wire date in Vietnam time."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware value")
    return moment.astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")


def now_vietnam() -> dt.datetime:
    return dt.datetime.now(VIETNAM)
