"""Share services served from the reference tables: procedures, decisions, category lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from lienthong.hub import reference
from lienthong.spec import Validator
from lienthong.store.db import session_factory
from tests.hub.conftest import UNIT, RunningHub


def _share(running: RunningHub, session: str, service: str, **params: str) -> dict[str, Any]:
    envelope = {"session": session, "madonvi": UNIT, "service": service, **params}
    answer: dict[str, Any] = running.call(envelope, path=running.settings.share_path).json()
    return answer


def test_procedures_decisions_and_categories_are_served(running: RunningHub) -> None:
    session = running.login()
    listing = _share(running, session, "LayDanhSachTTHC")
    assert listing["error_code"] == "0" and len(listing["result"]) >= 20
    code = listing["result"][0]["MATTHC"]
    procedure = _share(running, session, "LayThuTuc", maTTHC=code)["result"]
    assert len(procedure) == 1 and procedure[0]["MATTHC"] == code and procedure[0]["THANHPHANHOSO"]
    assert _share(running, session, "LayThuTuc", maTTHC="9.999999")["result"] == []
    decision_id = procedure[0]["IDQUYETDINHCONGBO"]
    decision = _share(running, session, "LayQDCB", idQDCB=decision_id)["result"]
    assert decision and decision[0]["SOQUYETDINH"]
    ethnic = _share(running, session, "LayDanhMucDanToc")["result"]
    assert len(ethnic) == 54
    provinces = _share(running, session, "LayDanhMucTinhThanh")["result"]
    assert len(provinces) == 34
    missing = running.call({"session": session, "madonvi": UNIT, "service": "LayThuTuc"}).json()
    assert missing["error_code"] == "12"
    # every answer is valid against the packet catalog
    validator = Validator()
    for service, answer in (
        ("LayThuTuc", procedure),
        ("LayDanhMucDanToc", ethnic),
        ("LayQDCB", decision),
    ):
        assert validator.validate_response(service, {"error_code": 0, "result": answer}).ok


def test_import_adds_and_updates_rows_and_skips_bad_ones(engine: Engine, tmp_path: Path) -> None:
    sessions = session_factory(engine)
    validator = Validator()
    with sessions() as db:
        assert reference.load_bundled_if_empty(db, validator) is not None
        assert reference.load_bundled_if_empty(db, validator) is None  # only into an empty database
    original = reference.bundled()["procedures"][0]
    changed = {**original, "TENTTHC": "Tên đã sửa"}
    new = {**original, "MATTHC": "1.999999"}
    broken = {
        **original,
        "MATTHC": "1.999998",
        "CAPTHUCHIEN": [{"CAPTHUCHIEN": "7", "TENCAP": "?"}],
    }
    path = tmp_path / "catalog.yaml"
    path.write_text(
        yaml.safe_dump({"procedures": [changed, new, broken]}, allow_unicode=True), "utf-8"
    )
    with sessions() as db:
        report = reference.import_file(db, validator, path)
        db.commit()
        assert report.stored == {"LayThuTuc": 2}
        assert [(kind, code) for kind, code, _ in report.rejected] == [("LayThuTuc", "1.999998")]
        names = {r["MATTHC"]: r["TENTTHC"] for r in reference.procedure_list(db)}
    assert (
        names[original["MATTHC"]] == "Tên đã sửa"
        and "1.999999" in names
        and "1.999998" not in names
    )
