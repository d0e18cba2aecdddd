"""Cross-field rules: the checks the portal's ranking depends on, beyond single fields.

Each rule reads the raw record (wire form) and skips quietly when the fields it needs are
absent or already invalid: the field-level check has reported those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lienthong.spec import identifiers
from lienthong.spec.dates import now_vietnam, parse_wire_date
from lienthong.spec.issues import Issue, make_issue


@dataclass(frozen=True, slots=True)
class RuleContext:
    today: dt.date | None


Rule = Callable[[Mapping[str, Any], str, RuleContext], list[Issue]]


def _date(record: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = record.get(name)
    if type(value) is not str or not value:
        return None
    return parse_wire_date(value)


_VALID_TIMES: set[str] = set()


def _wire_time(value: Any) -> str | None:
    """A comparable form of a valid wire date: the 14 digits themselves (they sort as times)."""
    if value.__class__ is not str:
        return None
    if value in _VALID_TIMES:
        return value
    if len(value) == 14 and value.isdigit() and value.isascii():
        if parse_wire_date(value) is None:
            return None
        if len(_VALID_TIMES) > 100_000:
            _VALID_TIMES.clear()
        _VALID_TIMES.add(value)
        return value
    return None


@lru_cache(maxsize=8)
def _latest_reception_day(today: dt.date) -> str:
    """Receptions dated after this day are in the future (one day of slack for fast clocks)."""
    return (today + dt.timedelta(days=1)).strftime("%Y%m%d")


def _not_before(
    record: Mapping[str, Any], path: str, later: str, earlier: str, issues: list[Issue]
) -> None:
    late = _wire_time(record.get(later))
    if late is None:
        return
    early = _wire_time(record.get(earlier))
    if early is not None and late < early:
        issues.append(
            make_issue(
                f"{path}.{later}",
                "date.order",
                field=later,
                value=record[later],
                other=earlier,
                other_value=record[earlier],
            )
        )


def dossier_dates(record: Mapping[str, Any], path: str, ctx: RuleContext) -> list[Issue]:
    issues: list[Issue] = []
    received = _wire_time(record.get("NgayTiepNhan"))
    if received is not None and received[:8] > _latest_reception_day(
        ctx.today or now_vietnam().date()
    ):
        issues.append(
            make_issue(f"{path}.NgayTiepNhan", "date.future", field="NgayTiepNhan", value=received)
        )
    for later in ("NgayHenTra", "NgayTra", "NgayKetThucXuLy"):
        _not_before(record, path, later, "NgayTiepNhan", issues)
    return issues


def dossier_returned(record: Mapping[str, Any], path: str, ctx: RuleContext) -> list[Issue]:
    if record.get("TrangThaiHoSo") in ("10", 10) and not record.get("NgayTra"):
        return [make_issue(f"{path}.NgayTra", "dossier.returned_without_date")]
    return []


@lru_cache(maxsize=4096)
def _unit_closed_on(unit: str) -> dt.date | None:
    agency = identifiers.parse_agency_code(unit)
    return None if agency is None else identifiers.agency_registry().closed_on(agency.level1)


def dossier_code_unit(record: Mapping[str, Any], path: str, ctx: RuleContext) -> list[Issue]:
    code = record.get("MaHoSo")
    if code.__class__ is not str or len(code) > 80:
        return []
    if _unit_closed_on(code.rsplit("-", 2)[0]) is None:  # the common case: an open unit
        return []
    parsed = identifiers.parse_dossier_code(code)
    if parsed is None:
        return []
    agency = identifiers.parse_agency_code(parsed.unit)
    if agency is None:
        return []
    registry = identifiers.agency_registry()
    closed_on = registry.closed_on(agency.level1)
    if closed_on is None:
        return []
    received = _date(record, "NgayTiepNhan")
    received_on = received.date() if received is not None else parsed.received_on
    if received_on < closed_on:
        return []
    entry = registry.level1(agency.level1)
    successor = entry.successor if entry is not None and entry.successor else "?"
    return [
        make_issue(
            f"{path}.MaHoSo",
            "dossier.unit_closed",
            field="MaHoSo",
            unit=agency.level1,
            closed_on=closed_on.isoformat(),
            successor=successor,
        )
    ]


def progress_dates(record: Mapping[str, Any], path: str, ctx: RuleContext) -> list[Issue]:
    issues: list[Issue] = []
    _not_before(record, path, "NgayKetThucTheoQuyDinh", "NgayBatDau", issues)
    return issues


def _count(record: Mapping[str, Any], name: str) -> int | None:
    value = record.get(name)
    if value.__class__ is int:
        return value if abs(value) < 10**15 else None
    if value.__class__ is str and 0 < len(value) < 16 and value.isascii():
        digits = value[1:] if value[0] in "+-" else value
        if digits.isdigit():
            return int(value)
    return None


def _decimals(text: str) -> int:
    _, _, fraction = text.partition(".")
    return len(fraction)


_SUMS: Sequence[tuple[str, tuple[str, ...]]] = (
    ("TongSoXuLy", ("SoNhanTrongKy", "SoTonKyTruoc")),
    ("TongDaXuLy", ("TongXuLyDungHan", "TongXuLyTreHan")),
    ("TongChuaXuLy", ("TongChuaXuLyTrongHan", "TongChuaXuLyTreHan")),
    ("TongSoXuLy", ("TongDaXuLy", "TongChuaXuLy")),
)

_PERCENTS: Sequence[tuple[str, str, str]] = (
    ("PhanTramXuLyDungHan", "TongXuLyDungHan", "TongDaXuLy"),
    ("PhanTramXuLyTreHan", "TongXuLyTreHan", "TongDaXuLy"),
    ("PhanTramChuaXuLyTrongHan", "TongChuaXuLyTrongHan", "TongChuaXuLy"),
    ("PhanTramChuaXuLyTreHan", "TongChuaXuLyTreHan", "TongChuaXuLy"),
)


def stats_totals(record: Mapping[str, Any], path: str, ctx: RuleContext) -> list[Issue]:
    issues: list[Issue] = []
    for total, parts in _SUMS:
        expected_parts = [_count(record, part) for part in parts]
        reported = _count(record, total)
        if reported is None or any(p is None for p in expected_parts):
            continue
        expected = sum(p for p in expected_parts if p is not None)
        if reported != expected:
            issues.append(
                make_issue(
                    f"{path}.{total}",
                    "stats.sum",
                    field=total,
                    value=reported,
                    formula=" + ".join(parts),
                    expected=expected,
                )
            )
    for percent_field, part, whole in _PERCENTS:
        text = record.get(percent_field)
        if text is None or text == "":
            continue
        reported_percent = identifiers.parse_percent(str(text))
        numerator, denominator = _count(record, part), _count(record, whole)
        if reported_percent is None or numerator is None or denominator is None:
            continue
        exact = 0.0 if denominator == 0 else 100.0 * numerator / denominator
        # "Within rounding": half a unit of the last decimal the sender wrote.
        tolerance = 0.5 * 10 ** -_decimals(str(text).rstrip("%").strip()) + 1e-9
        if abs(reported_percent - exact) > tolerance:
            issues.append(
                make_issue(
                    f"{path}.{percent_field}",
                    "stats.percent",
                    field=percent_field,
                    value=text,
                    expected=f"{part}/{whole} = {exact:.2f}",
                )
            )
    for name in _COUNT_FIELDS:
        count = _count(record, name)
        if count is not None and count < 0:
            issues.append(
                make_issue(f"{path}.{name}", "field.range", field=name, value=count, range=">= 0")
            )
    month = _count(record, "Thang")
    if month is not None and not 1 <= month <= 12:
        issues.append(
            make_issue(f"{path}.Thang", "field.range", field="Thang", value=month, range="1-12")
        )
    return issues


_COUNT_FIELDS = (
    "SoNhanTrongKy",
    "SoTonKyTruoc",
    "TongSoXuLy",
    "TongDaXuLy",
    "TongXuLyDungHan",
    "TongXuLyTreHan",
    "TongChuaXuLy",
    "TongChuaXuLyTrongHan",
    "TongChuaXuLyTreHan",
)


def survey_percentages(record: Mapping[str, Any], path: str, ctx: RuleContext) -> list[Issue]:
    names = ("PhanTramDanhGiaRatHaiLong", "PhanTramDanhGiaHaiLong", "PhanTramDanhGiaChuaHaiLong")
    values = [record.get(name) for name in names]
    if any(type(v) not in (str, int, float) or v == "" for v in values):
        return []
    parsed = [identifiers.parse_percent(str(v)) for v in values]
    if any(p is None for p in parsed):
        return []
    total = sum(p for p in parsed if p is not None)
    if abs(total - 100.0) > 1.0 and not (total == 0 and _count(record, "TongSoNguoiDanhGia") == 0):
        return [
            make_issue(
                f"{path}.PhanTramDanhGiaRatHaiLong", "survey.percent_sum", total=round(total, 2)
            )
        ]
    return []


# -- batch forms ----------------------------------------------------------------------------------
# For a batch whose fields are all clean (lienthong.spec.batch), a rule's batch form looks at whole
# columns and returns the indices of the records that may break it; only those go through the
# record-by-record rule. Clean columns hold valid wire values, "" or None, so dates compare as text.

Columns = Mapping[str, Sequence[Any]]
BatchRule = Callable[[Columns, int, RuleContext], set[int]]


def _column(columns: Columns, name: str, size: int) -> Sequence[Any]:
    return columns.get(name) or (None,) * size


def dossier_dates_batch(columns: Columns, size: int, ctx: RuleContext) -> set[int]:
    received = _column(columns, "NgayTiepNhan", size)
    latest = _latest_reception_day(ctx.today or now_vietnam().date()) + "999999"
    suspects = {i for i, value in enumerate(received) if value and value > latest}
    for later in ("NgayHenTra", "NgayTra", "NgayKetThucXuLy"):
        for i, (late, early) in enumerate(
            zip(_column(columns, later, size), received, strict=True)
        ):
            if late and early and late < early:
                suspects.add(i)
    return suspects


def dossier_returned_batch(columns: Columns, size: int, ctx: RuleContext) -> set[int]:
    statuses = _column(columns, "TrangThaiHoSo", size)
    returned = _column(columns, "NgayTra", size)
    return {
        i for i, (s, r) in enumerate(zip(statuses, returned, strict=True)) if s == "10" and not r
    }


def dossier_code_unit_batch(columns: Columns, size: int, ctx: RuleContext) -> set[int]:
    codes = _column(columns, "MaHoSo", size)
    closed = {
        unit for unit in {code.rsplit("-", 2)[0] for code in codes if code} if _unit_closed_on(unit)
    }
    if not closed:
        return set()
    return {i for i, code in enumerate(codes) if code and code.rsplit("-", 2)[0] in closed}


BATCH_RULES: Mapping[str, BatchRule] = {
    "dossier_dates": dossier_dates_batch,
    "dossier_returned": dossier_returned_batch,
    "dossier_code_unit": dossier_code_unit_batch,
}


RULES: Mapping[str, Rule] = {
    "dossier_dates": dossier_dates,
    "dossier_returned": dossier_returned,
    "dossier_code_unit": dossier_code_unit,
    "progress_dates": progress_dates,
    "stats_totals": stats_totals,
    "survey_percentages": survey_percentages,
}
