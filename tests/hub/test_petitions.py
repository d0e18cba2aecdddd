"""Petitions (PAKN) over real HTTP: citizen submission, the unit's pending list, documents,
answers with the workflow enforced, the public list with search and paging, local petitions;
and the rules of the documents a citizen may attach (types, sizes, how many)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lienthong.hub.petitions import (
    CITIZEN_MAX_FILE_BYTES,
    CITIZEN_MAX_FILES,
    CITIZEN_MAX_TOTAL_BYTES,
    Attachment,
    PetitionError,
    check_citizen_files,
    citizen_attachment,
    megabytes,
    submit_petition,
)
from lienthong.spec import Validator, load_catalog
from tests.hub import sample_files
from tests.hub.conftest import OTHER_UNIT, UNIT, RunningHub

VALIDATOR = Validator(load_catalog())
DISTRICT = "000.00.13.H56"  # a unit under UNIT


def _fields(**extra: str) -> dict[str, Any]:
    return {
        "TieuDe": "Đường vào trường học bị ngập",
        "NoiDungPAKN": "Đoạn đường trước trường tiểu học bị ngập mỗi khi mưa lớn.",
        "Ten": "Nguyễn Văn An",
        "SoDienThoai": "0912345678",
        "Email": "an.nguyen@example.vn",
        "MaDonViXuLy": DISTRICT,
        "LoaiPAKN": "1",
        **extra,
    }


def _submit(running: RunningHub, files: list[Any] | None = None, **extra: str) -> str:
    with running.hub.sessions() as db:
        pakn_id = submit_petition(db, _fields(**extra), files or [])
        db.commit()
    return pakn_id


def _call(running: RunningHub, session: str, service: str, **params: Any) -> dict[str, Any]:
    envelope = {"session": session, "madonvi": UNIT, "service": service, **params}
    answer: dict[str, Any] = running.call(envelope).json()
    return answer


def _valid(service: str, answer: dict[str, Any]) -> None:
    assert answer["error_code"] == "0", answer
    errors = [i for i in VALIDATOR.validate_response(service, answer).all_issues() if i.is_error]
    assert errors == []


def _answer(
    pakn_id: str, publish: str = "True", text: str = "Đã khơi thông cống thoát nước."
) -> dict[str, Any]:
    return {
        "PAKNID": pakn_id,
        "MaDonVi": DISTRICT,
        "NguoiTraLoi": "Lê Văn Bình",
        "ChucVuNguoiTraLoi": "Chủ tịch UBND",
        "NgayTraLoi": "20260310090000",
        "NoiDungTraLoi": text,
        "CongKhai": publish,
    }


def test_the_whole_workflow(running: RunningHub) -> None:
    pakn_id = _submit(
        running,
        files=[
            Attachment("anh-hien-truong.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg"),
            {"name": "ban-do.pdf", "url": "https://example.vn/ban-do.pdf"},
        ],
    )
    assert pakn_id.startswith("PAKN-") and len(pakn_id) == 11
    session = running.login()

    waiting = _call(running, session, "DanhSachPAKNChoXuLy")
    _valid("DanhSachPAKNChoXuLy", waiting)
    [row] = waiting["result"]
    assert row["Id"] == pakn_id and row["TrangThai"] == "1" and row["MaDonVi"] == DISTRICT
    assert row["SoTaiLieu"] == "2" and row["TongSo"] == "1" and row["Ten"] == "Nguyễn Văn An"

    files = _call(running, session, "LayTaiLieuPAKN", PAKNID=pakn_id)
    _valid("LayTaiLieuPAKN", files)
    assert files["result"] == [
        {
            "TenTep": "anh-hien-truong.jpg",
            "LoaiTep": "image/jpeg",
            "NoiDung": base64.b64encode(b"\xff\xd8\xff\xe0 jpeg").decode(),
        },
        {
            "TenTep": "ban-do.pdf",
            "NoiDung": "https://example.vn/ban-do.pdf",
            "DuongDan": "https://example.vn/ban-do.pdf",
        },
    ]

    assert _call(running, session, "DanhSachPAKNCongKhai")["result"] == []  # not published yet

    answered = _call(running, session, "DongBoKetQuaXuLyPAKN", data=[_answer(pakn_id)])
    assert answered["error_code"] == "0", answered
    assert answered["records"] == [
        {"index": 0, "key": pakn_id, "status": "updated", "error_code": "0"}
    ]
    assert _call(running, session, "DanhSachPAKNChoXuLy")["result"] == []

    public = _call(running, session, "DanhSachPAKNCongKhai")
    _valid("DanhSachPAKNCongKhai", public)
    [shown] = public["result"]
    assert shown["Id"] == pakn_id and shown["TrangThai"] == "4" and shown["TongSo"] == "1"
    assert shown["NoiDungTraLoi"] == "Đã khơi thông cống thoát nước."
    assert shown["NgayTraLoi"] == "20260310090000"

    # the same answer again changes nothing; another answer to an answered petition is refused
    again = _call(running, session, "DongBoKetQuaXuLyPAKN", data=[_answer(pakn_id)])
    assert again["error_code"] == "0" and again["records"][0]["status"] == "unchanged"
    other = _call(
        running, session, "DongBoKetQuaXuLyPAKN", data=[_answer(pakn_id, text="Trả lời khác")]
    )
    assert other["error_code"] == "15"
    refusal = other["records"][0]
    assert refusal["error_code"] == "42" and "status 4" in refusal["message_en"]


def test_an_unpublished_answer_and_unknown_petitions(running: RunningHub) -> None:
    pakn_id = _submit(running)
    session = running.login()
    batch = [_answer(pakn_id, publish="False"), _answer("PAKN-999999")]
    answer = _call(running, session, "DongBoKetQuaXuLyPAKN", data=batch)
    assert answer["error_code"] == "01"
    assert [r["status"] for r in answer["records"]] == ["updated", "rejected"]
    assert answer["records"][1]["error_code"] == "41"
    assert _call(running, session, "DanhSachPAKNCongKhai")["result"] == []
    assert _call(running, session, "DanhSachPAKNChoXuLy")["result"] == []

    missing = running.call(
        {"session": session, "madonvi": UNIT, "service": "LayTaiLieuPAKN", "PAKNID": "PAKN-9"}
    )
    assert missing.status_code == 404 and missing.json()["error_code"] == "41"
    no_param = running.call({"session": session, "madonvi": UNIT, "service": "LayTaiLieuPAKN"})
    assert no_param.status_code == 400 and no_param.json()["error_code"] == "12"


def test_the_public_list_pages_and_searches(running: RunningHub) -> None:
    ids = [
        _submit(running, TieuDe=f"Đèn đường hỏng số {n}", NoiDungPAKN="Khu phố tối om.")
        for n in range(12)
    ]
    ids.append(_submit(running, TieuDe="Rác thải", NoiDungPAKN="Bãi rác tự phát gần CHỢ"))
    session = running.login()
    pushed = _call(running, session, "DongBoKetQuaXuLyPAKN", data=[_answer(i) for i in ids])
    assert pushed["error_code"] == "0" and len(pushed["records"]) == 13

    first = _call(running, session, "DanhSachPAKNCongKhai")
    _valid("DanhSachPAKNCongKhai", first)
    assert len(first["result"]) == 10 and first["result"][0]["TongSo"] == "13"
    assert first["result"][0]["Id"] == ids[-1]  # newest first
    page = _call(running, session, "DanhSachPAKNCongKhai", trangHienTai="3", soBanGhiMoiTrang="5")
    assert [r["Id"] for r in page["result"]] == ids[2::-1]

    found = _call(running, session, "DanhSachPAKNCongKhai", keyword="ĐÈN ĐƯỜNG")
    assert found["result"][0]["TongSo"] == "12" and len(found["result"]) == 10
    in_text = _call(running, session, "DanhSachPAKNCongKhai", keyword="chợ")
    assert [r["Id"] for r in in_text["result"]] == [ids[-1]]
    assert _call(running, session, "DanhSachPAKNCongKhai", keyword="không có")["result"] == []

    bad = running.call(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DanhSachPAKNCongKhai",
            "trangHienTai": "0",
        }
    )
    assert bad.status_code == 422 and bad.json()["error_code"] == "15"

    # any logged-in account reads the public list, with its own unit
    other = running.login("tinh_lamdong")
    envelope = {"session": other, "madonvi": OTHER_UNIT, "service": "DanhSachPAKNCongKhai"}
    assert running.call(envelope).json()["result"][0]["TongSo"] == "13"


def test_another_province_can_neither_read_nor_answer(running: RunningHub) -> None:
    pakn_id = _submit(running)
    other = running.login("tinh_lamdong")
    own = {"session": other, "madonvi": OTHER_UNIT}

    listed = running.call({**own, "service": "DanhSachPAKNChoXuLy"}).json()
    assert listed["error_code"] == "0" and listed["result"] == []
    foreign = running.call({**own, "madonvi": UNIT, "service": "DanhSachPAKNChoXuLy"})
    assert foreign.status_code == 403 and foreign.json()["error_code"] == "30"

    # another unit's petition is answered as an unknown one: neither its existence nor its
    # unit is told (issue 10, defect 11)
    unknown_id = "PAKN-999999"
    files = running.call({**own, "service": "LayTaiLieuPAKN", "PAKNID": pakn_id})
    no_files = running.call({**own, "service": "LayTaiLieuPAKN", "PAKNID": unknown_id})
    assert files.status_code == no_files.status_code == 404
    assert files.json()["error_code"] == no_files.json()["error_code"] == "41"
    assert files.json()["message"].replace(pakn_id, "#") == no_files.json()["message"].replace(
        unknown_id, "#"
    )

    answer = {**_answer(pakn_id), "MaDonVi": OTHER_UNIT}
    refused = running.call({**own, "service": "DongBoKetQuaXuLyPAKN", "data": [answer]}).json()
    missing = running.call(
        {**own, "service": "DongBoKetQuaXuLyPAKN", "data": [{**answer, "PAKNID": unknown_id}]}
    ).json()
    assert refused["error_code"] == "15" and refused["records"][0]["error_code"] == "41"
    assert refused["records"][0]["message"].replace(pakn_id, "#") == missing["records"][0][
        "message"
    ].replace(unknown_id, "#")
    assert DISTRICT not in str(refused) and UNIT not in str(refused)

    session = running.login()  # the petition is still pending for its own unit
    assert [r["Id"] for r in _call(running, session, "DanhSachPAKNChoXuLy")["result"]] == [pakn_id]


def _local(**extra: str) -> dict[str, Any]:
    return {
        "MaPAKN": "TH-2026-0007",
        "TieuDe": "Chậm cấp sổ đỏ",
        "NoiDungPAKN": "Hồ sơ cấp giấy chứng nhận quá hạn hai tháng.",
        "NgayGuiPAKN": "20260301080000",
        "Ten": "Trần Thị Cúc",
        "MaDonViXuLy": DISTRICT,
        "TrangThai": "4",
        "NoiDungTraLoi": "Đã cấp giấy chứng nhận ngày 05/03/2026.",
        "NgayTraLoi": "20260305100000",
        "CongKhai": "True",
        "TaiLieuDinhKem": [{"TenTep": "don.pdf", "DuongDan": "https://mc.thanhhoa.gov.vn/don.pdf"}],
        **extra,
    }


def test_local_petitions_are_stored_once(running: RunningHub) -> None:
    session = running.login()
    key = f"{DISTRICT}-TH-2026-0007"
    first = _call(running, session, "DongBoPAKNDiaPhuong", data=[_local()])
    assert first["error_code"] == "0", first
    assert first["records"][0] == {"index": 0, "key": key, "status": "accepted", "error_code": "0"}
    resent = _call(running, session, "DongBoPAKNDiaPhuong", data=[_local()])
    assert resent["records"][0]["status"] == "unchanged"
    changed = _call(running, session, "DongBoPAKNDiaPhuong", data=[_local(Ten="Trần Thị Cúc Hoa")])
    assert changed["records"][0]["status"] == "updated"

    public = _call(running, session, "DanhSachPAKNCongKhai")
    _valid("DanhSachPAKNCongKhai", public)
    assert public["result"][0]["Id"] == key and public["result"][0]["Ten"] == "Trần Thị Cúc Hoa"
    files = _call(running, session, "LayTaiLieuPAKN", PAKNID=key)
    _valid("LayTaiLieuPAKN", files)
    assert [f["TenTep"] for f in files["result"]] == ["don.pdf"]  # replaced, not duplicated

    # an answered local petition cannot be answered again through the portal workflow
    again = _call(running, session, "DongBoKetQuaXuLyPAKN", data=[_answer(key)])
    assert again["records"][0]["error_code"] == "42"

    foreign = _local(MaPAKN="LD-1", MaDonViXuLy=OTHER_UNIT)
    bad = _local(MaPAKN="X-2", TrangThai="9")
    mixed = _call(running, session, "DongBoPAKNDiaPhuong", data=[foreign, bad])
    assert mixed["error_code"] == "15"
    assert [r["error_code"] for r in mixed["records"]] == ["30", "15"]


def test_long_local_ids_are_refused_never_cut(running: RunningHub) -> None:
    """Local petitions are keyed by unit and MaPAKN in 128 characters: two long ids that share
    their first 128 used to be cut alike, and the second overwrote the first."""
    session = running.login()
    longest = "A" * 80
    kept = _call(running, session, "DongBoPAKNDiaPhuong", data=[_local(MaPAKN=longest)])
    assert kept["records"][0]["status"] == "accepted", kept
    shared = "B" * 150
    first = _call(running, session, "DongBoPAKNDiaPhuong", data=[_local(MaPAKN=shared + "1")])
    second = _call(running, session, "DongBoPAKNDiaPhuong", data=[_local(MaPAKN=shared + "2")])
    for answer in (first, second):
        (record,) = answer["records"]
        assert record["status"] == "rejected" and record["error_code"] == "15"
        assert any(
            i["code"] == "field.too_long" and "MaPAKN" in i["path"] for i in record["issues"]
        ), record


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"SoDienThoai": "", "Email": ""}, "SoDienThoai"),
        ({"Email": "khong-phai-email"}, "Email"),
        ({"MaDonViXuLy": "UBND huyện"}, "MaDonViXuLy"),
        ({"TieuDe": ""}, "TieuDe"),
        ({"MatKhau": "x"}, "MatKhau"),
    ],
)
def test_submissions_are_checked(running: RunningHub, change: dict[str, str], field: str) -> None:
    with running.hub.sessions() as db, pytest.raises(PetitionError) as caught:
        submit_petition(db, {**_fields(), **change}, [])
    assert field in [name for name, _, _ in caught.value.problems]


def test_a_file_needs_content_or_a_link(running: RunningHub) -> None:
    with running.hub.sessions() as db, pytest.raises(PetitionError):
        submit_petition(db, _fields(), [Attachment("rong.pdf")])


def test_pending_petitions_are_filtered_by_the_date_sent(running: RunningHub) -> None:
    """tuNgay / denNgay are inclusive; a denNgay at midnight takes in that whole day."""
    session = running.login()
    sent = {"A-1": "20260301080000", "A-2": "20260302235959", "A-3": "20260303000000"}
    records = [
        _local(MaPAKN=code, NgayGuiPAKN=when, TrangThai="1", CongKhai="False")
        for code, when in sent.items()
    ]
    for record in records:
        for name in ("NoiDungTraLoi", "NgayTraLoi"):
            record.pop(name)
    assert _call(running, session, "DongBoPAKNDiaPhuong", data=records)["error_code"] == "0"

    def listed(**dates: str) -> list[str]:
        rows = _call(running, session, "DanhSachPAKNChoXuLy", **dates)["result"]
        return sorted(str(r["MaPAKNDiaPhuong"]) for r in rows)

    assert listed() == ["A-1", "A-2", "A-3"]
    assert listed(tuNgay="20260302000000") == ["A-2", "A-3"]
    assert listed(denNgay="20260302000000") == ["A-1", "A-2"]
    assert listed(tuNgay="20260302000000", denNgay="20260302000000") == ["A-2"]
    assert listed(denNgay="20260301075959") == []
    assert listed(denNgay="20260301080000") == ["A-1"]


# -- the documents a citizen may attach -------------------------------------------------------------

PDF = sample_files.pdf()
OLE2 = sample_files.ole2()
EXE = sample_files.EXE
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("name", "content", "stored_name", "stored_type"),
    [
        ("don.pdf", PDF, "don.pdf", "application/pdf"),
        ("Bản scan.PDF", PDF, "Bản scan.PDF", "application/pdf"),
        ("anh.jpg", b"\xff\xd8\xff\xe1 exif", "anh.jpg", "image/jpeg"),
        ("anh.jpeg", b"\xff\xd8\xff\xdb", "anh.jpeg", "image/jpeg"),
        ("anh.png", sample_files.png(), "anh.png", "image/png"),
        ("don.doc", OLE2, "don.doc", "application/msword"),
        ("don.docx", sample_files.docx(), "don.docx", DOCX),
        ("bang.xls", OLE2, "bang.xls", "application/vnd.ms-excel"),
        ("bang.xlsx", sample_files.xlsx(), "bang.xlsx", XLSX),
        ("don.odt", sample_files.odt(), "don.odt", "application/vnd.oasis.opendocument.text"),
        ("ghi-chu.txt", "Kính gửi Ủy ban".encode(), "ghi-chu.txt", "text/plain"),
        ("utf16.txt", "Kính gửi".encode("utf-16"), "utf16.txt", "text/plain"),
        ("C:\\Users\\An\\don.pdf", PDF, "don.pdf", "application/pdf"),  # an old browser's path
    ],
)
def test_documents_a_citizen_may_attach(
    name: str, content: bytes, stored_name: str, stored_type: str
) -> None:
    attachment, problems = citizen_attachment(name, content)
    assert problems == []
    assert attachment == Attachment(stored_name, content, stored_type)


@pytest.mark.parametrize(
    ("name", "content", "part", "message"),
    [
        ("virus.exe", EXE, "TenTep", "loại tệp không được nhận (chỉ nhận PDF, JPEG, PNG, DOC, DOCX"),
        ("don.pdf.exe", EXE, "TenTep", "loại tệp không được nhận"),
        ("hoa-don", PDF, "TenTep", "loại tệp không được nhận"),
        (".pdf", PDF, "TenTep", "loại tệp không được nhận"),
        ("trang.html", b"<html>", "TenTep", "loại tệp không được nhận"),
        ("", PDF, "TenTep", "cần tên tệp"),
        ("a" * 252 + ".pdf", PDF, "TenTep", "tên tệp dài tối đa 255 ký tự"),
        ("don\x00.pdf", PDF, "TenTep", "không có ký tự điều khiển"),
        ("don.pdf", EXE, "NoiDung", "nội dung không phải là tệp PDF"),
        ("don.pdf", b" " * 1024 + PDF, "NoiDung", "nội dung không phải là tệp PDF"),
        ("don.pdf", b"\r\n" + PDF, "NoiDung", "nội dung không phải là tệp PDF"),
        ("anh.jpg", EXE, "NoiDung", "nội dung không phải là tệp JPEG"),
        ("anh.png", b"\xff\xd8\xff\xe0", "NoiDung", "nội dung không phải là tệp PNG"),
        ("don.doc", sample_files.docx(), "NoiDung", "nội dung không phải là tệp DOC"),
        ("don.docx", EXE, "NoiDung", "nội dung không phải là tệp DOCX"),
        ("bang.xlsx", OLE2, "NoiDung", "nội dung không phải là tệp XLSX"),
        ("ghi-chu.txt", EXE, "NoiDung", "nội dung không phải là tệp TXT"),
        ("don.pdf", b"", "NoiDung", "tệp rỗng"),
        ("don.pdf", PDF + bytes(CITIZEN_MAX_FILE_BYTES), "NoiDung", "tệp lớn hơn 5 MB"),
    ],
)  # fmt: skip
def test_documents_a_citizen_may_not_attach(
    name: str, content: bytes, part: str, message: str
) -> None:
    attachment, problems = citizen_attachment(name, content)
    assert attachment is None
    [(where, vi, en)] = problems
    assert where == part and message in vi
    assert en and en != vi


def test_the_limits_of_a_citizens_documents_taken_together() -> None:
    assert CITIZEN_MAX_FILES == 5 and CITIZEN_MAX_TOTAL_BYTES == 2 * CITIZEN_MAX_FILE_BYTES
    share = CITIZEN_MAX_TOTAL_BYTES // CITIZEN_MAX_FILES
    assert check_citizen_files([share] * CITIZEN_MAX_FILES) == []  # up to the limits
    assert check_citizen_files([]) == []
    assert check_citizen_files([1] * 6) == [("tối đa 5 tệp (đang có 6)", "at most 5 files (got 6)")]
    assert check_citizen_files([CITIZEN_MAX_TOTAL_BYTES - share, share + 1]) == [
        (
            "tổng dung lượng các tệp tối đa 10 MB (đang có 10,1 MB)",
            "at most 10 MB of files in all (got 10.1 MB)",
        )
    ]
    assert len(check_citizen_files([CITIZEN_MAX_TOTAL_BYTES] * 6)) == 2


def test_sizes_are_said_in_megabytes_rounded_up() -> None:
    mib = 1024 * 1024
    assert megabytes(5 * mib) == "5 MB" and megabytes(5 * mib, "en") == "5 MB"
    assert megabytes(5 * mib + 1) == "5,1 MB" and megabytes(5 * mib + 1, "en") == "5.1 MB"
    assert megabytes(int(10.5 * mib)) == "10,5 MB"
