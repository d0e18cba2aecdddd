"""The citizens' PAKN and Q&A pages and JSON API over plain HTTP, against a real hub.

Fast checks without a browser (``running``: uvicorn, SQLite and PostgreSQL): the JSON API's
answers and codes, refusal of cross-site form posts, body limits, paging and search of the
public lists, and the message-log rows of every request. Documents attached to a petition
(multipart form, base64 in the API) reach the unit through ``LayTaiLieuPAKN`` byte for byte;
their limits are checked on a hub with the default body limit (``roomy``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from lienthong.hub import petitions
from lienthong.hub.questions import PORTAL_IDS
from lienthong.hub.settings import HubSettings
from lienthong.hub.web_citizen import PETITION_API_MAX_BYTES, PETITION_FORM_MAX_BYTES
from lienthong.store.tables import MessageLog, Petition, PetitionFile, Question
from tests.hub import sample_files
from tests.hub.conftest import (
    FORM_TOKEN,
    UNIT,
    RunningHub,
    form_token,
)

PAKN_API = "/api/cong-dan/pakn"
QA_API = "/api/cong-dan/hoi-dap"
DISTRICT = "000.00.13.H56"  # the unit of no account here: not in the hub's list
NAME = "Phạm Thị Hoa"
PHONE = "0987654321"
EMAIL = "hoa.pham@example.vn"
TITLE = "Rác thải tồn đọng ở chợ Vườn Hoa"


def _petition(**extra: Any) -> dict[str, Any]:
    return {
        "TieuDe": TITLE,
        "NoiDungPAKN": "Rác ở cổng chợ không được thu gom ba ngày nay.",
        "Ten": NAME,
        "SoDienThoai": PHONE,
        "Email": EMAIL,
        "MaDonViXuLy": UNIT,
        **extra,
    }


def _question(**extra: Any) -> dict[str, Any]:
    return {
        "NOIDUNG": "Cấp lại giấy khai sinh bị mất cần giấy tờ gì?",
        "HOVATEN": NAME,
        "THUDIENTU": EMAIL,
        "MADONVI": UNIT,
        **extra,
    }


def _count(running: RunningHub, table: Any, *where: Any) -> int:
    with running.hub.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _call(running: RunningHub, service: str, **params: Any) -> dict[str, Any]:
    envelope = {"session": running.login(), "madonvi": UNIT, "service": service, **params}
    answer: dict[str, Any] = running.call(envelope).json()
    return answer


@pytest.fixture
def browser_like(running: RunningHub) -> Iterator[httpx.Client]:
    """A client of its own (its own cookies), as a browser on the hub's pages would be."""
    with httpx.Client(base_url=running.base, timeout=30) as client:
        yield client


def _post_form(
    client: httpx.Client, running: RunningHub, fields: dict[str, str], path: str = "/pakn/gui"
) -> httpx.Response:
    return client.post(path, data=fields, headers={"Origin": running.base})


# -- the JSON API ---------------------------------------------------------------------------------


def test_the_api_takes_a_petition_for_the_unit(running: RunningHub) -> None:
    sent = running.client.post(PAKN_API, json=_petition(TenDonViXuLy="Ủy ban giả mạo"))
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert set(answer) == {"error_code", "message", "message_en", "Id", "TrangThai", "SoTaiLieu"}
    assert answer["error_code"] == "0" and answer["message"] == "Thành công"
    assert answer["message_en"] == "Success" and answer["TrangThai"] == "1"
    assert answer["SoTaiLieu"] == "0"
    assert re.fullmatch(r"PAKN-\d{6}", answer["Id"])
    assert sent.headers["cache-control"] == "no-store"

    pending = _call(running, "DanhSachPAKNChoXuLy")["result"]
    assert [row["Id"] for row in pending] == [answer["Id"]]
    row = pending[0]
    assert row["TieuDe"] == TITLE and row["Ten"] == NAME and row["SoDienThoai"] == PHONE
    assert row["MaDonVi"] == UNIT and row["TrangThai"] == "1"
    assert row["TenDonVi"] == "Ủy ban nhân dân tỉnh Thanh Hóa"  # the hub's name, not the caller's


def test_the_api_takes_a_question_for_the_unit(running: RunningHub) -> None:
    sent = running.client.post(QA_API, json=_question(SODIENTHOAI=PHONE))
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["error_code"] == "0" and answer["TrangThai"] == "1"
    assert int(answer["Id"]) > PORTAL_IDS
    pending = _call(running, "LayDanhSachHoiDapGuiTuDVCQG")["result"]
    assert [(row["HOIDAPID"], row["HOVATEN"]) for row in pending] == [(answer["Id"], NAME)]


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({}, {"TieuDe", "NoiDungPAKN", "Ten", "SoDienThoai", "MaDonViXuLy"}),
        (_petition(Ten=5), {"Ten"}),
        (_petition(NoiDungPAKN="rác\x00thải"), {"NoiDungPAKN"}),
        (_petition(TieuDe="a\x1bb", MaHoSo="không-phải-mã"), {"TieuDe", "MaHoSo"}),
        (_petition(MaDonViXuLy="000.00.00.H99"), {"MaDonViXuLy"}),
        (_petition(MaDonViXuLy=DISTRICT), {"MaDonViXuLy"}),
        (_petition(MatKhau="x"), {"MatKhau"}),
        (_petition(TieuDe="x" * 251), {"TieuDe"}),
        (_petition(SoDienThoai="", Email="sai"), {"Email"}),
        (_petition(SoDienThoai=None, Email=None), {"SoDienThoai"}),
        (_petition(NoiDungPAKN={"a": 1}, CongKhai=["True"]), {"NoiDungPAKN", "CongKhai"}),
    ],
)
def test_the_api_names_every_bad_field(
    running: RunningHub, body: dict[str, Any], paths: set[str]
) -> None:
    answer = running.client.post(PAKN_API, json=body)
    assert answer.status_code == 422
    result = answer.json()
    assert result["error_code"] == "15" and result["retryable"] is False
    assert result["message"].startswith("Dữ liệu không hợp lệ; xem danh sách lỗi: ")
    assert result["message_en"].startswith("The data is invalid; see the issues: ")
    assert {issue["path"] for issue in result["issues"]} == {f"$.{name}" for name in paths}
    for issue in result["issues"]:
        assert set(issue) == {"path", "message", "message_en"}
        assert issue["message"] and issue["message_en"] and issue["message"] != issue["message_en"]
    assert _count(running, Petition) == 0


