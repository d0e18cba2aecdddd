"""Surveys and statistics stored per unit and period; reported statistics reconciled with the
hub's own figures, over real HTTP and on the command line."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import Engine
from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.demo import dossiers
from lienthong.spec.stats import monthly_stats
from tests.hub.conftest import OTHER_UNIT, UNIT, RunningHub
from tests.spec.test_layouts import FLAT as FLAT_SURVEY

SURVEY = {
    "NgayTongHop": "3-2026",
    "TongSoNguoiDanhGia": "320",
    "PhanTramDanhGiaRatHaiLong": "71%",
    "PhanTramDanhGiaHaiLong": "26%",
    "PhanTramDanhGiaChuaHaiLong": "3%",
    "DanhSachNoiDungYKien": [],
    "Madonvi": UNIT,
    "TenDonVi": "UBND tỉnh Thanh Hóa",
}


def _envelope(
    session: str, service: str, records: list[dict[str, Any]], unit: str = UNIT
) -> dict[str, Any]:
    return {"session": session, "madonvi": unit, "service": service, "data": records}


def test_surveys_are_stored_per_unit_and_period(running: RunningHub) -> None:
    session = running.login()
    first = running.call(_envelope(session, "DongBoDanhGia", [SURVEY])).json()
    assert (
        first["records"][0]["status"] == "accepted"
        and first["records"][0]["key"] == f"{UNIT} 2026-03"
    )
    assert (
        running.call(_envelope(session, "DongBoDanhGia", [SURVEY])).json()["records"][0]["status"]
        == "unchanged"
    )
    changed = {**SURVEY, "TongSoNguoiDanhGia": "321"}
    assert (
        running.call(_envelope(session, "DongBoDanhGia", [changed])).json()["records"][0]["status"]
        == "updated"
    )
    other = {**SURVEY, "Madonvi": OTHER_UNIT}
    refused = running.call(_envelope(session, "DongBoDanhGia", [other])).json()
    assert refused["records"][0]["error_code"] == "30"


def test_statistics_are_reconciled_with_the_received_dossiers(
    running: RunningHub, engine: Engine
) -> None:
    session = running.login()
    records = [copy.deepcopy(r) for r in dossiers(40)]  # received from 2026-03-02
    push = {
        "session": session,
        "madonvi": UNIT,
        "service": "DongBoHoSoMC",
        "isUpdating": "False",
        "data": records,
    }
    assert running.call(push).json()["error_code"] == "0"
    computed = monthly_stats(records, 2026, 3).to_wire(UNIT, "UBND tỉnh Thanh Hóa")
    reconcile = {
        "session": session,
        "madonvi": UNIT,
        "service": "DoiSoatThongKeHoSo",
        "Thang": "3",
        "Nam": "2026",
    }

    before = running.call(reconcile, path=running.settings.share_path).json()
    assert before["error_code"] == "0" and before["DaBaoCao"] == "False"

    assert (
        running.call(_envelope(session, "DongBoThongKeHoSo", [computed])).json()["error_code"]
        == "0"
    )
    agreed = running.call(reconcile).json()
    assert agreed["DaBaoCao"] == "True"
    assert {row["ChenhLech"] for row in agreed["result"]} == {"False"}

    # a unit that under-reports what it received: the gap is visible
    short = monthly_stats(records[5:], 2026, 3).to_wire(UNIT, "UBND tỉnh Thanh Hóa")
    assert (
        running.call(_envelope(session, "DongBoThongKeHoSo", [short])).json()["records"][0][
            "status"
        ]
        == "updated"
    )
    gaps = {
        row["TruongThongTin"]
        for row in running.call(reconcile).json()["result"]
        if row["ChenhLech"] == "True"
    }
    assert {"SoNhanTrongKy", "TongSoXuLy", "TongChuaXuLy"} <= gaps

    database = str(engine.url.render_as_string(hide_password=False))
    if engine.dialect.name == "sqlite":  # the CLI reads the same database
        result = CliRunner().invoke(
            app, ["report", "stats", "--unit", UNIT, "--month", "2026-03", "--database", database]
        )
        assert result.exit_code == 1 and "SoNhanTrongKy" in result.output


def test_computed_statistics_agree_with_monthly_stats_in_every_month(
    running: RunningHub, engine: Engine
) -> None:
    """The SQL pre-filter (received before the month ends, not processed before it starts)
    drops only what monthly_stats would skip: the figures agree month after month."""
    from lienthong.hub.reports import computed_statistics
    from lienthong.spec.dates import parse_wire_date
    from lienthong.store import session_factory

    records = [copy.deepcopy(r) for r in dossiers(400)]
    session = running.login()
    for start in range(0, len(records), 200):
        push = {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": records[start : start + 200],
        }
        assert running.call(push).json()["error_code"] == "0"
    months = sorted(
        {(d.year, d.month) for r in records if (d := parse_wire_date(r["NgayTiepNhan"]))}
    )
    last_year, last_month = months[-1]
    months.append((last_year + last_month // 12, last_month % 12 + 1))  # one month after
    assert len(months) >= 2
    with session_factory(engine)() as db:
        for year, month in months:
            expected = monthly_stats(records, year, month).to_wire(UNIT)
            assert computed_statistics(db, UNIT, year, month) == expected, (year, month)


def test_an_empty_month_with_nan_percentages_is_stored_without_them(
    running: RunningHub, engine: Engine
) -> None:
    """Issue 11: the OpenCPS statistics screen sends "NaN" (0/0) for the percentages of a
    month without dossiers, and could send "Infinity": taken with a warning, no value stored,
    and the reconciliation still works."""
    from sqlalchemy import select

    from lienthong.store.tables import UnitReport

    session = running.login()
    empty = monthly_stats([], 2026, 4).to_wire(UNIT, "UBND tỉnh Thanh Hóa")
    percents = sorted(name for name in empty if name.startswith("PhanTram"))
    sent = {**empty, **dict.fromkeys(percents, "NaN"), percents[0]: "Infinity"}
    answer = running.call(_envelope(session, "DongBoThongKeHoSo", [sent])).json()
    assert answer["error_code"] == "0", answer
    (record,) = answer["records"]
    assert record["status"] == "accepted"
    warned = {(i["code"], i["path"].rsplit(".", 1)[-1], i["severity"]) for i in record["issues"]}
    assert warned == {("percent.not_a_number", name, "warning") for name in percents}
    with engine.connect() as connection:
        stored = connection.scalar(select(UnitReport.record).where(UnitReport.period == "2026-04"))
    assert stored is not None and not set(percents) & set(stored)
    assert stored["SoNhanTrongKy"] == empty["SoNhanTrongKy"]
    reconcile = {
        "session": session,
        "madonvi": UNIT,
        "service": "DoiSoatThongKeHoSo",
        "Thang": "4",
        "Nam": "2026",
    }
    agreed = running.call(reconcile).json()
    assert agreed["error_code"] == "0" and agreed["DaBaoCao"] == "True", agreed
    counts = [row for row in agreed["result"] if not row["TruongThongTin"].startswith("PhanTram")]
    assert counts and {row["ChenhLech"] for row in counts} == {"False"}


def _opencps_question(text: str, very: str, good: str, bad: str) -> dict[str, Any]:
    """One record per survey question, all 13 keys flat, as the OpenCPS client sends them."""
    return {
        **FLAT_SURVEY,
        "Madonvi": UNIT,
        "NoiDung": text,
        "PhanTramDanhGiaDichVuRatHaiLong": very,
        "PhanTramDanhGiaDichVuHaiLong": good,
        "PhanTramDanhGiaDichVuChuaHaiLong": bad,
    }


def test_the_opencps_survey_layout_is_stored_as_one_nested_report(
    running: RunningHub, engine: Engine
) -> None:
    """Issue 11: OpenCPS sends DongBoDanhGia flat, one record per question; the hub takes it
    with a warning and stores the unit's month as one report in the catalog's layout."""
    from sqlalchemy import select

    from lienthong.store.tables import UnitReport

    session = running.login()
    batch = [
        _opencps_question("Thái độ phục vụ", "85%", "10%", "5%"),
        _opencps_question("Thời gian giải quyết", "60%", "30%", "10%"),
    ]
    answer = running.call(_envelope(session, "DongBoDanhGia", batch)).json()
    assert answer["error_code"] == "0", answer
    assert [r["status"] for r in answer["records"]] == ["accepted", "accepted"]
    assert all(r["key"] == f"{UNIT} 2026-03" for r in answer["records"])
    layouts = [{i["code"] for i in r.get("issues", [])} for r in answer["records"]]
    assert layouts == [{"record.layout"}, {"record.layout"}]
    with engine.connect() as connection:
        stored = connection.scalars(select(UnitReport.record)).all()
    assert len(stored) == 1
    (report,) = stored
    assert [item["NoiDung"] for item in report["DanhSachNoiDungYKien"]] == [
        "Thái độ phục vụ",
        "Thời gian giải quyết",
    ]
    assert report["DanhSachNoiDungYKien"][0]["PhanTramDanhGiaDichVuRatHaiLong"] == "85%"
    assert "NoiDung" not in report and report["TongSoNguoiDanhGia"] == 120
    again = running.call(_envelope(session, "DongBoDanhGia", batch)).json()
    assert [r["status"] for r in again["records"]] == ["unchanged", "unchanged"]
