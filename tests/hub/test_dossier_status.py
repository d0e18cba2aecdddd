"""The current status of a dossier (``dossiers.status``, ``status_at``) is that of its latest
claim, the stored record's or a step's, by its own time, whatever order and envelopes the
pushes come in (``lienthong.hub.dossiers``: ``claim_key``, ``record_time_text``); on SQLite
and PostgreSQL, and for existing rows after migration 0011.

The rule is restated here in its own words (``_latest``), not imported: a record's time is
its latest processing date (``NgayTiepNhan``, ``NgayKetThucXuLy``, ``NgayTra``, and
``NgayBoSung`` / ``NgayTiepNhanBoSung`` of its supplement rounds), a step's its
``ThoiDiemXuLy``; the latest wins, and at equal times the higher status code.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
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
from lienthong.hub.demo import seed_demo
from lienthong.hub.dossiers import sync_dossiers, sync_progress
from lienthong.hub.settings import HubSettings
from lienthong.hub.web import dossier_view
from lienthong.spec.dates import VIETNAM, format_wire_date
from lienthong.store.db import _version_schema, alembic_config, upgrade
from lienthong.store.tables import Account, Dossier, DossierEvent

UNIT = "000.00.00.H56"
DISTRICT = "000.00.13.H56"
DAY = dt.datetime(2026, 3, 2, 8, 0, tzinfo=VIETNAM)
#: Few instants, so that claims often share one (the ties of the rule).
INSTANTS = st.integers(0, 4).map(lambda hours: DAY + dt.timedelta(hours=hours))
STATUSES = st.sampled_from([str(code) for code in range(1, 11)])


@dataclass(frozen=True)
class Claim:
    at: dt.datetime
    status: str


def _latest(claims: list[Claim]) -> Claim:
    """The rule, as docs/protocol.md states it: the latest time, then the higher code."""
    return max(claims, key=lambda claim: (claim.at, int(claim.status)))


@dataclass
class Desk:
    """A hub without its HTTP server: the pushes go through its validator and store, as the
    app sends them (one transaction per envelope)."""

    hub: Hub
    principal: Principal
    codes: Iterator[int]

    def push_dossier(self, record: dict[str, Any], updating: bool) -> str:
        envelope = {
            "session": "-",
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": str(updating),
            "data": [record],
        }
        result = self.hub.validator.validate_envelope(envelope)
        with self.hub.sessions() as db:
            (outcome,) = sync_dossiers(db, self.principal, UNIT, updating, result)
            db.commit()
        assert outcome.code == "00", outcome
        return outcome.status

    def push_steps(self, steps: list[dict[str, Any]]) -> None:
        envelope = {"session": "-", "madonvi": UNIT, "service": "CapNhatTienDoHoSoMC"}
        result = self.hub.validator.validate_envelope({**envelope, "data": steps})
        with self.hub.sessions() as db:
            outcomes = sync_progress(db, self.principal, result)
            db.commit()
        assert [o.status for o in outcomes] == ["accepted"] * len(steps), outcomes

    def current(self, code: str) -> tuple[str, dt.datetime | None, dict[str, Any]]:
        with self.hub.sessions() as db:
            row = db.execute(
                select(Dossier.status, Dossier.status_at, Dossier.record).where(
                    Dossier.ma_ho_so == code
                )
            ).one()
        return row.status, row.status_at, row.record


@pytest.fixture
def desk(engine: Engine) -> Desk:
    hub = Hub(HubSettings(), engine=engine)
    hub.accounts.add("tinh_thanhhoa", "mat-khau-thu-nghiem", [UNIT])
    account = hub.accounts.get("tinh_thanhhoa")
    assert isinstance(account, Account)
    principal = Principal(account.id, account.username, (UNIT,), frozenset({"*"}))
    return Desk(hub, principal, itertools.count(1))


def _wire(moment: dt.datetime) -> str:
    return format_wire_date(moment)


def _record(
    code: str, status: str, received: dt.datetime, later: dict[str, dt.datetime]
) -> dict[str, Any]:
    """A demo dossier renamed ``code``, with ``status`` and these dates only: ``later`` may
    name ``NgayKetThucXuLy``, ``NgayTra`` and ``NgayBoSung`` (a supplement round)."""
    record = copy.deepcopy(dossiers(1)[0])
    record.update(
        MaHoSo=code,
        TrangThaiHoSo=status,
        NgayTiepNhan=_wire(received),
        NgayHenTra=_wire(received + dt.timedelta(days=3)),
        NgayTra=_wire(later["NgayTra"]) if "NgayTra" in later else "",
        NgayKetThucXuLy=_wire(later["NgayKetThucXuLy"]) if "NgayKetThucXuLy" in later else "",
    )
    if "NgayBoSung" in later:
        record["DanhSachHoSoBoSung"] = [
            {
                "HoSoBoSungId": "1",
                "NoiDungBoSung": "Bản sao",
                "NgayBoSung": _wire(later["NgayBoSung"]),
            }
        ]
    return record


def _step(code: str, number: int, at: dt.datetime, status: str) -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "NguoiXuLy": f"Cán bộ {number}",  # steps with the same time and status stay distinct
        "ThoiDiemXuLy": _wire(at),
        "NoiDungXuLy": "Xử lý",
        "TrangThai": status,
    }


RECORD_STATES = st.tuples(
    STATUSES,
    INSTANTS,
    st.dictionaries(
        st.sampled_from(["NgayKetThucXuLy", "NgayTra", "NgayBoSung"]),
        st.integers(0, 4),  # hours after the reception
        max_size=3,
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=RECORD_STATES,
    final=RECORD_STATES,
    steps=st.lists(st.tuples(INSTANTS, STATUSES), min_size=1, max_size=5),
    data=st.data(),
)
def test_the_status_is_the_latest_claims_whatever_the_arrival_order(
    desk: Desk,
    first: tuple[str, dt.datetime, dict[str, int]],
    final: tuple[str, dt.datetime, dict[str, int]],
    steps: list[tuple[dt.datetime, str]],
    data: st.DataObject,
) -> None:
    """The dossier is pushed (``first``), then its final state (``isUpdating`` True) and its
    steps arrive in any order, the steps in envelopes of any size: the status is that of the
    latest of the final record and the steps (the replaced record no longer claims)."""
    code = f"{DISTRICT}-260302-{next(desk.codes):04d}"

    def record(state: tuple[str, dt.datetime, dict[str, int]]) -> tuple[dict[str, Any], Claim]:
        status, received, hours = state
        later = {name: received + dt.timedelta(hours=h) for name, h in hours.items()}
        return _record(code, status, received, later), Claim(
            max([received, *later.values()]), status
        )

    first_record, _ = record(first)
    final_record, final_claim = record(final)
    step_records = [_step(code, n, at, status) for n, (at, status) in enumerate(steps)]
    arrivals: list[dict[str, Any] | None] = data.draw(
        st.permutations([None, *step_records]), label="arrivals (None: the final record)"
    )
    cuts = data.draw(st.lists(st.booleans(), min_size=len(arrivals), max_size=len(arrivals)))

    assert desk.push_dossier(first_record, updating=False) == "accepted"
    envelope: list[dict[str, Any]] = []
    for item, cut in zip(arrivals, cuts, strict=True):
        if item is None:
            if envelope:
                desk.push_steps(envelope)
                envelope = []
            desk.push_dossier(final_record, updating=True)
            continue
        envelope.append(item)
        if cut:
            desk.push_steps(envelope)
            envelope = []
    if envelope:
        desk.push_steps(envelope)

    expected = _latest([final_claim, *(Claim(at, status) for at, status in steps)])
    status, status_at, stored = desk.current(code)
    assert (status, status_at) == (expected.status, expected.at)
    assert stored == final_record  # the record stays as sent


def test_a_supplement_request_after_the_steps_sets_the_status(desk: Desk) -> None:
    """A record's supplement round dates its status: 5 (documents requested) at ``NgayBoSung``
    is later than the processing step, and the lookup page says so."""
    code = f"{DISTRICT}-260302-0001"
    received = DAY
    desk.push_dossier(_record(code, "2", received, {}), updating=False)
    desk.push_steps([_step(code, 1, DAY + dt.timedelta(hours=1), "4")])
    assert desk.current(code)[:2] == ("4", DAY + dt.timedelta(hours=1))
    asked = DAY + dt.timedelta(hours=3)
    desk.push_dossier(_record(code, "5", received, {"NgayBoSung": asked}), updating=True)
    assert desk.current(code)[:2] == ("5", asked)
    view = dossier_view(desk.hub, code)
    assert view is not None and view.status == "5"
    assert view.status_label == "Yêu cầu bổ sung giấy tờ"
    # a correction of the record that dates it earlier again gives the step its status back
    desk.push_dossier(_record(code, "2", received, {}), updating=True)
    assert desk.current(code)[:2] == ("4", DAY + dt.timedelta(hours=1))


def test_the_bulk_path_dates_the_status_of_new_dossiers(desk: Desk) -> None:
    """A clean batch of new dossiers (the column path) stores each record's time as
    ``status_at``: a step older than it does not set the status, a later one does."""
    records = [copy.deepcopy(record) for record in dossiers(20)]
    envelope = {"session": "-", "madonvi": UNIT, "service": "DongBoHoSoMC", "isUpdating": "False"}
    result = desk.hub.validator.validate_envelope({**envelope, "data": records}, scan_unicode=False)
    assert result.clean_columns is not None  # the column path
    with desk.hub.sessions() as db:
        sync_dossiers(db, desk.principal, UNIT, False, result)
        db.commit()
    for record in records:
        dates = [record[name] for name in ("NgayTiepNhan", "NgayTra", "NgayKetThucXuLy")]
        latest = max(date for date in dates if date)
        status, status_at, _ = desk.current(record["MaHoSo"])
        assert status == record["TrangThaiHoSo"]
        assert status_at == dt.datetime.strptime(latest, "%Y%m%d%H%M%S").replace(tzinfo=VIETNAM)
    first, second = records[0]["MaHoSo"], records[1]["MaHoSo"]
    desk.push_steps(
        [
            _step(first, 1, dt.datetime(2026, 3, 2, 7, 0, tzinfo=VIETNAM), "2"),  # older
            _step(second, 1, dt.datetime(2026, 4, 1, 9, 0, tzinfo=VIETNAM), "8"),  # later
        ]
    )
    assert desk.current(first)[0] == records[0]["TrangThaiHoSo"]
    assert desk.current(second)[0] == "8"


# -- the demo data ---------------------------------------------------------------------------------


def _record_claim(record: dict[str, Any]) -> Claim:
    dates = [record.get(name) for name in ("NgayTiepNhan", "NgayKetThucXuLy", "NgayTra")]
    dates += [
        round_.get(name)
        for round_ in record.get("DanhSachHoSoBoSung") or []
        for name in ("NgayBoSung", "NgayTiepNhanBoSung")
    ]
    latest = max(date for date in dates if date)
    at = dt.datetime.strptime(latest, "%Y%m%d%H%M%S").replace(tzinfo=VIETNAM)
    return Claim(at, str(record["TrangThaiHoSo"]))


def test_every_demo_dossier_has_the_status_of_its_latest_claim(engine: Engine) -> None:
    """``lienthong hub --demo`` (seed_demo) pushes 300 dossiers (the column path), then a
    reception step ("Tiếp nhận hồ sơ", status 2) at the reception time of the first 150: the
    records are at least as late, so every dossier keeps its record's status. Before 0011, 114
    of them showed the step's 2, the README's example among them."""
    hub = Hub(HubSettings(), engine=engine)
    seed_demo(hub)
    seed_demo(hub)  # seeding again changes nothing
    with hub.sessions() as db:
        rows = db.execute(
            select(Dossier.id, Dossier.status, Dossier.status_at, Dossier.record)
        ).all()
        claims = {row.id: [_record_claim(row.record)] for row in rows}
        current = {row.id: (row.status, row.status_at) for row in rows}
        for event in db.scalars(select(DossierEvent)):
            at = dt.datetime.strptime(event.record["ThoiDiemXuLy"], "%Y%m%d%H%M%S")
            claims[event.dossier_id].append(
                Claim(at.replace(tzinfo=VIETNAM), event.record["TrangThai"])
            )
    assert len(claims) == 300 and sum(map(len, claims.values())) == 450
    wrong = {}
    for dossier_id, dossier_claims in claims.items():
        expected = _latest(dossier_claims)
        if current[dossier_id] != (expected.status, expected.at):
            wrong[dossier_id] = (current[dossier_id], expected)
    assert wrong == {}
    assert all(status == claims[i][0].status for i, (status, _) in current.items())

    view = dossier_view(hub, "000.00.13.H56-260302-0001")  # the README's example
    assert view is not None
    assert (view.status, view.status_label) == ("10", "Đã trả kết quả")
    assert [step.status for step in view.steps] == ["2"]


# -- migration 0011 -----------------------------------------------------------------------------


def test_the_migration_recomputes_the_status_of_existing_dossiers(blank_engine: Engine) -> None:
    """Rows written before 0011 (the status of the latest step by ``ThoiDiemXuLy`` alone, as
    the hub then set it) get the status and time of their latest claim."""
    with blank_engine.begin() as connection:
        config = alembic_config(connection)
        config.attributes["version_table_schema"] = _version_schema(connection)
        command.upgrade(config, "0010")
    sqlite = blank_engine.dialect.name == "sqlite"

    def stored(moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None:
            return None
        moment = moment.astimezone(dt.UTC)
        return moment.replace(tzinfo=None) if sqlite else moment

    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    dossier_table = sa.table(
        "dossiers",
        *(sa.column(name) for name in ("id", "ma_ho_so", "unit", "ma_tthc", "status")),
        sa.column("record", json),
        *(sa.column(name) for name in ("record_hash", "created_at", "updated_at")),
    )
    event_table = sa.table(
        "dossier_events",
        *(sa.column(name) for name in ("dossier_id", "status", "processed_at")),
        sa.column("record", json),
        *(sa.column(name) for name in ("record_hash", "created_at")),
    )
    hour = dt.timedelta(hours=1)
    cases: list[tuple[dict[str, Any], str, list[tuple[dt.datetime | None, str]]]] = [
        # the demo's bug: a reception step at the reception time set 2 over the record's 4
        (_record("A-1", "4", DAY, {}), "2", [(DAY, "2")]),
        # steps later than the record
        (_record("A-2", "2", DAY, {}), "4", [(DAY + hour, "4"), (DAY + 2 * hour, "9")]),
        # returned (NgayTra) after the last step
        (_record("A-3", "10", DAY, {"NgayTra": DAY + 3 * hour}), "9", [(DAY + 2 * hour, "9")]),
        # a supplement request after the step
        (_record("A-4", "5", DAY, {"NgayBoSung": DAY + 2 * hour}), "4", [(DAY + hour, "4")]),
        # nothing dated: the record's status, no time; a timeless step with a higher code
        ({"MaHoSo": "A-5", "TrangThaiHoSo": "2"}, "2", []),
        ({"MaHoSo": "A-6", "TrangThaiHoSo": "2", "NgayTiepNhan": "02/03/2026"}, "2", [(None, "4")]),
    ]
    now = stored(DAY)
    with blank_engine.begin() as connection:
        for number, (record, old_status, steps) in enumerate(cases, start=1):
            connection.execute(
                dossier_table.insert(),
                {
                    "id": number,
                    "ma_ho_so": record["MaHoSo"],
                    "unit": UNIT,
                    "ma_tthc": "1.001612",
                    "status": old_status,
                    "record": record,
                    "record_hash": "",
                    "created_at": now,
                    "updated_at": now,
                },
            )
            for step_number, (at, status) in enumerate(steps):
                connection.execute(
                    event_table.insert(),
                    {
                        "dossier_id": number,
                        "status": status,
                        "processed_at": stored(at),
                        "record": {"TrangThai": status},
                        "record_hash": str(step_number),
                        "created_at": now,
                    },
                )
    upgrade(blank_engine)
    with blank_engine.connect() as connection:
        rows = connection.execute(
            select(Dossier.ma_ho_so, Dossier.status, Dossier.status_at).order_by(Dossier.id)
        ).all()
        assert connection.scalar(select(sa.func.count()).select_from(DossierEvent)) == 6
    assert [tuple(row) for row in rows] == [
        ("A-1", "4", DAY),
        ("A-2", "9", DAY + 2 * hour),
        ("A-3", "10", DAY + 3 * hour),
        ("A-4", "5", DAY + 2 * hour),
        ("A-5", "2", None),
        ("A-6", "4", None),
    ]