def test_the_question_api_names_every_bad_field(running: RunningHub) -> None:
    answer = running.client.post(QA_API, json=_question(NOIDUNG="", THUDIENTU="x@", HOVATEN=1))
    assert answer.status_code == 422
    paths = [issue["path"] for issue in answer.json()["issues"]]
    assert paths == ["$.NOIDUNG", "$.HOVATEN", "$.THUDIENTU"]  # in the form's order
    assert _count(running, Question, Question.source == "portal") == 0


def test_malformed_api_requests_get_the_hubs_codes(running: RunningHub) -> None:
    def post(content: Any, content_type: str | None = "application/json") -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        return running.client.post(PAKN_API, content=content, headers=headers)

    cases = [
        (post(b"{not json"), 400, "10"),
        (post(b""), 400, "10"),
        (post(b"[1, 2]"), 400, "12"),
        (post(b'"TieuDe"'), 400, "12"),
        (post(json.dumps(_petition()).encode(), "text/plain"), 415, "11"),
        (post(json.dumps(_petition()).encode(), None), 415, "11"),
        (post(b"{" + b" " * 300_000 + b"}"), 413, "14"),  # declared larger than the limit
        (post(iter([b"{", b" " * 150_000, b" " * 150_000, b"}"])), 413, "14"),  # streamed
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["error_code"] == code
    assert "200000" in cases[-1][0].json()["message"]
    assert post(json.dumps(_petition()).encode(), "application/json; charset=utf-8").is_success
    assert running.client.get(PAKN_API).status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        b'{"TieuDe": "\\ud800", "NoiDungPAKN": "x", "Ten": "A", "Email": "a@b.vn"}',
        b'{"TieuDe": "\\u0000"}',
        b'{"Ten": 1e400, "TieuDe": true, "Email": false, "NoiDungPAKN": 123456789012345678901}',
        b'{"MaDonViXuLy": {"$ne": ""}}',
        b'{"MaDonViXuLy": "' + b"9" * 10_000 + b'"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a": ' * 2000 + b"1" + b"}" * 2000,
        b"\xff\xfe{}",
        b'{"TieuDe": "' + "Ánh".encode() * 100 + b'"}',
    ],
)
def test_hostile_api_input_never_gets_a_500(running: RunningHub, body: bytes) -> None:
    for path in (PAKN_API, QA_API):
        answer = running.client.post(path, content=body, headers={"Content-Type": "text/json"})
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.json()["error_code"] in {"10", "12", "15"}
    assert _count(running, Petition) == 0


# -- the forms: cross-site posts, body limits -----------------------------------------------------


