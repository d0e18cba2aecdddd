"""Questions and answers over real HTTP: citizen questions answered by their unit with the workflow
enforced, Q&A compiled by units (idempotent), the ministries' bundled sets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from lienthong.hub import questions
from lienthong.hub.petitions import PetitionError
from lienthong.hub.questions import PORTAL_IDS, submit_question
from lienthong.spec import Validator, load_catalog
from lienthong.store.tables import Question
from tests.hub.conftest import OTHER_UNIT, UNIT, RunningHub

VALIDATOR = Validator(load_catalog())
DISTRICT = "000.00.13.H56"


def _ask(running: RunningHub, **extra: str) -> int:
    fields = {
        "NOIDUNG": "Làm căn cước cho con dưới 14 tuổi cần giấy tờ gì?",
        "HOVATEN": "Phạm Thị Dung",
        "THUDIENTU": "dung.pham@example.vn",
        "MADONVI": DISTRICT,
        "MALINHVUC": "G15-HT01",
        **extra,
    }
    with running.hub.sessions() as db:
        hoidap_id = submit_question(db, fields)
        db.commit()
    return hoidap_id


def _call(
    running: RunningHub, session: str, service: str, unit: str = UNIT, **params: Any
) -> dict[str, Any]:
    envelope = {"session": session, "madonvi": unit, "service": service, **params}
    answer: dict[str, Any] = running.call(envelope).json()
    return answer


def _valid(service: str, answer: dict[str, Any]) -> None:
    assert answer["error_code"] == "0", answer
    errors = [i for i in VALIDATOR.validate_response(service, answer).all_issues() if i.is_error]
    assert errors == []


def _reply(hoidap_id: int | str, text: str = "Cần giấy khai sinh của trẻ.") -> dict[str, Any]:
    return {
        "HOIDAPID": str(hoidap_id),
        "MADONVI": DISTRICT,
        "NGUOITRALOI": "Hoàng Văn Em",
        "CHUCVUNGUOITRALOI": "Chuyên viên",
        "NGAYTRALOI": "12/03/2026",
        "NOIDUNGTRALOI": text,
    }


def test_a_citizen_question_is_listed_then_answered_once(running: RunningHub) -> None:
    first, second = _ask(running), _ask(running, NOIDUNG="Lệ phí cấp căn cước là bao nhiêu?")
    assert first > PORTAL_IDS and second == first + 1
    session = running.login()

    waiting = _call(running, session, "LayDanhSachHoiDapGuiTuDVCQG")
    _valid("LayDanhSachHoiDapGuiTuDVCQG", waiting)
    assert [r["HOIDAPID"] for r in waiting["result"]] == [str(first), str(second)]
    row = waiting["result"][0]
    assert row["HOVATEN"] == "Phạm Thị Dung" and row["MADONVI"] == DISTRICT
    assert row["TRANGTHAI"] == "1" and "NOIDUNGTRALOI" not in row
    paged = _call(
        running, session, "LayDanhSachHoiDapGuiTuDVCQG", trangHienTai="2", soBanGhiMoiTrang="1"
    )
    assert [r["HOIDAPID"] for r in paged["result"]] == [str(second)]

    answered = _call(running, session, "DongBoKetQuaHoiDapGuiTuDVCQG", data=[_reply(first)])
    assert answered["error_code"] == "0", answered
    assert answered["records"][0]["status"] == "updated"
    remaining = _call(running, session, "LayDanhSachHoiDapGuiTuDVCQG")["result"]
    assert [r["HOIDAPID"] for r in remaining] == [str(second)]

    again = _call(running, session, "DongBoKetQuaHoiDapGuiTuDVCQG", data=[_reply(first)])
    assert again["error_code"] == "0" and again["records"][0]["status"] == "unchanged"
    batch = [
        _reply(first, "Một câu trả lời khác"),
        _reply(999),
        _reply(10**20),
        _reply(second),
    ]
    mixed = _call(running, session, "DongBoKetQuaHoiDapGuiTuDVCQG", data=batch)
    assert mixed["error_code"] == "01"
    # 10**20 cannot be an id at all: out of the catalog's range, refused by validation (15)
    assert [r["error_code"] for r in mixed["records"]] == ["42", "41", "15", "0"]
    assert _call(running, session, "LayDanhSachHoiDapGuiTuDVCQG")["result"] == []


def test_another_province_can_neither_read_nor_answer(running: RunningHub) -> None:
    hoidap_id = _ask(running)
    other = running.login("tinh_lamdong")
    listed = _call(running, other, "LayDanhSachHoiDapGuiTuDVCQG", unit=OTHER_UNIT)
    assert listed["error_code"] == "0" and listed["result"] == []
    foreign = running.call(
        {"session": other, "madonvi": UNIT, "service": "LayDanhSachHoiDapGuiTuDVCQG"}
    )
    assert foreign.status_code == 403 and foreign.json()["error_code"] == "30"

    reply = {**_reply(hoidap_id), "MADONVI": OTHER_UNIT}
    refused = _call(running, other, "DongBoKetQuaHoiDapGuiTuDVCQG", unit=OTHER_UNIT, data=[reply])
    unknown = {**reply, "HOIDAPID": str(hoidap_id + 1000)}
    missing = _call(running, other, "DongBoKetQuaHoiDapGuiTuDVCQG", unit=OTHER_UNIT, data=[unknown])
    # another unit's question is answered as an unknown one: its existence and unit are not told
    assert refused["error_code"] == "15" and refused["records"][0]["error_code"] == "41"
    told = {
        k: v for k, v in refused["records"][0].items() if k not in ("key", "message", "message_en")
    }
    same = {
        k: v for k, v in missing["records"][0].items() if k not in ("key", "message", "message_en")
    }
    assert told == same
    assert DISTRICT not in str(refused)
    assert refused["records"][0]["message"].replace(str(hoidap_id), "#") == missing["records"][0][
        "message"
    ].replace(str(hoidap_id + 1000), "#")
    session = running.login()
    still = _call(running, session, "LayDanhSachHoiDapGuiTuDVCQG")["result"]
    assert [r["HOIDAPID"] for r in still] == [str(hoidap_id)]


def _compiled(**extra: str) -> dict[str, Any]:
    return {
        "HOIDAPID": "501",
        "MaLinhVuc": "G15-HT01",
        "NOIDUNG": "Đăng ký khai tử ở đâu?",
        "MADONVI": DISTRICT,
        "TENDONVI": "UBND huyện Đông Sơn",
        "NOIDUNGTRALOI": "Tại UBND cấp xã nơi cư trú cuối cùng của người chết.",
        **extra,
    }


def test_unit_qa_is_stored_once_and_guarded(running: RunningHub) -> None:
    session = running.login()
    first = _call(running, session, "DongBoHoiDap", data=[_compiled()])
    assert first["error_code"] == "0", first
    assert first["records"] == [{"index": 0, "key": "501", "status": "accepted", "error_code": "0"}]
    again = _call(running, session, "DongBoHoiDap", data=[_compiled()])
    assert again["records"][0]["status"] == "unchanged"
    changed = _call(running, session, "DongBoHoiDap", data=[_compiled(NOIDUNG="Khai tử ở đâu?")])
    assert changed["records"][0]["status"] == "updated"

    # another province may not push for this unit; its own id 501 is another question
    other = running.login("tinh_lamdong")
    foreign = _call(
        running,
        other,
        "DongBoHoiDap",
        unit=OTHER_UNIT,
        data=[_compiled(HOIDAPID="502"), _compiled(MADONVI=OTHER_UNIT)],
    )
    assert [r["error_code"] for r in foreign["records"]] == ["30", "0"]
    assert foreign["records"][1]["status"] == "accepted"
    assert DISTRICT not in str(foreign["records"][1])
    again = _call(running, session, "DongBoHoiDap", data=[_compiled(NOIDUNG="Khai tử ở đâu?")])
    assert again["records"][0]["status"] == "unchanged"  # this unit's 501 is untouched
    # a unit's ids never meet a portal question's or a ministry set's: both are its own
    portal = _ask(running)
    own = _call(
        running,
        session,
        "DongBoHoiDap",
        data=[_compiled(HOIDAPID=str(portal)), _compiled(HOIDAPID="900001")],
    )
    assert [r["status"] for r in own["records"]] == ["accepted", "accepted"]
    huge = _call(running, session, "DongBoHoiDap", data=[_compiled(HOIDAPID=str(10**20))])
    assert huge["records"][0]["error_code"] == "15"
    # unit Q&A is not a portal question: it is never in the pending list, and the portal
    # question with the same id is still the citizen's, pending and answerable
    waiting = _call(running, session, "LayDanhSachHoiDapGuiTuDVCQG")["result"]
    assert [r["HOIDAPID"] for r in waiting] == [str(portal)]
    assert waiting[0]["NOIDUNG"].startswith("Làm căn cước")
    answered = _call(running, session, "DongBoKetQuaHoiDapGuiTuDVCQG", data=[_reply(portal)])
    assert answered["records"][0]["status"] == "updated", answered


def test_unit_ids_in_the_portal_range_leave_citizen_questions_working(running: RunningHub) -> None:
    """Issue 10, defect 1: a unit pushing HOIDAPIDs where the portal's next ids will fall
    used to make every later citizen question fail (500); the id spaces are apart now."""
    session = running.login()
    first = _ask(running)
    # five unit rows take the next five row ids: the citizen questions after them would get
    # the ids first + 6 and on, which the unit takes first
    ahead = [_compiled(HOIDAPID=str(first + step)) for step in range(6, 11)]
    pushed = _call(running, session, "DongBoHoiDap", data=ahead)
    assert [r["status"] for r in pushed["records"]] == ["accepted"] * 5
    answer = running.client.post(
        "/api/cong-dan/hoi-dap",
        json={
            "NOIDUNG": "Đăng ký thường trú cần gì?",
            "HOVATEN": "Lê Văn Nam",
            "THUDIENTU": "nam.le@example.vn",
            "MADONVI": UNIT,
        },
    )
    assert answer.status_code == 200, answer.text
    asked = [_ask(running) for _ in range(3)]
    assert asked[0] > first and len(set(asked)) == 3
    waiting = _call(running, session, "LayDanhSachHoiDapGuiTuDVCQG")["result"]
    assert len(waiting) == 5 and {r["HOIDAPID"] for r in waiting} >= {str(a) for a in asked}
    assert all(r["HOVATEN"] != "" for r in waiting)


def test_the_ministry_sets_are_bundled_and_filtered(running: RunningHub) -> None:
    session = running.login()
    every = _call(running, session, "LayDanhSachHoiDapBoCoQuan")
    _valid("LayDanhSachHoiDapBoCoQuan", every)
    assert len(every["result"]) >= 4
    assert all(r["NOIDUNGTRALOI"] and r["TRALOIID"] for r in every["result"])
    birth = _call(running, session, "LayDanhSachHoiDapBoCoQuan", MATTHC="1.001193")["result"]
    assert [r["HOIDAPID"] for r in birth] == ["900001", "900002"]
    business = _call(running, session, "LayDanhSachHoiDapBoCoQuan", MALINHVUC="G12-HKD01")
    assert [r["MADONVI"] for r in business["result"]] == ["000.00.00.G12"]
    assert _call(running, session, "LayDanhSachHoiDapBoCoQuan", MATTHC="9.999999")["result"] == []
    # loading again into a filled table adds nothing
    with running.hub.sessions() as db:
        assert questions.load_bundled_if_empty(db, running.hub.validator) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"NOIDUNG": ""}, "NOIDUNG"),
        ({"THUDIENTU": ""}, "THUDIENTU"),
        ({"THUDIENTU": "sai"}, "THUDIENTU"),
        ({"MADONVI": "tỉnh"}, "MADONVI"),
        ({"TRALOIID": "1"}, "TRALOIID"),
    ],
)
def test_questions_are_checked(running: RunningHub, change: dict[str, str], field: str) -> None:
    with pytest.raises(PetitionError) as caught:
        _ask(running, **change)
    assert field in [name for name, _, _ in caught.value.problems]


def test_portal_questions_are_filtered_by_the_date_sent(running: RunningHub) -> None:
    import datetime as dt

    from lienthong.spec.dates import VIETNAM

    session = running.login()
    hoidap_id = _ask(running)
    today = dt.datetime.now(VIETNAM).strftime("%Y%m%d")
    tomorrow = (dt.datetime.now(VIETNAM) + dt.timedelta(days=1)).strftime("%Y%m%d")
    yesterday = (dt.datetime.now(VIETNAM) - dt.timedelta(days=1)).strftime("%Y%m%d")

    def listed(**dates: str) -> list[str]:
        rows = _call(running, session, "LayDanhSachHoiDapGuiTuDVCQG", **dates)["result"]
        return [str(r["HOIDAPID"]) for r in rows]

    assert listed(tuNgay=f"{today}000000", denNgay=f"{today}000000") == [str(hoidap_id)]
    assert listed(tuNgay=f"{tomorrow}000000") == []
    assert listed(denNgay=f"{yesterday}000000") == []


def test_qa_pushes_with_the_senders_own_codes_are_taken_with_warnings(running: RunningHub) -> None:
    """Issue 11: OpenCPS pushes its own field and agency codes ("HT01", "STP"), HOIDAPID as a
    number in DongBoHoiDap and as a string in the answer, NGAYTRALOI as dd/MM/yyyy."""
    session = running.login()
    compiled = {**_compiled(HOIDAPID="777", MaLinhVuc="HT01", MADONVI="STP")}
    compiled["HOIDAPID"] = 777  # a JSON number
    pushed = _call(running, session, "DongBoHoiDap", data=[compiled])
    assert pushed["error_code"] == "0", pushed
    (record,) = pushed["records"]
    assert record["status"] == "accepted"
    assert {(i["code"], i["severity"]) for i in record["issues"]} == {
        ("linhvuc_code.format", "warning"),
        ("agency.format", "warning"),
    }
    with running.hub.sessions() as db:
        stored = db.scalars(
            select(Question).where(Question.source == "unit", Question.hoidap_id == 777)
        ).one()
    assert stored.unit == UNIT and stored.record["MADONVI"] == "STP"  # kept as sent
    assert stored.record["MaLinhVuc"] == "HT01"

    hoidap_id = _ask(running)
    answer = {**_reply(str(hoidap_id)), "MADONVI": "STP", "NGAYTRALOI": "12/03/2026"}
    answered = _call(running, session, "DongBoKetQuaHoiDapGuiTuDVCQG", data=[answer])
    assert answered["records"][0]["status"] == "updated", answered
    assert [i["code"] for i in answered["records"][0]["issues"]] == ["agency.format"]
