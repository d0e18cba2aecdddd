"""The hub's bundled reference data (hub/data/*.yaml) against lienthong's own packet catalog.

Every row must be a valid result row of the share service that serves it: no validation error
and no unknown field. Cross-references between the files must resolve.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import pytest
import yaml

from lienthong.spec import Validator, load_catalog
from lienthong.spec.identifiers import check_agency_code, check_linhvuc_code, check_tthc_code

CATEGORY_SERVICES = (
    "LayDanhMucGioiTinh",
    "LayDanhMucTinhThanh",
    "LayDanhMucQuanHuyen",
    "LayDanhMucPhuongXa",
    "LayDanhMucCoQuan",
    "LayDanhMucQuocGia",
    "LayDanhMucDanToc",
    "LayDanhMucTonGiao",
    "LayDanhMucTinhTrangHonNhan",
    "LayDanhMucDoiTuong",
    "LayDanhMucLinhVuc",
    "LayDanhMucCapThucHien",
    "LayDanhMucCanCuPhapLy",
    "LayDanhMucLePhi",
)


@cache
def _load(name: str) -> dict[str, Any]:
    text = files("lienthong.hub").joinpath(f"data/{name}").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict), name
    return data


def procedures() -> list[dict[str, Any]]:
    rows = _load("procedures.yaml")["procedures"]
    assert isinstance(rows, list)
    return rows


def decisions() -> list[dict[str, Any]]:
    rows = _load("procedures.yaml")["decisions"]
    assert isinstance(rows, list)
    return rows


def categories() -> dict[str, list[dict[str, Any]]]:
    cats = _load("categories.yaml")["categories"]
    assert isinstance(cats, dict)
    return cats


@cache
def _validator() -> Validator:
    return Validator()


def _problems(service: str, rows: list[dict[str, Any]]) -> list[str]:
    result = _validator().validate_response(service, {"error_code": 0, "result": rows})
    return [
        f"{issue.path} {issue.code}: {issue.en}"
        for issue in result.all_issues()
        if issue.is_error or issue.code.startswith("field.unknown")
    ]


def _codes(service: str, key: str) -> set[str]:
    return {row[key] for row in categories()[service]}


# -- shape against the catalog ---------------------------------------------------------------


@pytest.mark.parametrize("service", CATEGORY_SERVICES)
def test_category_rows_are_valid_result_rows(service: str) -> None:
    rows = categories()[service]
    assert rows, service
    assert _problems(service, rows) == []
    expected = [field.name for field in load_catalog().packets[service].fields]
    for row in rows:
        assert list(row) == expected, row


def test_categories_hold_only_known_services() -> None:
    assert set(categories()) == set(CATEGORY_SERVICES)


def test_category_codes_are_unique() -> None:
    for service, rows in categories().items():
        key = next(iter(rows[0]))
        codes = [row[key] for row in rows]
        assert len(codes) == len(set(codes)), service


def test_procedures_are_valid_laythutuc_rows() -> None:
    assert _problems("LayThuTuc", procedures()) == []
    expected = {field.name for field in load_catalog().packets["LayThuTuc"].fields}
    for row in procedures():
        assert set(row) == expected, row["MATTHC"]


def test_procedure_list_is_a_valid_laydanhsachtthc_answer() -> None:
    rows = [{"MATTHC": p["MATTHC"], "TENTTHC": p["TENTTHC"]} for p in procedures()]
    assert _problems("LayDanhSachTTHC", rows) == []


def test_decisions_are_valid_layqdcb_rows() -> None:
    fields = {field.name for field in load_catalog().packets["LayQDCB"].fields}
    assert "ID" not in fields  # ID is our lookup key (idQDCB), not a result field
    rows = [{k: v for k, v in d.items() if k != "ID"} for d in decisions()]
    assert _problems("LayQDCB", rows) == []
    for row in rows:
        assert set(row) == fields, row


# -- content -------------------------------------------------------------------------------


def test_enough_procedures_across_fields() -> None:
    rows = procedures()
    assert len(rows) >= 20
    fields = {lv["MALINHVUC"] for p in rows for lv in p["LINHVUCTHUCHIEN"]}
    assert len(fields) >= 6


def test_procedure_codes_are_unique_and_well_formed() -> None:
    codes = [p["MATTHC"] for p in procedures()]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert check_tthc_code(code) is None, code
    ids = [p["ID"] for p in procedures()]
    assert len(ids) == len(set(ids))


def test_levels_are_mostly_province_and_commune() -> None:
    levels = [c["CAPTHUCHIEN"] for p in procedures() for c in p["CAPTHUCHIEN"]]
    assert {"1", "3"} <= set(levels)
    assert levels.count("2") < levels.count("3")


def test_every_decision_referenced_exists() -> None:
    ids = [d["ID"] for d in decisions()]
    assert len(ids) == len(set(ids))
    missing = {p["IDQUYETDINHCONGBO"] for p in procedures()} - set(ids)
    assert missing == set()


def test_fields_referenced_by_procedures_are_listed() -> None:
    listed = {row["MALINHVUC"]: row for row in categories()["LayDanhMucLinhVuc"]}
    for p in procedures():
        for lv in p["LINHVUCTHUCHIEN"]:
            code = lv["MALINHVUC"]
            assert code in listed, (p["MATTHC"], code)
            assert lv["TENLINHVUC"] == listed[code]["TENLINHVUC"], code
    for code, row in listed.items():
        assert check_linhvuc_code(code) is None, code
        assert code.startswith(row["MANGANH"] + "-"), code


def test_legal_bases_referenced_by_procedures_are_listed() -> None:
    listed = _codes("LayDanhMucCanCuPhapLy", "MACANCUPHAPLY")
    used = {law["SOVANBAN"] for p in procedures() for law in p["CANCUPHAPLY"]}
    assert used - listed == set()
    assert all(p["CANCUPHAPLY"] for p in procedures())


def test_fees_referenced_by_procedures_are_listed() -> None:
    listed = _codes("LayDanhMucLePhi", "MAPHILEPHI")
    used = {
        fee["MAPHILEPHI"]
        for p in procedures()
        for channel in p["CACHTHUCTHUCHIEN"]
        for time in channel["THOIGIAN"]
        for fee in time["PHILEPHI"]
    }
    assert used
    assert used - listed == set()


def test_agencies_referenced_by_procedures_are_listed() -> None:
    listed = {row["MADONVI"]: row for row in categories()["LayDanhMucCoQuan"]}
    for p in procedures():
        for key in ("COQUANTHUCHIEN", "COQUANCOTHAMQUYEN", "COQUANDUOCUYQUYEN", "COQUANPHOIHOP"):
            for agency in p[key]:
                code = agency["MADONVI"]
                assert code in listed, (p["MATTHC"], key, code)
                assert agency["TENDONVI"] == listed[code]["TENDONVI"], code
        assert p["COQUANTHUCHIEN"], p["MATTHC"]
        assert f"000.00.00.{p['MACOQUANCONGBO']}" in listed, p["MATTHC"]


def test_agency_codes_are_well_formed_and_levelled() -> None:
    for row in categories()["LayDanhMucCoQuan"]:
        code = row["MADONVI"]
        assert check_agency_code(code) is None, code
        l4, l3, l2, _l1 = code.split(".")
        level = "1" if l2 == "00" else "2" if l3 == "00" else "3" if l4 == "000" else "4"
        assert row["CAPDONVI"] == level, code


def test_applicant_types_and_levels_use_the_categories() -> None:
    applicant_types = _codes("LayDanhMucDoiTuong", "MADOITUONG")
    levels = _codes("LayDanhMucCapThucHien", "CAPTHUCHIEN")
    for p in procedures():
        assert {d["MADOITUONG"] for d in p["DOITUONGTHUCHIEN"]} <= applicant_types, p["MATTHC"]
        assert {c["CAPTHUCHIEN"] for c in p["CAPTHUCHIEN"]} <= levels, p["MATTHC"]
    codelist = {v.code for v in load_catalog().code_lists["LoaiDoiTuong"].values}
    assert applicant_types == codelist


def test_related_procedures_resolve() -> None:
    codes = {p["MATTHC"] for p in procedures()}
    for p in procedures():
        assert set(p["TTHCLIENQUAN"]) <= codes, p["MATTHC"]
        assert set(p["TTHCLIENTHONG"]) <= codes, p["MATTHC"]
        assert p["MATTHC"] not in p["TTHCLIENQUAN"] + p["TTHCLIENTHONG"]


def test_fifty_four_ethnic_groups() -> None:
    rows = categories()["LayDanhMucDanToc"]
    codes = [row["MADANTOC"] for row in rows]
    assert len(rows) == 54
    assert len(set(codes)) == 54
    assert codes == [f"{i:02d}" for i in range(1, 55)]
    assert len({row["TENDANTOC"] for row in rows}) == 54
    assert rows[0]["TENDANTOC"] == "Kinh"


def test_thirty_four_provinces_with_open_level1_codes() -> None:
    rows = categories()["LayDanhMucTinhThanh"]
    assert len(rows) == 34
    registry = yaml.safe_load(
        files("lienthong.spec").joinpath("data/agencies.yaml").read_text(encoding="utf-8")
    )
    open_h = {
        a["code"] for a in registry["level1"] if a["code"].startswith("H") and a["valid_to"] is None
    }
    assert {row["MATINHTHANH"] for row in rows} == open_h


def test_countries_include_vietnam() -> None:
    codes = _codes("LayDanhMucQuocGia", "MAQUOCGIA")
    assert "VN" in codes
    assert len(codes) >= 30
    assert all(len(c) == 2 and c.isascii() and c.isupper() for c in codes)


def test_religions_start_with_none() -> None:
    rows = categories()["LayDanhMucTonGiao"]
    assert rows[0] == {"MATONGIAO": "00", "TENTONGIAO": "Không"}
