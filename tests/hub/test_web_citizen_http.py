"""The citizens' PAKN and Q&A pages and JSON API over plain HTTP, against a real hub.

Fast checks without a browser (``running``: uvicorn, SQLite and PostgreSQL): the JSON API's
answers and codes, refusal of cross-site form posts, body limits, paging and search of the
public lists, and the message-log rows of every request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from lienthong.hub.questions import PORTAL_IDS
from lienthong.store.tables import MessageLog, Petition, Question
from tests.hub.conftest import UNIT, RunningHub

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


def _token(client: httpx.Client, path: str = "/pakn/gui") -> str:
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([A-Za-z0-9_-]{43})"', page.text)
    assert found is not None
    return found.group(1)


def _post_form(
    client: httpx.Client, running: RunningHub, fields: dict[str, str], path: str = "/pakn/gui"
) -> httpx.Response:
    return client.post(path, data=fields, headers={"Origin": running.base})


# -- the JSON API ---------------------------------------------------------------------------------


def test_the_api_takes_a_petition_for_the_unit(running: RunningHub) -> None:
    sent = running.client.post(PAKN_API, json=_petition(TenDonViXuLy="Ủy ban giả mạo"))
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert set(answer) == {"error_code", "message", "message_en", "Id", "TrangThai"}
    assert answer["error_code"] == "00" and answer["message"] == "Thành công"
    assert answer["message_en"] == "Success" and answer["TrangThai"] == "1"
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
    assert answer["error_code"] == "00" and answer["TrangThai"] == "1"
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
    token = _token(browser_like)
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
    question = {**_question(), "csrf": _token(browser_like, "/hoi-dap/gui")}
    asked = browser_like.post("/hoi-dap/gui", data=question)
    assert asked.status_code == 200 and "Chờ trả lời" in asked.text


def test_forms_refuse_oversized_and_non_form_bodies(
    running: RunningHub, browser_like: httpx.Client
) -> None:
    token = _token(browser_like)
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
    fields = {**_petition(TieuDe=hostile, Email="", SoDienThoai=""), "csrf": _token(browser_like)}
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
    assert pushed["error_code"] == "00", pushed
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
    assert pushed["error_code"] == "00", pushed
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
    token = _token(browser_like)
    _post_form(browser_like, running, {**_petition(Email="sai", SoDienThoai=""), "csrf": token})
    _post_form(browser_like, running, {**_petition(), "csrf": token})
    _post_form(browser_like, running, {**_petition(), "csrf": token})  # refused: token rotated
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
        ("public", f"public:{QA_API}", 200, "00", UNIT, 1, 1),
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
