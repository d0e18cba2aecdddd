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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lienthong.spec.dates import VIETNAM, parse_wire_date

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
