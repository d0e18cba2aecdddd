"""The monthly statistics kept as dossiers are written (``dossier_month_stats``) equal the full
computation from the stored dossiers (``computed_statistics_from_dossiers``: every open dossier,
its JSON, the unit filtered by the agency-code hierarchy), for every unit of a hierarchy and
every month, whatever pushes, updates and progress steps arrive in whatever order; on SQLite
and PostgreSQL, through the column path and the general path, and after migration 0019 fills
an existing database."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.auth import Principal
from lienthong.hub.dossiers import sync_dossiers, sync_progress
from lienthong.hub.month_stats import rebuild_month_stats, unit_path
from lienthong.hub.reports import computed_statistics, computed_statistics_from_dossiers
from lienthong.hub.settings import HubSettings
from lienthong.store.db import _version_schema, alembic_config, upgrade
from lienthong.store.tables import Account, Dossier, DossierEvent, DossierMonthStats

PROVINCE = "000.00.00.H56"
#: Units of dossier codes, two spelling one unit (QCVN 102 and QĐ 20), and the units asked.
CODE_UNITS = ("000.00.13.H56", "000.05.13.H56", "H56.13.05", "000.00.14.H56")
ASKED = ("000.00.00.H56", "000.00.13.H56", "H56.13", "000.05.13.H56", "000.00.14.H56")
FIRST_DAY = dt.date(2025, 10, 1)
MONTHS = [(2025, month) for month in range(9, 13)] + [(2026, month) for month in range(1, 9)]

#: A dossier's state: status, then days after FIRST_DAY of its reception, and days after the
#: reception of its end of processing, return and due date, or None (the hub refuses dates
#: before the reception, and a returned dossier, 10, without its return date).
OFFSETS = st.one_of(st.none(), st.integers(0, 120))
STATES = st.tuples(
    st.sampled_from(["1", "2", "3", "4", "5", "7", "9", "10"]),
    st.integers(0, 150),
    OFFSETS,
    OFFSETS,
    OFFSETS,
)
TEMPLATE = dossiers(1)[0]


def _code(unit: str, number: int) -> str:
    if unit.count(".") == 3:  # QCVN 102 unit: TT 01/2018 code
        return f"{unit}-251001-{number:04d}"
    return f"{unit}-20251001-{number:07d}"


def _wire(day: dt.date, hour: int = 8) -> str:
    return f"{day:%Y%m%d}{hour:02d}0000"


def _record(
    code: str, state: tuple[str, int, int | None, int | None, int | None]
) -> dict[str, Any]:
    status, received, finished, returned, due = state
    if status == "10" and returned is None:
        returned = finished or 0
    day = FIRST_DAY + dt.timedelta(days=received)

    def after(days: int | None, hour: int) -> str:
        return "" if days is None else _wire(day + dt.timedelta(days=days), hour)

    record = copy.deepcopy(TEMPLATE)
    record.update(
        MaHoSo=code,
        TrangThaiHoSo=status,
        NgayTiepNhan=_wire(day),
        NgayKetThucXuLy=after(finished, 9),
        NgayTra=after(returned, 10),
        NgayHenTra=after(due, 9),
    )
    return record


class Desk:
    """A hub without its HTTP server: pushes go through its validator and store in one
    transaction per envelope, as the app sends them."""

    def __init__(self, engine: Engine) -> None:
        self.hub = Hub(HubSettings(), engine=engine)
        if self.hub.accounts.get("tinh") is None:
            self.hub.accounts.add("tinh", "mat-khau-thu-nghiem", [PROVINCE])
        account = self.hub.accounts.get("tinh")
        assert isinstance(account, Account)
        self.principal = Principal(account.id, account.username, (PROVINCE,), frozenset({"*"}))

    def push(self, records: list[dict[str, Any]], updating: bool) -> list[str]:
        envelope = {
            "session": "-",
            "madonvi": PROVINCE,
            "service": "DongBoHoSoMC",
            "isUpdating": str(updating),
            "data": records,
        }
        result = self.hub.validator.validate_envelope(envelope, scan_unicode=False)
        with self.hub.sessions() as db:
            outcomes = sync_dossiers(db, self.principal, PROVINCE, updating, result)
            db.commit()
        return [outcome.status for outcome in outcomes]

    def steps(self, codes: list[str], status: str) -> None:
        steps = [
            {
                "MaHoSo": code,
                "NguoiXuLy": "Cán bộ",
                "ThoiDiemXuLy": "20260101080000",
                "NoiDungXuLy": "Xử lý",
                "TrangThai": status,
            }
            for code in codes
        ]
        envelope = {"session": "-", "madonvi": PROVINCE, "service": "CapNhatTienDoHoSoMC"}
        result = self.hub.validator.validate_envelope({**envelope, "data": steps})
        with self.hub.sessions() as db:
            sync_progress(db, self.principal, result)
            db.commit()

    def clear(self) -> None:
        with self.hub.sessions() as db:
            for table in (DossierEvent, Dossier, DossierMonthStats):
                db.execute(sa.delete(table))
            db.commit()

    def disagreements(self) -> list[tuple[str, int, int, dict[str, tuple[str, str]]]]:
        """(unit, year, month, {field: (kept, full)}) wherever the two computations differ."""
        wrong = []
        with self.hub.sessions() as db:
            for unit, (year, month) in itertools.product(ASKED, MONTHS):
                kept = computed_statistics(db, unit, year, month)
                full = computed_statistics_from_dossiers(db, unit, year, month)
                if kept != full:
                    differ = {k: (kept[k], full[k]) for k in kept if kept[k] != full[k]}
                    wrong.append((unit, year, month, differ))
        return wrong


@pytest.fixture
def desk(engine: Engine) -> Desk:
    return Desk(engine)


#: One operation: ("new", [(unit index, state)], cut) pushes new dossiers in envelopes cut at
#: ``cut``; ("update", [(dossier index, state)], updating-missing) replaces stored ones (or
#: pushes a new one with isUpdating True); ("steps", [dossier index], status).
OPERATIONS = st.one_of(
    st.tuples(
        st.just("new"),
        st.lists(st.tuples(st.integers(0, len(CODE_UNITS) - 1), STATES), min_size=1, max_size=8),
        st.integers(1, 8),
    ),
    st.tuples(
        st.just("update"),
        st.lists(st.tuples(st.integers(0, 30), STATES), min_size=1, max_size=4),
        st.booleans(),
    ),
    st.tuples(
        st.just("steps"),
        st.lists(st.integers(0, 30), min_size=1, max_size=4),
        st.sampled_from(["4", "9", "10"]),
    ),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=6))
def test_the_kept_statistics_equal_the_full_computation(
    desk: Desk, operations: list[tuple[str, Any, Any]]
) -> None:
    desk.clear()
    numbers = itertools.count(1)
    codes: list[str] = []
    for kind, items, option in operations:
        if kind == "new":
            records = [_record(_code(CODE_UNITS[u], next(numbers)), s) for u, s in items]
            for start in range(0, len(records), option):
                statuses = desk.push(records[start : start + option], updating=False)
                assert set(statuses) <= {"accepted"}, statuses
            codes += [record["MaHoSo"] for record in records]
        elif kind == "update":
            records = []
            for index, state in items:
                if option or not codes:  # isUpdating True on a dossier the hub lacks
                    code = _code(CODE_UNITS[index % len(CODE_UNITS)], next(numbers))
                    codes.append(code)
                else:
                    code = codes[index % len(codes)]
                records.append(_record(code, state))
            assert set(desk.push(records, updating=True)) <= {"accepted", "updated", "unchanged"}
        elif codes:
            desk.steps(sorted({codes[index % len(codes)] for index in items}), option)
    assert desk.disagreements() == []


def test_figures_of_a_unit_count_the_units_under_it(desk: Desk) -> None:
    """Hand-checked figures: two units under one district, one spelled in both formats; the
    province's figures hold all of them, a sibling district none."""
    desk.clear()
    records = [
        # received in Oct, processed on time in Nov
        _record(_code("000.00.13.H56", 1), ("9", 10, 35, None, 40)),
        # received in Oct, processed late in Nov (returned first)
        _record(_code("000.05.13.H56", 2), ("10", 12, 40, 33, 20)),
        # received in Nov, not processed, overdue from Dec
        _record(_code("H56.13.05", 3), ("4", 35, None, None, 40)),
        # refused at reception: in no figures
        _record(_code("000.05.13.H56", 4), ("3", 35, None, None, None)),
    ]
    assert desk.push(records, updating=False) == ["accepted"] * 4
    with desk.hub.sessions() as db:
        november = computed_statistics(db, "000.00.13.H56", 2025, 11)
        december = computed_statistics(db, "H56.13", 2025, 12)
        assert computed_statistics(db, PROVINCE, 2025, 11) == {**november, "Madonvi": PROVINCE}
        sibling = computed_statistics(db, "000.00.14.H56", 2025, 11)
        with pytest.raises(ValueError):
            computed_statistics(db, "not-a-unit", 2025, 11)
    assert (november["SoNhanTrongKy"], november["SoTonKyTruoc"]) == ("1", "2")
    assert (november["TongXuLyDungHan"], november["TongXuLyTreHan"]) == ("1", "1")
    assert (november["TongChuaXuLyTrongHan"], november["TongChuaXuLyTreHan"]) == ("1", "0")
    assert (december["SoTonKyTruoc"], december["TongChuaXuLyTreHan"]) == ("1", "1")
    assert sibling["TongSoXuLy"] == "0"
    assert unit_path("000.05.13.H56") == unit_path("H56.13.05") == "H56.13.05"


