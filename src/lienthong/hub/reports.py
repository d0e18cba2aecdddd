"""Unit reports: satisfaction surveys (DongBoDanhGia) and statistics (DongBoThongKeHoSo), stored
per unit and period; and the reconciliation of reported statistics with the hub's own figures.

The portal ranks provinces on how completely they sync. Reconciliation makes the gap visible: for
a unit and a month it sets the figures the unit reported beside the figures computed from the
dossiers the hub actually received (:func:`lienthong.spec.stats.monthly_stats`), kept per unit and
month as the dossiers are written (:mod:`lienthong.hub.month_stats`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from lienthong.hub.auth import Principal
from lienthong.hub.dossiers import Outcome, rejected
from lienthong.hub.month_stats import month_figures
from lienthong.spec import identifiers
from lienthong.spec.identifiers import parse_agency_code, parse_dossier_code
from lienthong.spec.stats import month_bounds, monthly_stats
from lienthong.spec.validate import EnvelopeResult
from lienthong.store.hashing import record_hash
from lienthong.store.tables import Dossier, UnitReport

SURVEY = "DongBoDanhGia"
STATISTICS = "DongBoThongKeHoSo"


def period_of(kind: str, record: dict[str, Any]) -> str | None:
    """``YYYY-MM`` (or ``YYYY`` for an annual statistics report) of a report record."""
    if kind == SURVEY:
        month, _, year = str(record.get("NgayTongHop", "")).partition("-")
    else:
        month, year = str(record.get("Thang", "")), str(record.get("Nam", ""))
        if str(record.get("LoaiThongKe", "1")) == "2" and year.isdigit():
            return year
    if not (month.isdigit() and year.isdigit() and 1 <= int(month) <= 12):
        return None
    return f"{int(year):04d}-{int(month):02d}"


def merged_survey(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two survey records of one unit and period as one: the later one's totals, and the
    questions of both (``DanhSachNoiDungYKien``), a question sent again replaced in place."""
    items: dict[tuple[str, str], Any] = {}
    for record in (earlier, later):
        for item in record.get("DanhSachNoiDungYKien") or []:
            if isinstance(item, dict):
                items[(str(item.get("MaThuTuc", "")), str(item.get("NoiDung", "")))] = item
    return {**later, "DanhSachNoiDungYKien": list(items.values())}


