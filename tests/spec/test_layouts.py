"""Other record layouts, rewritten into the catalog's (lienthong.spec.layouts)."""

from __future__ import annotations

from lienthong.spec import Validator, load_catalog
from lienthong.spec.layouts import survey_flat

FLAT = {
    "NgayTongHop": "3-2026",
    "TongSoNguoiDanhGia": 120,
    "PhanTramDanhGiaRatHaiLong": "70%",
    "PhanTramDanhGiaHaiLong": "25%",
    "PhanTramDanhGiaChuaHaiLong": "5%",
    "DanhSachNoiDungYKien": "",
    "MaThuTuc": "",
    "NoiDung": "Thái độ phục vụ",
    "PhanTramDanhGiaDichVuRatHaiLong": "85%",
    "PhanTramDanhGiaDichVuHaiLong": "10%",
    "PhanTramDanhGiaDichVuChuaHaiLong": "5%",
    "Madonvi": "000.00.00.H56",
    "TenDonVi": "UBND tỉnh Thanh Hóa",
}


def test_a_flat_survey_record_is_nested() -> None:
    nested = survey_flat(dict(FLAT))
    assert nested is not None
    assert nested["DanhSachNoiDungYKien"] == [
        {
            "MaThuTuc": "",
            "NoiDung": "Thái độ phục vụ",
            "PhanTramDanhGiaDichVuRatHaiLong": "85%",
            "PhanTramDanhGiaDichVuHaiLong": "10%",
            "PhanTramDanhGiaDichVuChuaHaiLong": "5%",
        }
    ]
    assert "NoiDung" not in nested and nested["TongSoNguoiDanhGia"] == 120


def test_a_nested_or_mixed_record_is_left_as_sent() -> None:
    nested = {**{k: v for k, v in FLAT.items() if k != "NoiDung"}, "DanhSachNoiDungYKien": []}
    assert (
        survey_flat(
            {k: v for k, v in nested.items() if not k.startswith(("Ma", "PhanTramDanhGiaDichVu"))}
        )
        is None
    )
    mixed = {**FLAT, "DanhSachNoiDungYKien": [{"NoiDung": "x"}]}
    assert survey_flat(mixed) is None


def test_the_validator_checks_and_keeps_the_rewritten_record() -> None:
    validator = Validator(load_catalog())
    result = validator.validate_record("DongBoDanhGia", dict(FLAT))
    assert result.ok, result.issues
    assert [(i.code, i.severity.value) for i in result.issues] == [("record.layout", "warning")]
    assert result.record is not None and len(result.record["DanhSachNoiDungYKien"]) == 1
    bad = validator.validate_record(
        "DongBoDanhGia", {**FLAT, "PhanTramDanhGiaDichVuRatHaiLong": "185%"}
    )
    assert [i.path for i in bad.errors] == [
        "$.data[0].DanhSachNoiDungYKien[0].PhanTramDanhGiaDichVuRatHaiLong"
    ]