def test_the_migration_and_a_rebuild_fill_the_statistics_of_existing_dossiers(
    engine: Engine,
) -> None:
    """Dossiers stored before 0019: going down to 0018 drops the table and the record's own
    status; going up again fills both from the stored dossiers. ``rebuild_month_stats`` gives
    the same rows."""
    desk = Desk(engine)
    states = [
        (status, day, finished, returned, due)
        for status, day, finished, returned, due in itertools.product(
            ["2", "3", "10"], [0, 45], [None, 0, 30], [None, 10], [None, 5, 90]
        )
    ]
    records = [
        _record(_code(CODE_UNITS[n % len(CODE_UNITS)], n + 1), state)
        for n, state in enumerate(states)
    ]
    assert set(desk.push(records, updating=False)) == {"accepted"}
    desk.steps([records[0]["MaHoSo"]], "9")  # the status column then differs from the record's

    def kept_rows() -> list[tuple[Any, ...]]:
        with engine.connect() as connection:
            query = select(DossierMonthStats.__table__).order_by(
                DossierMonthStats.unit_path, DossierMonthStats.month
            )
            return [tuple(row) for row in connection.execute(query)]

    before = kept_rows()
    assert before and desk.disagreements() == []
    with engine.begin() as connection:
        config = alembic_config(connection)
        config.attributes["version_table_schema"] = _version_schema(connection)
        command.downgrade(config, "0018")
    upgrade(engine)
    assert kept_rows() == before
    with desk.hub.sessions() as db:
        query = select(Dossier.ma_ho_so, Dossier.record_status)
        statuses = {row.ma_ho_so: row.record_status for row in db.execute(query)}
        assert rebuild_month_stats(db, batch=7) == len(records)
        db.commit()
    assert statuses == {record["MaHoSo"]: record["TrangThaiHoSo"] for record in records}
    assert kept_rows() == before
