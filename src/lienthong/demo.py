"""Realistic, deterministic demo data (fictitious people and dossiers) for benchmarks and demos."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from lienthong.spec.dates import VIETNAM, format_wire_date

_FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
)
_MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quang", "Thu", "Đức", "Hồng")
_GIVEN = (
    "An",
    "Bình",
    "Cường",
    "Dung",
    "Giang",
    "Hà",
    "Hải",
    "Hương",
    "Khánh",
    "Lan",
    "Long",
    "Mai",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Trang",
    "Tuấn",
    "Yến",
)
_PROCEDURES = (
    (
        "1.001612",
        "Đăng ký thành lập hộ kinh doanh",
        "G12-DK01",
        "Thành lập và hoạt động của hộ kinh doanh",
        "100000",
    ),
    ("2.000635", "Cấp bản sao trích lục hộ tịch", "G15-HT01", "Hộ tịch", "8000"),
    ("2.000815", "Chứng thực bản sao từ bản chính", "G15-CT01", "Chứng thực", "2000"),
    ("1.001193", "Đăng ký khai sinh", "G15-HT01", "Hộ tịch", "0"),
    (
        "1.000656",
        "Cấp giấy phép xây dựng nhà ở riêng lẻ",
        "G17-XD01",
        "Hoạt động xây dựng",
        "75000",
    ),
    ("1.013978", "Đăng ký biến động quyền sử dụng đất", "G10-DD01", "Đất đai", "30000"),
)
_DEPARTMENTS = (
    "Phòng Tư pháp",
    "Phòng Tài chính - Kế hoạch",
    "Phòng Kinh tế, Hạ tầng và Đô thị",
    "Bộ phận Một cửa",
)


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"


def dossier(rng: random.Random, unit: str, received: dt.datetime, sequence: int) -> dict[str, Any]:
    """One DongBoHoSoMC record in wire form, internally consistent (dates, status, fees)."""
    code, name, field_code, field_name, fee = rng.choice(_PROCEDURES)
    due = received + dt.timedelta(days=rng.choice((1, 3, 5, 7, 10, 15)))
    status = rng.choice(("2", "4", "4", "5", "9", "10", "10"))
    returned = due + dt.timedelta(hours=rng.randint(-48, 24)) if status == "10" else None
    owner = _person(rng)
    record: dict[str, Any] = {
        "MaHoSo": f"{unit}-{received:%y%m%d}-{sequence:04d}",
        "MaTTHC": code,
        "TenTTHC": name,
        "MaLinhVuc": field_code,
        "TenLinhVuc": field_name,
        "ChuHoSo": owner,
        "LoaiDoiTuong": "1",
        "MaDoiTuong": "",
        "ThongTinKhac": "",
        "Email": f"cd{sequence}@example.vn",
        "Fax": "",
        "SoDienThoai": f"09{rng.randint(10_000_000, 99_999_999)}",
        "TrichYeuHoSo": f"{name} - {owner}",
        "NgayTiepNhan": format_wire_date(received),
        "NgayHenTra": format_wire_date(due),
        "TrangThaiHoSo": status,
        "NgayTra": format_wire_date(max(returned, received)) if returned else "",
        "ThongTinTra": "",
        "HinhThuc": rng.choice(("0", "1")),
        "NgayKetThucXuLy": format_wire_date(max(returned, received)) if returned else "",
        "DonViXuLy": rng.choice(_DEPARTMENTS),
        "GhiChu": "",
        "TaiLieuNop": [
            {
                "TepDinhKemId": str(rng.randint(10_000, 999_999)),
                "TenTepDinhKem": "Don de nghi.pdf",
                "IsDeleted": "False",
                "MaThanhPhanHoSo": "TP01",
                "DuongDanTaiTepTin": f"https://motcua.example.gov.vn/files/{sequence}",
            }
        ],
        "DanhSachLePhi": [
            {
                "TenPhiLePhi": "Lệ phí",
                "MaPhiLePhi": "LP001",
                "HinhThucThu": "1",
                "Gia": fee,
                "LoaiPhiLePhi": "1",
            }
        ],
        "DanhSachTepDinhKemKhac": [],
        "DanhSachHoSoBoSung": [],
        "DanhSachGiayToKetQua": [],
    }
    return record


def dossiers(
    count: int, unit: str = "000.00.13.H56", seed: int = 120, start: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """``count`` dossiers received from ``start`` on, about 200 a day (sequence resets daily)."""
    rng = random.Random(seed)
    moment = start or dt.datetime(2026, 3, 2, 7, 30, tzinfo=VIETNAM)
    records = []
    sequence = 0
    day = moment.date()
    for _ in range(count):
        moment += dt.timedelta(minutes=rng.randint(1, 5))
        if moment.hour >= 17:
            moment = (moment + dt.timedelta(days=1)).replace(hour=7, minute=30)
        if moment.date() != day:
            day, sequence = moment.date(), 0
        sequence += 1
        records.append(dossier(rng, unit, moment, sequence))
    return records


def dossier_envelope(
    records: list[dict[str, Any]], unit: str = "000.00.00.H56", updating: bool = False
) -> dict[str, Any]:
    return {
        "session": "c2Vzc2lvbi10b2tlbi1leGFtcGxl",
        "madonvi": unit,
        "service": "DongBoHoSoMC",
        "isUpdating": "True" if updating else "False",
        "data": records,
    }
