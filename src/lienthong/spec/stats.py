"""Monthly dossier statistics (DongBoThongKeHoSo) computed from the dossiers themselves.

The hub computes them from what it received to show the gap with what a unit reported; the agent
(a later issue) computes them from what it forwarded and sends them. Both use this one function,
so their figures agree by construction.

Definitions (per month, Asia/Ho_Chi_Minh), on the current state of each dossier:

- a dossier counts from its reception (``NgayTiepNhan``) until it is processed: the first of
  ``NgayKetThucXuLy`` and ``NgayTra``; dossiers refused at reception (status 3) or withdrawn by the
  applicant (status 7) are not the unit's to process and are left out;
- received in the period (``SoNhanTrongKy``): received during the month; carried over
  (``SoTonKyTruoc``): received before the month and not processed before it started;
- processed (``TongDaXuLy``): processed during the month; on time when not after ``NgayHenTra``;
- pending (``TongChuaXuLy``): not processed by the end of the month; overdue when ``NgayHenTra``
  falls before the end of the month;
- percentages have two decimals and are 0.00 when there is nothing to divide.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lienthong.spec.dates import VIETNAM, WIRE_DATE_SHAPE, parse_wire_date

NOT_TO_PROCESS = frozenset({"3", "7"})


@dataclass(frozen=True, slots=True)
class MonthlyStats:
    year: int
    month: int
    received: int = 0
    carried_over: int = 0
    processed_on_time: int = 0
    processed_late: int = 0
    pending_in_time: int = 0
    pending_overdue: int = 0

    @property
    def total(self) -> int:
        return self.received + self.carried_over

    @property
    def processed(self) -> int:
        return self.processed_on_time + self.processed_late

    @property
    def pending(self) -> int:
        return self.pending_in_time + self.pending_overdue

    def to_wire(self, unit: str, unit_name: str = "") -> dict[str, str]:
        """The DongBoThongKeHoSo record of these figures (every value a string, as sent)."""

        def percent(part: int, whole: int) -> str:
            return f"{100 * part / whole:.2f}" if whole else "0.00"

        return {
            "Thang": str(self.month),
            "Nam": str(self.year),
            "SoNhanTrongKy": str(self.received),
            "SoTonKyTruoc": str(self.carried_over),
            "TongSoXuLy": str(self.total),
            "TongDaXuLy": str(self.processed),
            "TongXuLyDungHan": str(self.processed_on_time),
            "PhanTramXuLyDungHan": percent(self.processed_on_time, self.processed),
            "TongXuLyTreHan": str(self.processed_late),
            "PhanTramXuLyTreHan": percent(self.processed_late, self.processed),
            "TongChuaXuLy": str(self.pending),
            "TongChuaXuLyTrongHan": str(self.pending_in_time),
            "PhanTramChuaXuLyTrongHan": percent(self.pending_in_time, self.pending),
            "TongChuaXuLyTreHan": str(self.pending_overdue),
            "PhanTramChuaXuLyTreHan": percent(self.pending_overdue, self.pending),
            "GhiChu": "",
            "Madonvi": unit,
            "TenDonVi": unit_name,
            "LoaiThongKe": "1",
        }


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=VIETNAM)
    if (year, month) == (dt.MAXYEAR, 12):  # the month after has no datetime
        return start, dt.datetime.max.replace(tzinfo=VIETNAM)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=VIETNAM)
    return start, end


def _date(record: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = record.get(name)
    return parse_wire_date(value) if isinstance(value, str) and value else None


def monthly_stats(records: Iterable[Mapping[str, Any]], year: int, month: int) -> MonthlyStats:
    """Figures of one month from DongBoHoSoMC records (wire form) of one unit."""
    start, end = month_bounds(year, month)
    counts = dict.fromkeys(("received", "carried_over", "on_time", "late", "in_time", "overdue"), 0)
    for record in records:
        if str(record.get("TrangThaiHoSo")) in NOT_TO_PROCESS:
            continue
        received = _date(record, "NgayTiepNhan")
        if received is None or received >= end:
            continue
        finished = [d for d in (_date(record, "NgayKetThucXuLy"), _date(record, "NgayTra")) if d]
        done = min(finished) if finished else None
        if done is not None and done < start:
            continue  # processed before this month: not in its figures
        counts["received" if received >= start else "carried_over"] += 1
        due = _date(record, "NgayHenTra")
        if done is not None and done < end:
            counts["on_time" if due is None or done <= due else "late"] += 1
        else:
            counts["overdue" if due is not None and due < end else "in_time"] += 1
    return MonthlyStats(
        year,
        month,
        received=counts["received"],
        carried_over=counts["carried_over"],
        processed_on_time=counts["on_time"],
        processed_late=counts["late"],
        pending_in_time=counts["in_time"],
        pending_overdue=counts["overdue"],
    )


# --------------------------------------------------------------------------------------------
# The same figures kept incrementally: what one dossier changes in each month
# --------------------------------------------------------------------------------------------
#
# A dossier counts in the months from its reception's to its processing's (both included; all
# of them from its reception's while it is not processed). So each figure of a month is either
# an event of that month (received, processed on time or late) or the number of dossiers open
# at its end (pending, overdue among them), and "open at the end of month M" is the sum, over
# the months up to M, of the dossiers that opened minus those that closed. Carried over is what
# was open at the end of the month before. A dossier therefore changes at most four
# (unit, month) rows, whatever the number of months it stays open.

#: The five counts kept per unit and month, in this order.
MONTH_CHANGE_FIELDS = ("received", "processed_on_time", "processed_late", "pending", "overdue")

#: Month (:func:`month_index`) -> the counts of :data:`MONTH_CHANGE_FIELDS` it changes by.
MonthChanges = dict[int, list[int]]


def month_index(year: int, month: int) -> int:
    """A month as one number, so that months add and compare as integers."""
    return year * 12 + month - 1


def _month_index(when: dt.datetime) -> int:
    local = when.astimezone(VIETNAM)
    return local.year * 12 + local.month - 1


def month_start(index: int) -> dt.date:
    """The first day of the month :func:`month_index` numbered ``index``."""
    return dt.date(index // 12, index % 12 + 1, 1)


def add_month_changes(
    changes: MonthChanges,
    sign: int,
    status: object,
    received: dt.datetime | None,
    finished: dt.datetime | None,
    returned: dt.datetime | None,
    due: dt.datetime | None,
) -> None:
    """Add (``sign`` 1) or take back (-1) what one dossier gives to the month rows, keyed by
    the month (:func:`month_index`, Asia/Ho_Chi_Minh), each row the counts of
    :data:`MONTH_CHANGE_FIELDS`. Exactly the definitions of :func:`monthly_stats`."""
    if received is None or (status is not None and str(status) in NOT_TO_PROCESS):
        return
    ends = [d for d in (finished, returned) if d is not None]
    processed = min(ends) if ends else None
    _add_dossier(
        changes,
        sign,
        _month_index(received),
        None if processed is None else _month_index(processed),
        processed is not None and (due is None or processed <= due),
        None if due is None else _month_index(due),
    )


def wire_month_changes(
    units: Sequence[Hashable | None],
    statuses: Sequence[object],
    received: Sequence[object],
    finished: Sequence[object],
    returned: Sequence[object],
    due: Sequence[object],
    sign: int = 1,
) -> dict[Hashable, MonthChanges]:
    """The month rows a batch of dossiers changes, per unit (``None``: a dossier of no unit,
    left out), from their wire values as columns (``TrangThaiHoSo``, ``NgayTiepNhan``,
    ``NgayKetThucXuLy``, ``NgayTra``, ``NgayHenTra``): :func:`add_month_changes` of each.

    Real wire dates (Vietnam time, one width) give their month by slicing and compare as text,
    so the batch is reduced to its distinct (unit, months, on time) keys without a datetime
    per dossier; when a column holds anything else, one dossier at a time."""
    changes: dict[Hashable, MonthChanges] = {}
    if not all(map(_plain_wire_dates, (received, finished, returned, due))):
        for unit, status, *dates in zip(
            units, statuses, received, finished, returned, due, strict=True
        ):
            if unit is not None:
                add_month_changes(
                    changes.setdefault(unit, {}),
                    sign,
                    status,
                    *(parse_wire_date(v) if isinstance(v, str) and v else None for v in dates),
                )
        return changes
    texts = statuses if _STR_ONLY.issuperset(map(type, statuses)) else list(map(str, statuses))
    columns: list[list[str]] = [
        [d or "" for d in column]  # type: ignore[misc]  # proved text or empty just above
        for column in (received, finished, returned, due)
    ]
    # "~" sorts after every digit: the earlier of the two processing dates, "~" for none
    processed = map(min, [d or "~" for d in columns[1]], [d or "~" for d in columns[2]])
    keys = Counter(
        (unit, r[:6], p[:6], not d or p <= d, d[:6])
        for unit, s, r, p, d in zip(units, texts, columns[0], processed, columns[3], strict=True)
        if r and unit is not None and s not in NOT_TO_PROCESS
    )
    for (unit, opened, closed, on_time, due_month), count in keys.items():
        _add_dossier(
            changes.setdefault(unit, {}),
            sign * count,
            _wire_month_index(opened),
            None if closed == "~" else _wire_month_index(closed),
            on_time,
            _wire_month_index(due_month) if due_month else None,
        )
    return changes


_STR_ONLY = frozenset({str})
_WIRE_DATE_LINES = re.compile(f"(?:{WIRE_DATE_SHAPE})(?:\n(?:{WIRE_DATE_SHAPE}))*")


def _plain_wire_dates(values: Sequence[object]) -> bool:
    """True when every value is empty (``None`` or "") or a real wire date-time: one regular
    expression over the distinct values, and the calendar for days after the 28th."""
    try:
        distinct = set(values)
    except TypeError:  # an unhashable value: not a date
        return False
    distinct.discard(None)
    distinct.discard("")
    if not distinct:
        return True
    if not _STR_ONLY.issuperset(map(type, distinct)):
        return False
    texts: set[str] = distinct  # type: ignore[assignment]  # proved text just above
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1 or _WIRE_DATE_LINES.fullmatch(joined) is None:
        return False
    return all(parse_wire_date(v) is not None for v in texts if v[6:8] > "28")


def _wire_month_index(value: str) -> int:
    return int(value[0:4]) * 12 + int(value[4:6]) - 1


def _add_dossier(
    changes: MonthChanges,
    sign: int,
    opened: int,
    closed: int | None,
    on_time: bool,
    due: int | None,
) -> None:
    if closed is not None and closed < opened:
        return  # processed before the month of its reception: in no month's figures

    def add(index: int, field: int, count: int) -> None:
        row = changes.get(index)
        if row is None:
            row = changes[index] = [0, 0, 0, 0, 0]
        row[field] += sign * count

    add(opened, 0, 1)
    add(opened, 3, 1)
    if closed is not None:
        add(closed, 1 if on_time else 2, 1)
        add(closed, 3, -1)
    if due is not None:
        overdue_from = max(opened, due)
        if closed is None or overdue_from < closed:
            add(overdue_from, 4, 1)
            if closed is not None:
                add(closed, 4, -1)


def stats_from_month_sums(
    year: int,
    month: int,
    received: int,
    on_time: int,
    late: int,
    open_at_end: int,
    open_before: int,
    overdue_at_end: int,
) -> MonthlyStats:
    """The figures of a month from the sums of the month rows: the month's own events, and
    the running sums of ``pending`` up to it and up to the month before, and of ``overdue``."""
    return MonthlyStats(
        year,
        month,
        received=received,
        carried_over=open_before,
        processed_on_time=on_time,
        processed_late=late,
        pending_in_time=open_at_end - overdue_at_end,
        pending_overdue=overdue_at_end,
    )