def test_forms_refuse_cross_site_posts(running: RunningHub, browser_like: httpx.Client) -> None:
    page = browser_like.get("/pakn/gui")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert page.headers["referrer-policy"] == "same-origin"  # so that the POST carries Origin
    token = form_token(browser_like)
    fields = {**_petition(), "csrf": token}

    refusals = [
        # no cookie at all (another site's page posting to the hub)
        httpx.post(running.base + "/pakn/gui", data=fields),
        # the cookie, but a token that is not its own
        _post_form(browser_like, running, {**fields, "csrf": "A" * 43}),
        _post_form(
            browser_like, running, {name: v for name, v in fields.items() if name != "csrf"}
        ),
        # the right token, sent from another site
        browser_like.post("/pakn/gui", data=fields, headers={"Origin": "https://evil.example"}),
        browser_like.post("/pakn/gui", data=fields, headers={"Sec-Fetch-Site": "cross-site"}),
        browser_like.post("/pakn/gui", data=fields, headers={"Referer": "http://evil.example/f"}),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert TITLE not in refused.text and NAME not in refused.text  # nothing echoed back
        assert "Biểu mẫu" in refused.text or "Phiên gửi biểu mẫu" in refused.text
    assert _count(running, Petition) == 0

    sent = _post_form(browser_like, running, fields)
    assert sent.status_code == 200 and "Đã gửi thành công" in sent.text
    again = _post_form(browser_like, running, fields)  # the same post again: a new token now
    assert again.status_code == 403 and "Phiên gửi biểu mẫu không hợp lệ" in again.text
    assert _count(running, Petition) == 1

    # no Origin (an older browser) is fine when the token is right
    question = {**_question(), "csrf": form_token(browser_like, "/hoi-dap/gui")}
    asked = browser_like.post("/hoi-dap/gui", data=question)
    assert asked.status_code == 200 and "Chờ trả lời" in asked.text


def test_forms_refuse_oversized_and_non_form_bodies(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    token = form_token(browser_like)
    big = _post_form(browser_like, running, {**_petition(NoiDungPAKN="x" * 250_000), "csrf": token})
    assert big.status_code == 413 and "Nội dung gửi quá lớn (tối đa 200000 byte)" in big.text
    as_json = browser_like.post(
        "/pakn/gui", json={**_petition(), "csrf": token}, headers={"Origin": running.base}
    )
    assert as_json.status_code == 415
    garbled = browser_like.post(
        "/pakn/gui",
        content=f"csrf={token}&TieuDe=%FF%FE".encode(),
        headers={"Origin": running.base, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert garbled.status_code == 400 and "Không đọc được nội dung biểu mẫu" in garbled.text
    assert _count(running, Petition) == 0


def test_a_bad_form_keeps_the_values_escaped(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    hostile = '<script>alert("x")</script>'
    fields = {
        **_petition(TieuDe=hostile, Email="", SoDienThoai=""),
        "csrf": form_token(browser_like),
    }
    answer = _post_form(browser_like, running, fields)
    assert answer.status_code == 422
    assert "<script>" not in answer.text and "&lt;script&gt;" in answer.text
    assert 'id="loi-SoDienThoai"' in answer.text
    assert "Vui lòng nhập số điện thoại hoặc thư điện tử để nhận trả lời" in answer.text
    assert f'value="{NAME}"' in answer.text
    assert f'<option value="{UNIT}" selected>' in answer.text
    assert _count(running, Petition) == 0


# -- the public lists -----------------------------------------------------------------------------


def _ids(html: str, prefix: str) -> list[str]:
    return re.findall(rf'data-testid="{prefix}-([^"]+)"', html)


def _published(count: int) -> list[str]:
    """``count`` local petitions of UNIT, published; every third one is about a street light."""
    return [
        json.dumps(
            {
                "MaPAKN": f"TH-{number:03d}",
                "TieuDe": f"Đèn đường số {number} không sáng"
                if number % 3 == 0
                else f"Kiến nghị số {number}",
                "NoiDungPAKN": f"Nội dung kiến nghị số {number}.",
                "NgayGuiPAKN": "20260301080000",
                "Ten": "Trần Thị Cúc",
                "MaDonViXuLy": UNIT,
                "TrangThai": "4",
                "NoiDungTraLoi": f"Trả lời kiến nghị số {number}.",
                "NgayTraLoi": "20260305100000",
                "CongKhai": "True",
            }
        )
        for number in range(1, count + 1)
    ]


def test_the_petition_list_pages_and_searches(running: RunningHub) -> None:
    empty = running.client.get("/pakn")
    assert empty.status_code == 200
    assert "Chưa có phản ánh, kiến nghị nào được công khai" in empty.text

    records = [json.loads(item) for item in _published(23)]
    pushed = _call(running, "DongBoPAKNDiaPhuong", data=records)
    assert pushed["error_code"] == "0", pushed
    first = running.client.get("/pakn")
    ids = _ids(first.text, "pakn")
    assert len(ids) == 10 and ids[0] == f"{UNIT}-TH-023"  # newest first
    assert "Trang 1 / 3" in first.text and 'href="/pakn?trang=2"' in first.text
    assert "Trần T*** C*" in first.text and "Trần Thị Cúc" not in first.text
    third = running.client.get("/pakn", params={"trang": "3"})
    assert _ids(third.text, "pakn") == [f"{UNIT}-TH-{n:03d}" for n in (3, 2, 1)]
    assert 'aria-current="page" aria-label="Trang 3"' in third.text
    beyond = running.client.get("/pakn", params={"trang": "9"})
    assert beyond.status_code == 200 and "Không có trang 9" in beyond.text
    assert _ids(running.client.get("/pakn", params={"trang": "abc"}).text, "pakn") == ids

    found = running.client.get("/pakn", params={"tukhoa": "ĐÈN ĐƯỜNG"})
    expected = [f"{UNIT}-TH-{n:03d}" for n in (21, 18, 15, 12, 9, 6, 3)]
    assert _ids(found.text, "pakn") == expected  # one page, no pager
    assert "Trang 1 /" not in found.text
    in_text = running.client.get("/pakn", params={"tukhoa": "nội dung KIẾN NGHỊ SỐ 7."})
    assert _ids(in_text.text, "pakn") == [f"{UNIT}-TH-007"]
    none = running.client.get("/pakn", params={"tukhoa": "cầu vượt"})
    assert _ids(none.text, "pakn") == []
    assert "Không tìm thấy phản ánh, kiến nghị nào phù hợp với từ khóa “cầu vượt”" in none.text


def test_the_qa_list_pages_searches_and_filters(running: RunningHub) -> None:
    compiled = [
        {
            "HOIDAPID": str(700 + number),
            "NOIDUNG": f"Câu hỏi về hộ tịch số {number}?",
            "MADONVI": UNIT,
            "HOVATEN": "Lê Văn Tám",
            "NOIDUNGTRALOI": f"Trả lời số {number}.",
        }
        for number in range(1, 13)
    ]
    pushed = _call(running, "DongBoHoiDap", data=compiled)
    assert pushed["error_code"] == "0", pushed
    pending = running.client.post(QA_API, json=_question())  # not answered: never listed
    assert pending.status_code == 200

    every = running.client.get("/hoi-dap")
    first_page = _ids(every.text, "hoi-dap")
    assert len(first_page) == 10 and "Trang 1 / 2" in every.text
    second = running.client.get("/hoi-dap", params={"trang": "2"})
    rest = _ids(second.text, "hoi-dap")
    assert len(rest) == 12 + 4 - 10 and not set(rest) & set(first_page)
    assert pending.json()["Id"] not in first_page + rest
    assert "Lê V*** T*" in every.text and "Lê Văn Tám" not in every.text

    units = running.client.get("/hoi-dap", params={"nguon": "don-vi", "trang": "2"})
    assert _ids(units.text, "hoi-dap") == ["702", "701"]
    assert 'href="/hoi-dap?nguon=don-vi"' in units.text  # the pager keeps the filter
    ministries = running.client.get("/hoi-dap", params={"nguon": "bo-nganh"})
    assert sorted(_ids(ministries.text, "hoi-dap")) == ["900001", "900002", "900003", "900004"]
    found = running.client.get("/hoi-dap", params={"tukhoa": "KHAI SINH"})
    assert sorted(_ids(found.text, "hoi-dap")) == ["900001", "900002"]
    in_answer = running.client.get("/hoi-dap", params={"tukhoa": "trả lời số 12"})
    assert _ids(in_answer.text, "hoi-dap") == ["712"]
    none = running.client.get("/hoi-dap", params={"tukhoa": "xyz", "nguon": "nope"})
    assert "Không tìm thấy câu hỏi nào phù hợp với từ khóa “xyz”" in none.text


# -- the message log ------------------------------------------------------------------------------


def test_every_web_and_public_request_is_logged(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    with running.hub.sessions() as db:
        before = db.scalar(select(func.max(MessageLog.id))) or 0
    browser_like.get("/")
    browser_like.get("/tra-cuu", params={"mahoso": "000.00.13.H56-260302-0999"})
    browser_like.get("/pakn", params={"tukhoa": NAME})
    token = form_token(browser_like)
    bad = {**_petition(Email="sai", SoDienThoai=""), "csrf": token}
    found = FORM_TOKEN.search(_post_form(browser_like, running, bad).text)
    assert found is not None  # the form came back with a new token
    _post_form(browser_like, running, {**_petition(), "csrf": found.group(1)})
    # refused: a token is good for one post
    _post_form(browser_like, running, {**_petition(), "csrf": found.group(1)})
    browser_like.get("/hoi-dap")
    browser_like.post(QA_API, json=_question())
    browser_like.post(PAKN_API, json=_petition(MaDonViXuLy="000.00.00.H99"))
    browser_like.post(PAKN_API, content=b"{" + b" " * 300_000 + b"}")

    with running.hub.sessions() as db:
        rows = db.scalars(
            select(MessageLog).where(MessageLog.id > before).order_by(MessageLog.id)
        ).all()
    seen = [
        (r.endpoint, r.service, r.http_status, r.error_code, r.unit, r.records, r.accepted)
        for r in rows
    ]
    assert seen == [
        ("web", "web:/", 200, "00", None, 0, 0),
        ("web", "web:/tra-cuu", 404, "40", None, 0, 0),
        ("web", "web:/pakn", 200, "00", None, 0, 0),
        ("web", "web:/pakn/gui", 200, "00", None, 0, 0),
        ("web", "web:/pakn/gui", 422, "15", UNIT, 1, 0),
        ("web", "web:/pakn/gui", 200, "00", UNIT, 1, 1),
        ("web", "web:/pakn/gui", 403, "csrf", None, 1, 0),
        ("web", "web:/hoi-dap", 200, "00", None, 0, 0),
        ("public", f"public:{QA_API}", 200, "0", UNIT, 1, 1),
        ("public", f"public:{PAKN_API}", 422, "15", None, 1, 0),
        ("public", f"public:{PAKN_API}", 413, "14", None, 1, 0),
    ]
    for row in rows:
        assert row.raw_body is None and row.account is None and row.dstcode is None
        assert row.client == "127.0.0.1" and row.response_bytes > 0 and row.duration_ms >= 0
        kept = " ".join(str(value) for value in vars(row).values())
        for personal in (NAME, PHONE, EMAIL, TITLE, "260302-0999"):
            assert personal not in kept
    assert rows[5].request_bytes > 100 and rows[-1].request_bytes > 300_000

    if running.hub.engine.dialect.name == "sqlite":  # `lienthong log tail` shows them
        from lienthong.cli.main import app

        url = running.hub.engine.url.render_as_string(hide_password=False)
        result = CliRunner().invoke(
            app, ["log", "tail", "-n", "11", "--database", url], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        assert "web:/pakn/gui" in result.output and f"public:{QA_API}" in result.output
        assert "csrf" in result.output


def test_the_units_are_the_registrys_and_the_accounts(running: RunningHub) -> None:
    form = running.client.get("/pakn/gui").text
    assert f'<option value="{UNIT}">Ủy ban nhân dân tỉnh Thanh Hóa</option>' in form
    assert '<option value="000.00.00.G15">Bộ Tư pháp</option>' in form
    assert '<option value="000.00.00.H46">' not in form  # closed by the 2025 province merger
    assert f'value="{DISTRICT}"' not in form
    refused = running.client.post(PAKN_API, json=_petition(MaDonViXuLy=DISTRICT))
    assert refused.status_code == 422

    running.hub.accounts.add("huyen_dongson", "mat-khau-thu-nghiem", [DISTRICT])
    running.hub.accounts.add("huyen_khoa", "mat-khau-thu-nghiem", ["000.00.14.H56"])
    running.hub.accounts.disable("huyen_khoa")
    form = running.client.get("/hoi-dap/gui").text
    assert (
        f'<option value="{DISTRICT}">{DISTRICT} (Ủy ban nhân dân tỉnh Thanh Hóa)</option>' in form
    )
    assert "000.00.14.H56" not in form  # a disabled account's unit
    taken = running.client.post(PAKN_API, json=_petition(MaDonViXuLy=DISTRICT))
    assert taken.status_code == 200, taken.text


def test_closed_units_are_not_offered_and_name_their_successor(running: RunningHub) -> None:
    """Issue 10, defect 16: an account still holding a district of a province closed by the
    2025 merger (H46, merged into H50) made it a choice of the forms and the API."""
    old_district = "000.00.13.H46"
    running.hub.accounts.add("huyen_cu", "mat-khau-thu-nghiem", [old_district])
    form = running.client.get("/pakn/gui").text
    assert old_district not in form
    for api, field, record in (
        (PAKN_API, "MaDonViXuLy", _petition(MaDonViXuLy=old_district)),
        (QA_API, "MADONVI", {**_question(), "MADONVI": "000.00.00.H46"}),
    ):
        refused = running.client.post(api, json=record)
        assert refused.status_code == 422, refused.text
        (issue,) = [i for i in refused.json()["issues"] if i["path"] == f"$.{field}"]
        assert (
            "ngừng hoạt động" in issue["message"] and "closed on 2025-07-01" in issue["message_en"]
        )
        assert "000.00.00.H50" in issue["message"] and "000.00.00.H50" in issue["message_en"]


# -- documents attached to a petition ---------------------------------------------------------------

MIB = 1024 * 1024
PDF = sample_files.pdf()
PNG = sample_files.png()
JPEG = sample_files.JPEG
EXE = sample_files.EXE
BOUNDARY = "----lienthongFormBoundary7MA4YWxkTrZu0gW"
FILES = "TaiLieuDinhKem"


def _multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> bytes:
    """The body a browser sends for the petition form: the fields, then one part per chosen file
    (an empty file input is one part with an empty file name and no content)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for filename, content in files:
        head = (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            f'name="{FILES}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _post_multipart(
    client: httpx.Client,
    running: RunningHub,
    fields: dict[str, str],
    files: list[tuple[str, bytes]],
    path: str = "/pakn/gui",
    **headers: str,
) -> httpx.Response:
    return client.post(
        path,
        content=_multipart(fields, files),
        headers={
            "Origin": running.base,
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            **headers,
        },
    )


def _documents(running: RunningHub, pakn_id: str) -> list[dict[str, Any]]:
    """LayTaiLieuPAKN of ``pakn_id``, as the unit's account gets it."""
    answer = _call(running, "LayTaiLieuPAKN", PAKNID=pakn_id)
    assert answer["error_code"] == "0", answer
    result: list[dict[str, Any]] = answer["result"]
    return result


def _pakn_id(page: httpx.Response) -> str:
    found = re.search(r'data-testid="ma-so">(PAKN-\d{6})<', page.text)
    assert found is not None, page.text
    return found.group(1)


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def test_the_body_caps_admit_the_documents() -> None:
    total = petitions.CITIZEN_MAX_TOTAL_BYTES
    assert (petitions.CITIZEN_MAX_FILES, petitions.CITIZEN_MAX_FILE_BYTES) == (5, 5 * MIB)
    assert total == 10 * MIB and petitions.CITIZEN_MAX_FILE_BYTES <= petitions.MAX_FILE_BYTES
    assert PETITION_FORM_MAX_BYTES == 12 * MIB
    assert len(_b64(bytes(total))) + MIB <= PETITION_API_MAX_BYTES  # base64: 4 bytes of 3
    assert HubSettings().max_body_bytes >= PETITION_API_MAX_BYTES  # the defaults admit them


def test_the_petition_form_takes_documents(running: RunningHub) -> None:
    form = running.client.get("/pakn/gui").text
    assert 'enctype="multipart/form-data"' in form
    assert f'<input id="{FILES}" name="{FILES}" type="file" multiple accept=".pdf,.jpg,' in form
    assert "Tài liệu đính kèm (nếu có)" in form and "Attached documents (optional)" not in form
    assert "Tối đa 5 tệp, mỗi tệp tối đa 5 MB, tổng cộng tối đa 10 MB" in form
    english = running.client.get("/pakn/gui", params={"lang": "en"}).text
    assert "Attached documents (optional)" in english and "Tài liệu đính kèm" not in english
    assert "Up to 5 files, each at most 5 MB, at most 10 MB in all" in english
    question = running.client.get("/hoi-dap/gui").text
    assert "multipart" not in question and 'type="file"' not in question


def test_a_form_with_documents_reaches_the_unit(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    fields = {**_petition(), "csrf": form_token(browser_like)}
    files = [("Đơn kiến nghị.pdf", PDF), ("", b""), ("C:\\Ảnh\\hiện trường.PNG", PNG)]
    sent = _post_multipart(browser_like, running, fields, files)
    assert sent.status_code == 200, sent.text
    assert 'data-testid="so-tai-lieu">2 tệp<' in sent.text
    pakn_id = _pakn_id(sent)

    assert _documents(running, pakn_id) == [
        {"TenTep": "Đơn kiến nghị.pdf", "LoaiTep": "application/pdf", "NoiDung": _b64(PDF)},
        {"TenTep": "hiện trường.PNG", "LoaiTep": "image/png", "NoiDung": _b64(PNG)},
    ]
    [row] = _call(running, "DanhSachPAKNChoXuLy")["result"]
    assert row["Id"] == pakn_id and row["SoTaiLieu"] == "2" and row["TieuDe"] == TITLE

    # a browser's empty file input alone: no document, nothing refused
    fields = {**_petition(), "csrf": form_token(browser_like)}
    empty = _post_multipart(browser_like, running, fields, [("", b"")])
    assert empty.status_code == 200, empty.text
    assert 'data-testid="so-tai-lieu">0 tệp<' in empty.text
    assert _documents(running, _pakn_id(empty)) == []
    # and the old urlencoded form is still taken
    old = _post_form(browser_like, running, {**_petition(), "csrf": form_token(browser_like)})
    assert old.status_code == 200 and 'data-testid="so-tai-lieu">0 tệp<' in old.text
    assert _count(running, PetitionFile) == 2


def test_the_question_form_stays_urlencoded(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    fields = {**_question(), "csrf": form_token(browser_like, "/hoi-dap/gui")}
    refused = _post_multipart(browser_like, running, fields, [("don.pdf", PDF)], "/hoi-dap/gui")
    assert refused.status_code == 415
    assert "Biểu mẫu phải được gửi dạng application/x-www-form-urlencoded." in refused.text
    asked = _post_form(browser_like, running, fields, "/hoi-dap/gui")
    assert asked.status_code == 200 and "Chờ trả lời" in asked.text
    assert "so-tai-lieu" not in asked.text
    assert _count(running, Question, Question.source == "portal") == 1


def test_multipart_forms_are_checked_for_cross_site_posts(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    token = form_token(browser_like)
    fields = {**_petition(), "csrf": token}
    files = [("don.pdf", PDF)]
    with httpx.Client(base_url=running.base) as stranger:  # another site's page: no cookie
        refusals = [_post_multipart(stranger, running, fields, files)]
    refusals += [
        _post_multipart(browser_like, running, {**fields, "csrf": "A" * 43}, files),
        _post_multipart(browser_like, running, {**_petition()}, files),  # no token
        _post_multipart(browser_like, running, fields, files, Origin="https://evil.example"),
        _post_multipart(browser_like, running, fields, files, **{"Sec-Fetch-Site": "cross-site"}),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert TITLE not in refused.text
    assert _count(running, Petition) == 0 and _count(running, PetitionFile) == 0
    garbled = browser_like.post(
        "/pakn/gui",
        content=b"--x\r\nnot a part",
        headers={"Origin": running.base, "Content-Type": "multipart/form-data"},  # no boundary
    )
    assert garbled.status_code == 400 and "Không đọc được nội dung biểu mẫu" in garbled.text
    sent = _post_multipart(browser_like, running, fields, files)
    assert sent.status_code == 200, sent.text


def test_a_multipart_body_over_the_limit_is_refused_unread(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    fields = {**_petition(), "csrf": form_token(browser_like)}
    big = _post_multipart(browser_like, running, fields, [("don.pdf", sample_files.pdf(300_000))])
    assert big.status_code == 413  # the hub's max_body_bytes (200000) is below the form's cap
    assert "Nội dung gửi quá lớn (tối đa 200000 byte)." in big.text
    assert "Tài liệu đính kèm tổng cộng tối đa 10 MB." in big.text
    assert TITLE not in big.text
    assert _count(running, Petition) == 0


#: (what is wrong, the files, what the form says beside the file field)
BAD_UPLOADS = [
    ("too many", [(f"trang-{n}.pdf", PDF) for n in range(6)], "Tối đa 5 tệp (đang có 6)"),
    ("a file too large", [("lon.pdf", sample_files.pdf(5 * MIB + 1))], "“lon.pdf”: tệp lớn hơn 5 MB (đang có 5,1 MB)"),
    (
        "too large in all",
        [(f"phan-{n}.pdf", sample_files.pdf(3 * MIB + MIB // 2)) for n in range(3)],
        "Tổng dung lượng các tệp tối đa 10 MB (đang có 10,5 MB)",
    ),
    ("a type not allowed", [("chuong-trinh.exe", EXE)], "“chuong-trinh.exe”: loại tệp không được nhận (chỉ nhận PDF, JPEG, PNG, DOC, DOCX, XLS, XLSX, ODT, TXT)"),
    ("no extension", [("hoa-don", PDF)], "“hoa-don”: loại tệp không được nhận"),
    ("an exe named .pdf", [("don.pdf", EXE)], "“don.pdf”: nội dung không phải là tệp PDF"),
    ("an exe named .png", [("anh.png", EXE)], "“anh.png”: nội dung không phải là tệp PNG"),
    ("an exe named .jpg", [("anh.jpg", EXE)], "“anh.jpg”: nội dung không phải là tệp JPEG"),
    ("an exe named .docx", [("don.docx", EXE)], "“don.docx”: nội dung không phải là tệp DOCX"),
    ("an exe named .txt", [("ghi-chu.txt", EXE)], "“ghi-chu.txt”: nội dung không phải là tệp TXT"),
    ("an empty file", [("trong.pdf", b"")], "“trong.pdf”: tệp rỗng"),
    ("one bad among good", [("don.pdf", PDF), ("anh.png", JPEG)], "“anh.png”: nội dung không phải là tệp PNG"),
]  # fmt: skip


def test_bad_documents_come_back_beside_the_file_field(roomy: RunningHub) -> None:
    with httpx.Client(base_url=roomy.base, timeout=60) as client:
        token = form_token(client)
        for case, files, message in BAD_UPLOADS:
            answer = _post_multipart(client, roomy, {**_petition(), "csrf": token}, files)
            assert answer.status_code == 422, (case, answer.text[:300])
            beside = re.search(
                rf'<p class="field-error" id="loi-{FILES}" data-testid="loi-{FILES}">(.*?)</p>',
                answer.text,
                re.S,
            )
            assert beside is not None, case
            assert message in beside.group(1), (case, beside.group(1))
            assert "Vui lòng chọn lại tệp." in beside.group(1), case
            assert "Please choose the files again." not in beside.group(1), case  # one language
            assert 'aria-invalid="true"' in answer.text and f'href="#{FILES}"' in answer.text
            assert f'value="{NAME}"' in answer.text and f'value="{TITLE}"' in answer.text, case
            found = FORM_TOKEN.search(answer.text)  # a new token to send the form again with
            assert found is not None
            token = found.group(1)
        # each problem named at once, and nothing stored for any of them
        fields = {**_petition(), "csrf": token}
        both = _post_multipart(client, roomy, fields, [("a.exe", EXE), ("b.pdf", PNG)])
        assert "“a.exe”: loại tệp không được nhận" in both.text
        assert "“b.pdf”: nội dung không phải là tệp PDF" in both.text
    assert _count(roomy, Petition) == 0 and _count(roomy, PetitionFile) == 0


def test_documents_up_to_the_limits_are_taken_and_more_is_413(roomy: RunningHub) -> None:
    near = [
        (f"phan-{n}.pdf", sample_files.pdf(2 * MIB)) for n in range(5)
    ]  # 5 files, 10 MiB exactly
    with httpx.Client(base_url=roomy.base, timeout=60) as client:
        sent = _post_multipart(client, roomy, {**_petition(), "csrf": form_token(client)}, near)
        assert sent.status_code == 200, sent.text[:300]
        assert 'data-testid="so-tai-lieu">5 tệp<' in sent.text
        documents = _documents(roomy, _pakn_id(sent))
        assert [base64.b64decode(item["NoiDung"]) for item in documents] == [c for _, c in near]

        huge = [("lon.pdf", sample_files.pdf(PETITION_FORM_MAX_BYTES))]
        refused = _post_multipart(client, roomy, {**_petition(), "csrf": form_token(client)}, huge)
        assert refused.status_code == 413
        assert f"Nội dung gửi quá lớn (tối đa {PETITION_FORM_MAX_BYTES} byte)." in refused.text

        # the API: 10 MiB of documents are about 13.3 MiB of base64, and that is taken too
        items = [{"TenTep": name, "NoiDung": _b64(content)} for name, content in near]
        taken = client.post(PAKN_API, json=_petition(TaiLieuDinhKem=items))
        assert taken.status_code == 200, taken.text[:300]
        assert taken.json()["SoTaiLieu"] == "5"
        over = client.post(
            PAKN_API,
            content=b" " * (PETITION_API_MAX_BYTES + 1),
            headers={"Content-Type": "application/json"},
        )
        assert over.status_code == 413 and over.json()["error_code"] == "14"
        assert str(PETITION_API_MAX_BYTES) in over.json()["message"]
    assert _count(roomy, Petition) == 2 and _count(roomy, PetitionFile) == 10


def test_a_form_sent_back_asks_to_choose_the_files_again(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    fields = {**_petition(TieuDe=""), "csrf": form_token(browser_like)}
    answer = _post_multipart(browser_like, running, fields, [("don.pdf", PDF), ("anh.png", PNG)])
    assert answer.status_code == 422
    assert 'id="loi-TieuDe"' in answer.text and f'id="loi-{FILES}"' not in answer.text
    note = f'data-testid="chon-lai-{FILES}">Bạn đã chọn 2 tệp nhưng chưa gửi được'
    assert note in answer.text and "Vui lòng chọn lại tệp." in answer.text
    assert f'aria-describedby="goi-y-{FILES} chon-lai-{FILES}"' in answer.text
    assert _count(running, Petition) == 0 and _count(running, PetitionFile) == 0


def test_the_api_takes_documents_in_base64(running: RunningHub) -> None:
    wrapped = "\r\n".join(_b64(JPEG)[i : i + 16] for i in range(0, len(_b64(JPEG)), 16))
    documents = [
        {"TenTep": "don.pdf", "LoaiTep": "application/pdf", "NoiDung": _b64(PDF)},
        {"TenTep": "anh.jpeg", "LoaiTep": "image/jpg", "NoiDung": wrapped},  # MIME line breaks
    ]
    sent = running.client.post(PAKN_API, json=_petition(TaiLieuDinhKem=documents))
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["SoTaiLieu"] == "2"
    assert _documents(running, answer["Id"]) == [
        {"TenTep": "don.pdf", "LoaiTep": "application/pdf", "NoiDung": _b64(PDF)},
        {"TenTep": "anh.jpeg", "LoaiTep": "image/jpeg", "NoiDung": _b64(JPEG)},  # the hub's type
    ]
    empty = running.client.post(PAKN_API, json=_petition(TaiLieuDinhKem=[]))
    assert empty.status_code == 200 and empty.json()["SoTaiLieu"] == "0"


def _item(name: str = "don.pdf", content: bytes = PDF, **extra: Any) -> dict[str, Any]:
    return {"TenTep": name, "NoiDung": _b64(content), **extra}


@pytest.mark.parametrize(
    ("documents", "issues"),
    [
        ([_item(), _item(NoiDung="JVBERi0xLjc=!")], {"[1].NoiDung": "không phải chuỗi base64 hợp lệ"}),
        ([_item(NoiDung="JVBERi0")], {"[0].NoiDung": "không phải chuỗi base64 hợp lệ"}),
        ([_item(NoiDung="JVBE€i0x")], {"[0].NoiDung": "không phải chuỗi base64 hợp lệ"}),
        ([_item(NoiDung=12)], {"[0].NoiDung": "không phải chuỗi base64 hợp lệ"}),
        ([_item("virus.exe", EXE)], {"[0].TenTep": "loại tệp không được nhận"}),
        ([_item("don.pdf", EXE)], {"[0].NoiDung": "nội dung không phải là tệp PDF"}),
        ([_item("anh.png", EXE)], {"[0].NoiDung": "nội dung không phải là tệp PNG"}),
        ([_item("anh.jpg", PNG)], {"[0].NoiDung": "nội dung không phải là tệp JPEG"}),
        ([_item(content=b"")], {"[0].NoiDung": "tệp rỗng"}),
        ([{"NoiDung": _b64(PDF)}], {"[0].TenTep": "cần tên tệp"}),
        ([{"TenTep": "don.pdf"}], {"[0].NoiDung": "cần nội dung tệp"}),
        ([_item(TenTep=5, LoaiTep=1)], {"[0].TenTep": "phải là chuỗi", "[0].LoaiTep": "phải là chuỗi"}),
        ([_item(DuongDan="https://example.vn/don.pdf")], {"[0].DuongDan": "trường không được phép"}),
        (["don.pdf"], {"[0]": "phải là một đối tượng"}),
        ({"TenTep": "don.pdf"}, {"": "phải là một danh sách"}),
        ([_item() for _ in range(6)], {"": "tối đa 5 tệp (đang có 6)"}),
    ],
)  # fmt: skip
def test_the_api_names_every_bad_document(
    running: RunningHub, documents: Any, issues: dict[str, str]
) -> None:
    answer = running.client.post(PAKN_API, json=_petition(TaiLieuDinhKem=documents, Email="x"))
    assert answer.status_code == 422, answer.text
    result = answer.json()
    assert result["error_code"] == "15"
    found = {issue["path"]: issue for issue in result["issues"]}
    expected = {f"$.{FILES}{where}" for where in issues}
    assert set(found) == expected | {"$.Email"}  # with the other fields' problems, at once
    for where, message in issues.items():
        issue = found[f"$.{FILES}{where}"]
        assert message in issue["message"], issue
        assert issue["message_en"] and issue["message_en"] != issue["message"]
    assert [issue["path"] for issue in result["issues"]][-1] == "$.Email"  # the form's order
    assert _count(running, Petition) == 0 and _count(running, PetitionFile) == 0


def test_the_api_refuses_a_document_too_large(roomy: RunningHub) -> None:
    documents = [_item("lon.pdf", sample_files.pdf(5 * MIB + 1)), *[_item() for _ in range(2)]]
    answer = roomy.client.post(PAKN_API, json=_petition(TaiLieuDinhKem=documents))
    assert answer.status_code == 422
    [issue] = answer.json()["issues"]
    assert issue["path"] == f"$.{FILES}[0].NoiDung"
    assert issue["message"] == "tệp lớn hơn 5 MB (đang có 5,1 MB)"
    assert issue["message_en"] == "file larger than 5 MB (got 5.1 MB)"
    in_all = [_item(f"{n}.pdf", sample_files.pdf(3 * MIB + MIB // 2)) for n in range(3)]
    answer = roomy.client.post(PAKN_API, json=_petition(TaiLieuDinhKem=in_all))
    assert [issue["path"] for issue in answer.json()["issues"]] == [f"$.{FILES}"]
    assert "10 MB" in answer.json()["issues"][0]["message"]
    assert _count(roomy, Petition) == 0


def test_the_question_api_takes_no_documents(running: RunningHub) -> None:
    answer = running.client.post(QA_API, json=_question(TaiLieuDinhKem=[_item()]))
    assert answer.status_code == 422
    assert [issue["path"] for issue in answer.json()["issues"]] == [f"$.{FILES}"]
    assert answer.json()["issues"][0]["message"] == "trường không được phép"