def without_not_a_number(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the percentages sent as ``NaN`` or ``Infinity`` (0/0 in an empty
    month): no value is stored for them, as for a percentage not sent (the warning
    ``percent.not_a_number`` says so)."""

    def kept(item: dict[str, Any]) -> dict[str, Any]:
        return {
            name: [kept(v) if isinstance(v, dict) else v for v in value]
            if isinstance(value, list)
            else value
            for name, value in item.items()
            if not (name.startswith("PhanTram") and identifiers.is_not_a_number(value))
        }

    return kept(record)


def sync_reports(
    db: Session, principal: Principal, kind: str, unit: str, result: EnvelopeResult
) -> list[Outcome]:
    """Store each report as the current one of its (unit, period): one SELECT for the batch, then
    one INSERT and one UPDATE. A re-sent identical report changes nothing."""
    outcomes: list[Outcome | None] = [None] * len(result.records)
    wanted: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    together: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for position, record_result in enumerate(result.records):
        if not record_result.ok or record_result.record is None:
            outcomes[position] = rejected(record_result)
            continue
        record = without_not_a_number(record_result.record)
        owner = str(record.get("Madonvi") or unit)
        period = period_of(kind, record)
        key = f"{owner} {period}"
        if not principal.may_act_for(owner):
            outcomes[position] = Outcome(
                record_result.index,
                key,
                "rejected",
                "30",
                message=f"Đơn vị {owner} ngoài phạm vi của tài khoản",
                message_en=f"Unit {owner} is outside the account's units",
            )
        elif period is None:
            outcomes[position] = Outcome(
                record_result.index,
                key,
                "rejected",
                "15",
                message="Không xác định được kỳ báo cáo",
                message_en="The report period cannot be read",
            )
        else:
            earlier = wanted.get((owner, period))
            if kind == SURVEY and earlier is not None:
                # one survey question per record (OpenCPS's layout, rewritten by the
                # validator): the records of one unit and period are one report
                record = merged_survey(earlier[1], record)
                together[(owner, period)].append(earlier[0])
            wanted[(owner, period)] = (position, record)  # a later copy in the batch wins
    existing: dict[tuple[str, str], tuple[int, str]] = {}
    if wanted:
        query = select(
            UnitReport.id, UnitReport.unit, UnitReport.period, UnitReport.record_hash
        ).where(
            UnitReport.kind == kind,
            UnitReport.unit.in_({owner for owner, _ in wanted}),
            UnitReport.period.in_({period for _, period in wanted}),
        )
        existing = {(row.unit, row.period): (row.id, row.record_hash) for row in db.execute(query)}
    now = dt.datetime.now(dt.UTC)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (owner, period), (position, record) in wanted.items():
        index, key = result.records[position].index, f"{owner} {period}"
        digest = record_hash(record)
        values = {
            "record": record,
            "record_hash": digest,
            "account": principal.username,
            "updated_at": now,
        }
        found = existing.get((owner, period))
        if found is None:
            inserts.append({"kind": kind, "unit": owner, "period": period, **values})
            outcomes[position] = Outcome(index, key, "accepted")
        elif found[1] == digest:
            outcomes[position] = Outcome(index, key, "unchanged")
        else:
            updates.append({"id": found[0], **values})
            outcomes[position] = Outcome(index, key, "updated")
    if inserts:
        db.execute(insert(UnitReport).execution_options(render_nulls=True), inserts)
    if updates:
        db.execute(update(UnitReport), updates)
    for report, positions in together.items():  # the records merged into one report
        final = outcomes[wanted[report][0]]
        for position in positions:
            if final is not None:
                index = result.records[position].index
                outcomes[position] = Outcome(index, final.key, final.status, final.code)
    for position, record_result in enumerate(result.records):
        if outcomes[position] is None:  # an earlier copy of a report the batch sends twice
            outcomes[position] = Outcome(record_result.index, None, "unchanged")
    return [outcome for outcome in outcomes if outcome is not None]


@dataclass(frozen=True, slots=True)
class StatsGap:
    field: str
    reported: str | None
    computed: str

    @property
    def differs(self) -> bool:
        if self.reported is None:
            return True
        try:  # "97.5" and "97.50" are the same percentage
            return abs(float(self.reported) - float(self.computed)) > 0.005
        except ValueError:
            return self.reported != self.computed


def computed_statistics(db: Session, unit: str, year: int, month: int) -> dict[str, str]:
    """The DongBoThongKeHoSo record the hub computes for ``unit`` (and the units under it), from
    the statistics kept as the dossiers are written (:mod:`lienthong.hub.month_stats`): a few
    rows of the unit, whatever the size of the store."""
    return month_figures(db, unit, year, month).to_wire(unit)


def computed_statistics_from_dossiers(
    db: Session, unit: str, year: int, month: int
) -> dict[str, str]:
    """The same record computed the first way, from the dossiers themselves: every dossier
    still open in the month, JSON and all, the unit filtered here. Its time grows with the
    store; kept as the definition the kept statistics are checked against (tests, and
    ``bench/scale_stats.py``)."""
    target = parse_agency_code(unit)
    if target is None:
        raise ValueError(f"not an agency code: {unit}")
    start, end = month_bounds(year, month)
    start_utc = start.astimezone(dt.UTC)
    records = []
    # the database drops what monthly_stats would skip by date (processed before the month);
    # the unit of a dossier is read from its code, below, by the agency-code hierarchy
    rows = db.execute(
        select(Dossier.ma_ho_so, Dossier.record).where(
            Dossier.received_at < end.astimezone(dt.UTC),
            or_(Dossier.finished_at.is_(None), Dossier.finished_at >= start_utc),
            or_(Dossier.returned_at.is_(None), Dossier.returned_at >= start_utc),
        )
    )
    for code, record in rows:
        parsed = parse_dossier_code(code)
        owner = parse_agency_code(parsed.unit) if parsed is not None else None
        if owner is not None and owner.is_within(target):
            records.append(record)
    return monthly_stats(records, year, month).to_wire(unit)


def reconcile_statistics(
    db: Session, unit: str, year: int, month: int
) -> tuple[dict[str, Any] | None, list[StatsGap]]:
    """(reported record or None, one gap row per count field)."""
    computed = computed_statistics(db, unit, year, month)
    reported_row = db.scalar(
        select(UnitReport.record).where(
            UnitReport.kind == STATISTICS,
            UnitReport.unit == unit,
            UnitReport.period == f"{year:04d}-{month:02d}",
        )
    )
    fields = [name for name in computed if name.startswith(("So", "Tong", "PhanTram"))]
    gaps = [
        StatsGap(
            name, None if reported_row is None else str(reported_row.get(name, "")), computed[name]
        )
        for name in fields
    ]
    return reported_row, gaps
