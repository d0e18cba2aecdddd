"""Monthly statistics computed from dossiers: each definition of lienthong.spec.stats, by hand."""

from __future__ import annotations

from lienthong.spec import Validator
from lienthong.spec.stats import monthly_stats


def _dossier(received: str, due: str, done: str = "", status: str = "4") -> dict[str, str]:
    return {
        "NgayTiepNhan": received,
        "NgayHenTra": due,
        "NgayKetThucXuLy": done,
        "NgayTra": "",
        "TrangThaiHoSo": status,
    }


DOSSIERS = [
    _dossier("20240705080000", "20240710170000", "20240709100000", "9"),  # received, on time
    _dossier("20240705080000", "20240710170000", "20240712100000", "9"),  # received, late
    _dossier("20240720080000", "20240805170000"),  # received, pending in time
    _dossier("20240628080000", "20240703170000", "20240702100000", "10"),  # carried over, on time
    _dossier("20240610080000", "20240615170000"),  # carried over, pending overdue
    _dossier(
        "20240601080000", "20240605170000", "20240604100000", "10"
    ),  # done in June: not counted
    _dossier("20240801080000", "20240805170000"),  # August: not counted
    _dossier("20240705080000", "20240710170000", status="3"),  # refused at reception
    _dossier(
        "20240706080000", "20240710170000", "20240801090000"
    ),  # done in August: pending, overdue
]


def test_monthly_figures_follow_the_definitions() -> None:
    stats = monthly_stats(DOSSIERS, 2024, 7)
    assert (stats.received, stats.carried_over) == (4, 2)
    assert (stats.processed_on_time, stats.processed_late) == (2, 1)
    assert (stats.pending_in_time, stats.pending_overdue) == (1, 2)
    assert stats.total == stats.processed + stats.pending == 6


def test_the_wire_record_satisfies_every_statistics_rule() -> None:
    record = monthly_stats(DOSSIERS, 2024, 7).to_wire("000.00.00.H56", "UBND tỉnh Thanh Hóa")
    assert record["PhanTramXuLyDungHan"] == "66.67" and record["PhanTramChuaXuLyTreHan"] == "66.67"
    envelope = {
        "session": "s",
        "madonvi": "000.00.00.H56",
        "service": "DongBoThongKeHoSo",
        "data": [record],
    }
    assert Validator(strict=True).validate_envelope(envelope).ok


def test_an_empty_month_has_zero_percentages() -> None:
    record = monthly_stats([], 2024, 12).to_wire("000.00.00.H56")
    assert record["TongSoXuLy"] == "0" and record["PhanTramXuLyDungHan"] == "0.00"
