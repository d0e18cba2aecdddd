"""Demo data for `make run`: an account and a few hundred dossiers with their progress."""

from __future__ import annotations

from lienthong.demo import dossier_envelope, dossiers
from lienthong.hub.app import Hub
from lienthong.hub.auth import Principal
from lienthong.hub.dossiers import sync_dossiers, sync_progress
from lienthong.store.tables import Account

DEMO_USERNAME = "demo_thanhhoa"
DEMO_PASSWORD = "lienthong-demo"
DEMO_UNIT = "000.00.00.H56"


def seed_demo(hub: Hub, count: int = 300) -> None:
    """Create the demo account and dossiers once (idempotent)."""
    if hub.accounts.get(DEMO_USERNAME) is None:
        hub.accounts.add(DEMO_USERNAME, DEMO_PASSWORD, [DEMO_UNIT])
    account = hub.accounts.get(DEMO_USERNAME)
    assert isinstance(account, Account)
    principal = Principal(account.id, account.username, (DEMO_UNIT,), frozenset({"*"}))
    records = dossiers(count)
    result = hub.validator.validate_envelope(dossier_envelope(records), scan_unicode=False)
    steps = []
    for record in records[: count // 2]:
        steps.append(
            {
                "MaHoSo": record["MaHoSo"],
                "NguoiXuLy": "Lê Thị Bình",
                "ChucDanh": "Chuyên viên",
                "ThoiDiemXuLy": record["NgayTiepNhan"],
                "PhongBanXuLy": "Bộ phận Một cửa",
                "NoiDungXuLy": "Tiếp nhận hồ sơ",
                "TrangThai": "2",
                "NgayBatDau": record["NgayTiepNhan"],
                "NgayKetThucTheoQuyDinh": record["NgayHenTra"],
            }
        )
    progress = hub.validator.validate_envelope(
        {"session": "-", "madonvi": DEMO_UNIT, "service": "CapNhatTienDoHoSoMC", "data": steps},
        scan_unicode=False,
    )
    with hub.sessions() as db:
        sync_dossiers(db, principal, DEMO_UNIT, True, result)
        db.flush()
        sync_progress(db, principal, progress)
        db.commit()
