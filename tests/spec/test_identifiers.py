"""Tests for lienthong.spec.identifiers (identifier formats and the level-1 agency registry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.spec import identifiers as ids
from lienthong.spec.identifiers import (
    WARNING_CODES,
    AgencyRegistry,
    IdentifierProblem,
    agency_is_within,
    agency_registry,
    check_agency_code,
    check_agency_open,
    check_dossier_code,
    check_email,
    check_linhvuc_code,
    check_month_year,
    check_percent,
    check_personal_id,
    check_phone,
    check_social_insurance,
    check_tthc_code,
    check_url,
    parse_agency_code,
    parse_dossier_code,
    parse_percent,
    personal_id_birth,
)


def code_of(problem: IdentifierProblem | None) -> str | None:
    return None if problem is None else problem.code


# --------------------------------------------------------------------------------------------
# Agency codes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "000.00.00.G22",
        "000.00.00.G12",
        "000.00.18.G12",
        "000.00.00.H41",
        "000.00.01.H22",
        "000.00.04.G18",
        "000.00.12.H19",
        "000.01.12.H19",
        "001.01.12.H19",
        "000.00.AB.H19",  # lenient [0-9A-Z] in levels 2-4
        "G09.20",
        "G09.01",
        "G09",
        "G22.A1.B2.C3",
        "H56.1.2.3.4.5",
        "K57",
        "G" + "09" + ".1" * 16,  # 35 characters
    ],
)
def test_agency_code_valid(value: str) -> None:
    assert check_agency_code(value) is None
    assert parse_agency_code(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "g09.20",
        "000.00.00.g22",
        "000.00.00.L22",
        "000.00.00.G2",
        "000.00.00.G222",
        "00.00.00.G22",
        "000.0.00.G22",
        "000-00-00-G22",
        "000.00.00.G22 ",
        " 000.00.00.G22",
        "000.00.00.G22\n",
        "G09.20\n",
        "G09.",
        "G09..20",
        ".G09",
        "G09.2a",
        "G09.20.",
        "G9.20",
        "X09.20",
        "G09.2" + "0" * 31,  # 36 characters
        "G" + "09" + ".1" * 17,  # 37 characters
        "０００.00.00.G22",  # full-width digits
        "٠٠٠.00.00.G22",  # Arabic-Indic digits
        "G٠٩.20",
        "000.00.00.G22-200101-0001",
    ],
)
def test_agency_code_format(value: str) -> None:
    assert code_of(check_agency_code(value)) == "agency.format"
    assert parse_agency_code(value) is None


def test_agency_code_36_characters() -> None:
    value = "G09." + "1" * 32
    assert len(value) == 36
    assert code_of(check_agency_code(value)) == "agency.format"
    assert check_agency_code(value[:-1]) is None


@pytest.mark.parametrize(
    "value",
    ["000.01.00.H19", "001.00.00.H19", "001.01.00.H19", "001.00.12.H19", "010.00.00.G22"],
)
def test_agency_code_hierarchy(value: str) -> None:
    assert code_of(check_agency_code(value)) == "agency.hierarchy"
    assert parse_agency_code(value) is None


@pytest.mark.parametrize("value", ["000.00.00.A01", "000.00.00.H64", "G99.20", "H00", "K01"])
def test_agency_code_unknown_level1_is_a_warning(value: str) -> None:
    problem = check_agency_code(value)
    assert code_of(problem) == "agency.unknown_level1"
    assert problem is not None and problem.code in WARNING_CODES
    assert value[-3:] in problem.en or value[:3] in problem.en
    assert parse_agency_code(value) is not None


def test_warning_codes() -> None:
    assert frozenset({"agency.unknown_level1", "percent.not_a_number"}) == WARNING_CODES


def test_closed_level1_code_is_still_well_formed() -> None:
    # closure is a date question (check_agency_open), not a format one
    assert check_agency_code("000.00.00.H22") is None
    assert check_agency_code("000.00.00.G14") is None


def test_parse_agency_code_levels() -> None:
    a = parse_agency_code("000.00.12.H19")
    assert a is not None
    assert (a.style, a.level1, a.levels, a.text) == (
        "qcvn102",
        "H19",
        ("H19", "12"),
        "000.00.12.H19",
    )
    b = parse_agency_code("G09.20")
    assert b is not None
    assert (b.style, b.level1, b.levels) == ("qd20", "G09", ("G09", "20"))
    c = parse_agency_code("003.02.12.H19")
    assert c is not None and c.levels == ("H19", "12", "02", "003")
    d = parse_agency_code("000.00.00.G22")
    assert d is not None and d.levels == ("G22",)
    e = parse_agency_code("G09.00.05")
    assert e is not None and e.levels == ("G09", "05")


def test_parse_agency_code_same_unit_in_both_styles() -> None:
    a = parse_agency_code("000.00.20.G09")
    b = parse_agency_code("G09.20")
    assert a is not None and b is not None
    assert a.levels == b.levels
    assert a.is_within(b) and b.is_within(a)


@pytest.mark.parametrize(
    ("child", "parent", "expected"),
    [
        ("000.00.12.H19", "000.00.00.H19", True),
        ("000.00.12.H19", "000.00.12.H19", True),
        ("000.00.12.H19", "000.00.00.H22", False),
        ("000.00.00.H19", "000.00.12.H19", False),
        ("000.03.12.H19", "000.00.12.H19", True),
        ("000.03.12.H19", "000.00.13.H19", False),
        ("G09.20", "000.00.00.G09", True),
        ("G09.20", "G09", True),
        ("G09.20.05", "000.00.20.G09", True),
        ("000.05.20.G09", "G09.20", True),
        ("G09.20", "G09.2", False),
        ("G09", "G09.20", False),
        ("G09.20", "000.00.00.G12", False),
        ("000.00.12.H19", "bad", False),
        ("bad", "000.00.00.H19", False),
        ("000.01.00.H19", "000.00.00.H19", False),  # hierarchy error -> malformed
    ],
)
def test_agency_is_within(child: str, parent: str, expected: bool) -> None:
    assert agency_is_within(child, parent) is expected


def test_is_within_method() -> None:
    child = parse_agency_code("000.00.12.H19")
    parent = parse_agency_code("000.00.00.H19")
    other = parse_agency_code("000.00.00.H22")
    assert child is not None and parent is not None and other is not None
    assert child.is_within(parent)
    assert not parent.is_within(child)
    assert not child.is_within(other)


def test_agency_message_names_both_formats() -> None:
    problem = check_agency_code("g09.20")
    assert problem is not None
    assert "000.00.00.G22" in problem.vi and "G09.20" in problem.vi
    assert "QCVN 102" in problem.en and "QĐ 20/2020" in problem.en
    assert "Mã cơ quan" in problem.vi


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_registry_is_a_singleton() -> None:
    assert agency_registry() is agency_registry()


def test_registry_groups() -> None:
    groups = agency_registry().groups()
    assert [g.letter for g in groups] == list("ABCDEFGHIJK")
    assert all(g.vi and g.en for g in groups)


def test_registry_h22_closed_with_successor() -> None:
    reg = agency_registry()
    h22 = reg.level1("H22")
    assert h22 is not None
    assert h22.vi.endswith("Hà Giang")
    assert h22.valid_to == date(2025, 7, 1)
    assert h22.successor == "H60"
    assert h22.confidence == "confirmed"
    assert reg.closed_on("H22") == date(2025, 7, 1)
    assert reg.is_open("H22", date(2025, 6, 30))
    assert not reg.is_open("H22", date(2025, 7, 1))
    assert not reg.is_open("H22", date(2026, 1, 1))


def test_registry_open_codes() -> None:
    reg = agency_registry()
    for code in ("H56", "H41", "H19", "H57", "H60", "H24", "H30", "G22", "G09", "K57"):
        assert reg.is_open(code, date(2026, 1, 1)), code
        assert reg.closed_on(code) is None, code
    h56 = reg.level1("H56")
    assert h56 is not None and "Thanh Hóa" in h56.vi and h56.confidence == "confirmed"


def test_registry_unknown() -> None:
    reg = agency_registry()
    assert reg.level1("Z99") is None
    assert reg.level1("H64") is None
    assert not reg.is_open("H64", date(2020, 1, 1))
    assert reg.closed_on("H64") is None


def test_registry_ministry_mergers() -> None:
    reg = agency_registry()
    expected = {"G04": "G17", "G05": "G12", "G07": "G09", "G13": "G10", "G14": "G06"}
    for code, successor in expected.items():
        entry = reg.level1(code)
        assert entry is not None, code
        assert entry.valid_to == date(2025, 3, 1), code
        assert entry.successor == successor, code
        assert entry.confidence == "inferred", code
        assert reg.is_open(code, date(2025, 2, 28))
        assert not reg.is_open(code, date(2025, 3, 1))
    for code in ("G23", "G24", "G25", "G26", "G34", "G37"):
        entry = reg.level1(code)
        assert entry is not None and entry.valid_to == date(2025, 3, 1) and entry.successor is None
    g14 = reg.level1("G14")
    assert g14 is not None and g14.note is not None and "G14" in g14.note


def test_registry_current_g_codes() -> None:
    current = {
        "G01", "G02", "G03", "G06", "G08", "G09", "G10", "G11", "G12", "G15", "G16", "G17",
        "G18", "G19", "G20", "G21", "G22", "G27", "G28", "G30", "G31", "G32", "G35", "G38",
        "G39", "G40",
    }  # fmt: skip
    reg = agency_registry()
    open_g = {a.code for a in reg.open_level1(date(2026, 1, 1)) if a.code.startswith("G")}
    assert open_g == current
    assert all(reg.level1(c).confidence == "confirmed" for c in current)  # type: ignore[union-attr]


def test_registry_province_counts() -> None:
    reg = agency_registry()
    h_codes = [a for a in reg.all_level1() if a.code.startswith("H")]
    assert [a.code for a in h_codes] == [f"H{i:02d}" for i in range(1, 64)]
    open_2026 = [a for a in h_codes if reg.is_open(a.code, date(2026, 1, 1))]
    closed = [a for a in h_codes if a.valid_to is not None]
    assert len(open_2026) == 34
    assert len(closed) == 29
    assert all(a.valid_to == date(2025, 7, 1) for a in closed)
    # every successor is an open H code; none of the closed codes is its own successor
    for a in closed:
        assert a.successor is not None and a.successor != a.code
        assert reg.is_open(a.successor, date(2026, 1, 1)), a.code
    open_2025 = [a for a in h_codes if reg.is_open(a.code, date(2025, 6, 30))]
    assert len(open_2025) == 63


@pytest.mark.parametrize(
    ("code", "successor"),
    [
        ("H05", "H55"),  # Bắc Kạn -> Thái Nguyên
        ("H62", "H44"),  # Vĩnh Phúc -> Phú Thọ
        ("H29", "H44"),  # Hòa Bình -> Phú Thọ
        ("H08", "H30"),  # Bình Dương -> Hồ Chí Minh
        ("H02", "H30"),  # Bà Rịa - Vũng Tàu -> Hồ Chí Minh
        ("H10", "H19"),  # Bình Phước -> Đồng Nai
        ("H33", "H01"),  # Kiên Giang -> An Giang
        ("H63", "H38"),  # Yên Bái -> Lào Cai
        ("H47", "H15"),  # Quảng Nam -> Đà Nẵng
        ("H26", "H27"),  # Hải Dương -> Hải Phòng
    ],
)
def test_registry_province_successors(code: str, successor: str) -> None:
    entry = agency_registry().level1(code)
    assert entry is not None and entry.successor == successor


def test_registry_confidence_of_provinces() -> None:
    reg = agency_registry()
    confirmed = {
        a.code for a in reg.all_level1() if a.code[0] == "H" and a.confidence == "confirmed"
    }
    assert confirmed == {"H19", "H22", "H41", "H56", "H57"}
    k57 = reg.level1("K57")
    assert k57 is not None and k57.confidence == "confirmed" and "Huế" in k57.vi


def test_registry_from_mapping_accepts_dates_and_strings() -> None:
    reg = AgencyRegistry.from_mapping(
        {
            "groups": [{"letter": "G", "vi": "Bộ", "en": "Ministries"}],
            "level1": [
                {
                    "code": "G50",
                    "vi": "Bộ mới",
                    "en": "New ministry",
                    "valid_from": date(2026, 1, 1),
                    "valid_to": "2027-01-01",
                    "successor": None,
                    "confidence": "inferred",
                }
            ],
        }
    )
    assert reg.is_open("G50", date(2026, 6, 1))
    assert not reg.is_open("G50", date(2025, 12, 31))
    assert not reg.is_open("G50", date(2027, 1, 1))
    assert len(reg) == 1 and "G50" in reg


@pytest.mark.parametrize(
    "level1",
    [
        [{"code": "bad", "vi": "x", "en": "x", "confidence": "inferred"}],
        [{"code": "G50", "vi": "x", "en": "x", "confidence": "inferred", "valid_to": "2027-13-01"}],
        [{"code": "G50", "vi": "x", "en": "x", "confidence": "inferred", "successor": "nope"}],
        [{"code": "G50", "vi": 1, "en": "x", "confidence": "inferred"}],
        [
            {"code": "G50", "vi": "x", "en": "x", "confidence": "inferred"},
            {"code": "G50", "vi": "y", "en": "y", "confidence": "inferred"},
        ],
        ["G50"],
    ],
)
def test_registry_from_mapping_rejects_bad_data(level1: list[object]) -> None:
    with pytest.raises(ValueError):
        AgencyRegistry.from_mapping({"groups": [], "level1": level1})


def test_agencies_yaml_shape() -> None:
    from importlib import resources

    text = (resources.files("lienthong.spec") / "data" / "agencies.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    keys = {"code", "vi", "en", "valid_from", "valid_to", "successor", "confidence", "source"}
    for entry in data["level1"]:
        assert keys <= set(entry), entry
        assert set(entry) <= keys | {"note"}, entry
        assert entry["confidence"] in {"confirmed", "inferred"}
        if entry["successor"] is not None:
            assert entry["valid_to"] is not None
            assert any(e["code"] == entry["successor"] for e in data["level1"])


# --------------------------------------------------------------------------------------------
# Agency open / closed on a date
# --------------------------------------------------------------------------------------------


def test_check_agency_open_closed_province() -> None:
    problem = check_agency_open("000.00.01.H22", date(2025, 7, 1))
    assert code_of(problem) == "agency.closed"
    assert problem is not None
    assert "H60" in problem.vi and "H60" in problem.en
    assert "01/07/2025" in problem.vi and "2025-07-01" in problem.en
    assert check_agency_open("000.00.01.H22", date(2025, 6, 30)) is None
    assert check_agency_open("H22.01", date(2026, 1, 1)) is not None


def test_check_agency_open_closed_ministry() -> None:
    problem = check_agency_open("000.00.00.G14", date(2026, 1, 1))
    assert code_of(problem) == "agency.closed"
    assert problem is not None and "G06" in problem.en
    assert check_agency_open("000.00.00.G14", date(2025, 2, 28)) is None
    no_successor = check_agency_open("G23", date(2026, 1, 1))
    assert code_of(no_successor) == "agency.closed"
    assert no_successor is not None and "successor" not in no_successor.en


def test_check_agency_open_accepts_datetime() -> None:
    assert code_of(check_agency_open("H22", datetime(2025, 7, 1, 0, 0))) == "agency.closed"


@pytest.mark.parametrize("value", ["000.00.00.H56", "G09.20", "bad", "000.00.00.Z99", "H64", ""])
def test_check_agency_open_none(value: str) -> None:
    assert check_agency_open(value, date(2026, 1, 1)) is None


# --------------------------------------------------------------------------------------------
# Dossier codes
# --------------------------------------------------------------------------------------------

TODAY = date(2026, 6, 30)


@pytest.mark.parametrize(
    "value",
    [
        "000.00.12.H19-200101-0001",
        "000.00.13.H56-240715-0001",
        "000.00.00.G22-240229-9999",
        "G09.20-20260609-0092637",
        "G09-20260101-0000001",
        "000.00.01.H22-250630-0001",  # closed code, but a well-formed historical dossier
    ],
)
def test_dossier_code_valid(value: str) -> None:
    assert check_dossier_code(value, today=TODAY) is None
    assert parse_dossier_code(value) is not None


def test_parse_dossier_code() -> None:
    old = parse_dossier_code("000.00.12.H19-200101-0001")
    assert old is not None
    assert (old.unit, old.received_on, old.sequence, old.style) == (
        "000.00.12.H19",
        date(2020, 1, 1),
        1,
        "tt01_2018",
    )
    assert old.text == "000.00.12.H19-200101-0001"
    new = parse_dossier_code("G09.20-20260609-0092637")
    assert new is not None
    assert (new.unit, new.received_on, new.sequence, new.style) == (
        "G09.20",
        date(2026, 6, 9),
        92637,
        "yyyymmdd_7",
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "000.00.12.H19-200101-001",
        "000.00.12.H19-200101-00001",
        "000.00.12.H19-20200101-0001",
        "000.00.12.H19-2001010-0001",
        "000.00.12.H19_200101_0001",
        "000.00.12.h19-200101-0001",
        "000.00.1A.H19-200101-0001",  # the TT 01/2018 form has digits only
        "G09.20-260609-0092637",
        "G09.20-20260609-092637",
        "g09.20-20260609-0092637",
        "000.00.12.H19-200101-0001\n",
        " 000.00.12.H19-200101-0001",
        "000.00.12.H19",
        "G09." + "1" * 40 + "-20260609-0092637",
        "٠٠٠.00.12.H19-200101-0001",
    ],
)
def test_dossier_code_format(value: str) -> None:
    assert code_of(check_dossier_code(value, today=TODAY)) == "dossier_code.format"
    assert parse_dossier_code(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "000.00.12.H19-200230-0001",
        "000.00.12.H19-230229-0001",
        "000.00.12.H19-201301-0001",
        "000.00.12.H19-200100-0001",
        "000.00.12.H19-200132-0001",
        "G09.20-20260230-0092637",
        "G09.20-00000101-0092637",
        "G09.20-20261301-0092637",
    ],
)
def test_dossier_code_bad_calendar_date(value: str) -> None:
    assert code_of(check_dossier_code(value, today=TODAY)) == "dossier_code.date"
    assert parse_dossier_code(value) is None


def test_dossier_code_future_date() -> None:
    assert code_of(check_dossier_code("000.00.12.H19-260701-0001", today=TODAY)) == (
        "dossier_code.date"
    )
    assert check_dossier_code("000.00.12.H19-260630-0001", today=TODAY) is None
    assert code_of(check_dossier_code("G09.20-20260701-0000001", today=TODAY)) == (
        "dossier_code.date"
    )
    # a future code still parses
    assert parse_dossier_code("000.00.12.H19-260701-0001") is not None


def test_dossier_code_today_defaults_to_now() -> None:
    assert check_dossier_code("000.00.12.H19-200101-0001") is None
    assert code_of(check_dossier_code("G09.20-99991231-0000001")) == "dossier_code.date"


@pytest.mark.parametrize("value", ["000.00.12.H19-200101-0000", "G09.20-20260609-0000000"])
def test_dossier_code_sequence(value: str) -> None:
    assert code_of(check_dossier_code(value, today=TODAY)) == "dossier_code.sequence"
    parsed = parse_dossier_code(value)
    assert parsed is not None and parsed.sequence == 0


def test_dossier_code_unit_problems() -> None:
    assert code_of(check_dossier_code("000.01.00.H19-200101-0001", today=TODAY)) == (
        "agency.hierarchy"
    )
    assert parse_dossier_code("000.01.00.H19-200101-0001") is None
    # unit errors come before the date check
    assert code_of(check_dossier_code("000.01.00.H19-200230-0001", today=TODAY)) == (
        "agency.hierarchy"
    )
    # the QĐ 20 unit must itself be a valid agency code (35 characters at most)
    long_unit = "G09." + "1" * 32
    assert code_of(check_dossier_code(long_unit + "-20260609-0092637", today=TODAY)) in {
        "agency.format",
        "dossier_code.format",
    }
    # unknown level-1 code: warning, reported last
    warn = check_dossier_code("000.00.00.H64-200101-0001", today=TODAY)
    assert code_of(warn) == "agency.unknown_level1"
    assert code_of(check_dossier_code("000.00.00.H64-200101-0000", today=TODAY)) == (
        "dossier_code.sequence"
    )
    assert parse_dossier_code("000.00.00.H64-200101-0001") is not None


def test_dossier_code_cached_results_are_stable() -> None:
    for _ in range(3):
        assert check_dossier_code("000.00.12.H19-260701-0001", today=TODAY) is not None
        assert check_dossier_code("000.00.12.H19-260701-0001", today=date(2026, 7, 1)) is None


# --------------------------------------------------------------------------------------------
# TTHC and field codes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["1.005129", "2.002492", "3.000181", "1.001612", "3.000181.000.00.00.H22"]
)
def test_tthc_code_valid(value: str) -> None:
    assert check_tthc_code(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1.00512",
        "1.0051299",
        "10.005129",
        "1005129",
        "1,005129",
        "1.005129 ",
        "1.005129\n",
        "3.000181.000.00.00.h22",
        "3.000181.G09.20",
        "3.000181-000.00.00.H22",
        "١.005129",
    ],
)
def test_tthc_code_format(value: str) -> None:
    assert code_of(check_tthc_code(value)) == "tthc_code.format"


@pytest.mark.parametrize("value", ["G03-GD10", "G03-GD09", "G09-TL01", "H56-1", "G03-ABCDEFGHIJ"])
def test_linhvuc_code_valid(value: str) -> None:
    assert check_linhvuc_code(value) is None


@pytest.mark.parametrize(
    "value",
    ["", "G03", "G03-", "g03-GD10", "G03-gd10", "G03_GD10", "G3-GD10", "G03-ABCDEFGHIJK", "Z03-A"],
)
def test_linhvuc_code_format(value: str) -> None:
    assert code_of(check_linhvuc_code(value)) == "linhvuc_code.format"


# --------------------------------------------------------------------------------------------
# Personal ID and social insurance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("001099012345", (1999, False)),
        ("001199012345", (1999, True)),
        ("038205000001", (2005, False)),
        ("038305000001", (2005, True)),
        ("079400000001", (2100, False)),
        ("079500000001", (2100, True)),
        ("079699000001", (2299, False)),
        ("079712000001", (2212, True)),
        ("079812000001", (2312, False)),
        ("079912000001", (2312, True)),
        ("001000000000", (1900, False)),
    ],
)
def test_personal_id_birth(value: str, expected: tuple[int, bool]) -> None:
    assert personal_id_birth(value) == expected
    assert check_personal_id(value) is None
    assert check_personal_id(value, birth_year=expected[0], female=expected[1]) is None


def test_personal_id_century() -> None:
    assert code_of(check_personal_id("001099012345", female=True)) == "personal_id.century"
    assert code_of(check_personal_id("001099012345", birth_year=2099)) == "personal_id.century"
    assert code_of(check_personal_id("001099012345", birth_year=1998)) == "personal_id.century"
    assert code_of(check_personal_id("001299012345", birth_year=1999)) == "personal_id.century"
    assert check_personal_id("001099012345", birth_year=1999, female=False) is None
    assert check_personal_id("001199012345", female=True) is None


def test_personal_id_message_does_not_leak_the_value() -> None:
    problem = check_personal_id("001099012345", female=True)
    assert problem is not None
    assert "001099012345" not in problem.vi + problem.en
    assert "1999" not in problem.vi + problem.en


@pytest.mark.parametrize(
    "value",
    ["", "00109901234", "0010990123456", "00109901234a", "001 099 012345", "００1099012345",
     "٠٠1099012345", "001099012345\n", "+01099012345"],
)  # fmt: skip
def test_personal_id_format(value: str) -> None:
    assert code_of(check_personal_id(value)) == "personal_id.format"
    assert personal_id_birth(value) is None


@pytest.mark.parametrize("value", ["0123456789", "7912345678", "0000000000"])
def test_social_insurance_valid(value: str) -> None:
    assert check_social_insurance(value) is None


@pytest.mark.parametrize(
    "value",
    ["", "012345678", "01234567890", "012345678a", "0123 456789", "0123456789\n", "١٢٣٤٥٦٧٨٩٠"],
)
def test_social_insurance_format(value: str) -> None:
    assert code_of(check_social_insurance(value)) == "social_insurance.format"


# --------------------------------------------------------------------------------------------
# Contact formats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "an.nguyen@example.vn",
        "vanthu@thanhhoa.gov.vn",
        "a+b_c-d@sub.domain.com.vn",
        "user@xn--80ak6aa92e.com",
        "user@bộ.gov.vn",
        "x@a-b.vn",
    ],
)
def test_email_valid(value: str) -> None:
    assert check_email(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plainaddress",
        "a@b",
        "a@@b.vn",
        "a@b@c.vn",
        "a b@c.vn",
        "ab@c .vn",
        "ab@c.vn ",
        "ab@c.vn\n",
        ".ab@c.vn",
        "a..b@c.vn",
        "ab.@c.vn",
        "ab@-c.vn",
        "ab@c-.vn",
        "ab@c..vn",
        "ab@c.v",
        "ab@c.123",
        "ab@c_d.vn",
        "@c.vn",
        "a" * 65 + "@c.vn",
        "a@" + "b" * 250 + ".vn",
    ],
)
def test_email_format(value: str) -> None:
    assert code_of(check_email(value)) == "email.format"


@pytest.mark.parametrize(
    "value",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "+84912345678",
        "+84 912 345 678",
        "02373852123",
        "0237 3852 123",
        "(0237) 3852 123",
        "024.3825.1234",
        "1800 1091",
        "19001234",
    ],
)
def test_phone_valid(value: str) -> None:
    assert check_phone(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "912345678",
        "091234567",
        "091234567890",
        "0012345678",
        "+840912345678",
        "+8491234567",
        "84912345678",
        "0912345678x",
        "0912_345_678",
        "０912345678",
        "0912345678\n",
        "+1 415 555 0100",
        "1" * 40,
    ],
)
def test_phone_format(value: str) -> None:
    assert code_of(check_phone(value)) == "phone.format"


@pytest.mark.parametrize(
    "value",
    [
        "http://example.vn",
        "https://dichvucong.gov.vn/p/home/dvc-trang-chu.html",
        "https://motcua.example.gov.vn/files/48213?download=true",
        "HTTPS://EXAMPLE.VN/",
        "http://10.0.0.1:8080/path#frag",
        "http://[::1]:8080/",
        "http://localhost",
        "https://bộ.gov.vn/tin-tức",
        "https://example.vn./a",
    ],
)
def test_url_valid(value: str) -> None:
    assert check_url(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "example.vn",
        "ftp://example.vn",
        "http//example.vn",
        "http://",
        "http:// example.vn",
        "http://exa mple.vn",
        "http://example.vn/a b",
        "http://example.vn/\n",
        "http://example.vn/\x00",
        "http://-example.vn",
        "http://example.vn:port/",
        "javascript:alert(1)",
        "http://example.vn/\ud800",
    ],
)
def test_url_format(value: str) -> None:
    assert code_of(check_url(value)) == "url.format"


# --------------------------------------------------------------------------------------------
# Percent and month-year
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("97.50", 97.5),
        ("97.5", 97.5),
        ("71%", 71.0),
        ("97.5%", 97.5),
        ("97.5 %", 97.5),
        ("100", 100.0),
        ("100.00", 100.0),
        ("0", 0.0),
        ("0.01", 0.01),
        ("007", 7.0),
    ],
)
def test_percent_valid(value: str, expected: float) -> None:
    assert check_percent(value) is None
    assert parse_percent(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "100.01",
        "101",
        "1000",
        "-1",
        "97,5",
        ".5",
        "5.",
        "%",
        "abc",
        "97.5%%",
        " 97.5",
        "97.5 ",
        "1e2",
        "nanx",
        "infinite",
        "٩٧",
        "97.5\n",
    ],
)
def test_percent_format(value: str) -> None:
    assert code_of(check_percent(value)) == "percent.format"
    assert parse_percent(value) is None


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-Infinity", "inf", "∞"])
def test_a_division_by_zero_is_a_warning_not_a_format_error(value: str) -> None:
    assert code_of(check_percent(value)) == "percent.not_a_number"
    assert parse_percent(value) is None


@pytest.mark.parametrize("value", ["7-2024", "07-2024", "12-2024", "1-1999", "10-2026"])
def test_month_year_valid(value: str) -> None:
    assert check_month_year(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0-2024",
        "00-2024",
        "13-2024",
        "7-24",
        "7/2024",
        "2024-07",
        "007-2024",
        "7-20245",
        "7-2024\n",
    ],
)
def test_month_year_format(value: str) -> None:
    assert code_of(check_month_year(value)) == "month_year.format"


# --------------------------------------------------------------------------------------------
# Robustness: no check raises on any text
# --------------------------------------------------------------------------------------------

CHECKS: list[Callable[[str], IdentifierProblem | None]] = [
    check_agency_code,
    check_dossier_code,
    check_tthc_code,
    check_linhvuc_code,
    check_personal_id,
    check_social_insurance,
    check_email,
    check_phone,
    check_url,
    check_percent,
    check_month_year,
]

ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=80)
NEAR_MISS = st.text(alphabet="0123456789.-+@%:/ ABCGHKabchtps\n\x00\ud800", max_size=60)


def _assert_well_formed(problem: IdentifierProblem | None) -> None:
    if problem is not None:
        assert isinstance(problem, IdentifierProblem)
        assert problem.code and problem.vi and problem.en


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, NEAR_MISS))
def test_checks_never_raise(value: str) -> None:
    for check in CHECKS:
        _assert_well_formed(check(value))
    _assert_well_formed(check_agency_open(value, date(2026, 1, 1)))
    _assert_well_formed(check_personal_id(value, birth_year=1999, female=True))
    _assert_well_formed(check_dossier_code(value, today=date(2026, 1, 1)))
    parse_agency_code(value)
    parse_dossier_code(value)
    parse_percent(value)
    personal_id_birth(value)
    agency_is_within(value, "000.00.00.H19")


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), min_size=1, max_size=4))
def test_checks_never_raise_on_huge_strings(chunk: str) -> None:
    value = chunk * 50_000
    for check in CHECKS:
        _assert_well_formed(check(value))
    assert parse_agency_code(value) is None or len(value) <= 35


@pytest.mark.parametrize(
    "value",
    ["\ud800", "000.00.00.G22\udfff", "\x00", "\u202e000.00.00.G22", "G09.20\u200b", "\ufeff"],
)
def test_checks_on_odd_characters(value: str) -> None:
    for check in CHECKS:
        assert check(value) is not None


def test_checks_tolerate_non_str_input() -> None:
    for bad in (None, 12, 1.5, b"000.00.00.G22", ["000.00.00.G22"], {"a": 1}):
        for check in CHECKS:
            assert check(bad) is not None  # type: ignore[arg-type]
        assert parse_agency_code(bad) is None  # type: ignore[arg-type]
        assert parse_dossier_code(bad) is None  # type: ignore[arg-type]
        assert parse_percent(bad) is None  # type: ignore[arg-type]
        assert check_agency_open(bad, date(2026, 1, 1)) is None  # type: ignore[arg-type]


def test_problem_codes_are_stable() -> None:
    # every code the module can produce, as used by lienthong.spec.issues
    produced = {
        code_of(check_agency_code("x")),
        code_of(check_agency_code("000.01.00.H19")),
        code_of(check_agency_code("H64")),
        code_of(check_agency_open("H22", date(2026, 1, 1))),
        code_of(check_dossier_code("x")),
        code_of(check_dossier_code("000.00.12.H19-200230-0001")),
        code_of(check_dossier_code("000.00.12.H19-200101-0000")),
        code_of(check_tthc_code("x")),
        code_of(check_linhvuc_code("x")),
        code_of(check_personal_id("x")),
        code_of(check_personal_id("001099012345", female=True)),
        code_of(check_social_insurance("x")),
        code_of(check_email("x")),
        code_of(check_phone("x")),
        code_of(check_url("x")),
        code_of(check_percent("x")),
        code_of(check_month_year("x")),
    }
    assert produced == {
        "agency.format",
        "agency.hierarchy",
        "agency.unknown_level1",
        "agency.closed",
        "dossier_code.format",
        "dossier_code.date",
        "dossier_code.sequence",
        "tthc_code.format",
        "linhvuc_code.format",
        "personal_id.format",
        "personal_id.century",
        "social_insurance.format",
        "email.format",
        "phone.format",
        "url.format",
        "percent.format",
        "month_year.format",
    }


def test_all_messages_are_bilingual_with_diacritics() -> None:
    problems = [
        check_agency_code("x"),
        check_agency_code("000.01.00.H19"),
        check_dossier_code("x"),
        check_dossier_code("000.00.12.H19-200230-0001"),
        check_personal_id("x"),
        check_month_year("x"),
    ]
    for problem in problems:
        assert problem is not None
        assert any(ord(ch) > 127 for ch in problem.vi), problem.vi
        assert problem.en.isascii() or "QĐ" in problem.en


def test_module_exports() -> None:
    for name in ids.__all__:
        assert hasattr(ids, name), name
