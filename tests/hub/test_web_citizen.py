"""The petition (PAKN) and Q&A pages in a real browser: Playwright driving Debian's Chromium.

A person sends a petition (with documents chosen in the file input) and a question through the
forms of a real hub (``running``: uvicorn over HTTP, SQLite and PostgreSQL), the unit fetches the
documents and answers through the wire protocol, and the person then finds the answers in the
public lists. One screenshot per page is saved under
``test-output/screenshots/``. The browser fixtures are those of ``test_web.py``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tests.hub import sample_files
from tests.hub.conftest import UNIT, RunningHub
from tests.hub.test_web import _screenshot, browser, page  # noqa: F401 - fixtures

SENDER = "Nguyễn Văn An"
PHONE = "0912345678"
TITLE = "Đèn đường ngõ 5 phố Lê Lợi bị hỏng"
TEXT = "Đèn đường ở ngõ 5 phố Lê Lợi đã hỏng hai tuần, buổi tối rất tối và nguy hiểm."
ANSWER = "Công ty chiếu sáng đã thay bóng đèn ngày 12/03/2026."
PDF = sample_files.pdf()
PNG = sample_files.png()
EXE = sample_files.EXE
DOCUMENTS = "Tài liệu đính kèm"


def _submit_button(tab: Any) -> Any:
    return tab.get_by_role("button", name=re.compile("^Gửi"))


def _file(name: str, content: bytes, mime_type: str = "application/pdf") -> dict[str, Any]:
    """A file for Playwright's ``set_input_files``, as if chosen in the file picker."""
    return {"name": name, "mimeType": mime_type, "buffer": content}


def _documents(running: RunningHub, pakn_id: str) -> list[dict[str, Any]]:
    """LayTaiLieuPAKN of ``pakn_id`` for the unit's account."""
    envelope = {
        "session": running.login(),
        "madonvi": UNIT,
        "service": "LayTaiLieuPAKN",
        "PAKNID": pakn_id,
    }
    answer = running.call(envelope).json()
    assert answer["error_code"] == "0", answer
    result: list[dict[str, Any]] = answer["result"]
    return result


def _answer_petition(running: RunningHub, pakn_id: str) -> None:
    answer = running.call(
        {
            "session": running.login(),
            "madonvi": UNIT,
            "service": "DongBoKetQuaXuLyPAKN",
            "data": [
                {
                    "PAKNID": pakn_id,
                    "MaDonVi": UNIT,
                    "NguoiTraLoi": "Lê Văn Bình",
                    "NgayTraLoi": "20260312090000",
                    "NoiDungTraLoi": ANSWER,
                    "CongKhai": "True",
                }
            ],
        }
    ).json()
    assert answer["error_code"] == "0", answer


def test_a_citizen_sends_a_petition_and_finds_the_answer(
    running: RunningHub,
    page: Any,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    page.goto(running.base + "/")
    with page.expect_navigation():
        page.get_by_role("link", name="Gửi phản ánh, kiến nghị").click()
    assert page.url.endswith("/pakn/gui")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Gửi phản ánh, kiến nghị")
    _screenshot(page, request, "pakn-form")

    page.get_by_label("Đơn vị tiếp nhận").select_option(UNIT)
    page.get_by_label("Tiêu đề").fill(TITLE)
    page.get_by_label("Nội dung phản ánh, kiến nghị").fill(TEXT)
    page.get_by_label("Họ và tên").fill(SENDER)
    page.get_by_label("Số điện thoại").fill(PHONE)
    page.get_by_label(DOCUMENTS).set_input_files(
        [_file("Đơn kiến nghị.pdf", PDF), _file("hiện trường.png", PNG, "image/png")]
    )
    with page.expect_navigation() as navigation:
        _submit_button(page).click()
    assert navigation.value.status == 200
    assert page.get_by_role("heading", level=1).inner_text().startswith("Đã gửi thành công")
    pakn_id = page.get_by_test_id("ma-so").inner_text()
    assert re.fullmatch(r"PAKN-\d{6}", pakn_id)
    assert page.get_by_test_id("trang-thai").inner_text() == "Chờ xử lý"
    assert page.get_by_test_id("so-tai-lieu").inner_text() == "2 tệp"
    assert "Ủy ban nhân dân tỉnh Thanh Hóa" in page.get_by_test_id("da-gui").inner_text()
    _screenshot(page, request, "pakn-sent")

    # the unit gets the documents as the browser sent them
    assert _documents(running, pakn_id) == [
        {
            "TenTep": "Đơn kiến nghị.pdf",
            "LoaiTep": "application/pdf",
            "NoiDung": base64.b64encode(PDF).decode(),
        },
        {
            "TenTep": "hiện trường.png",
            "LoaiTep": "image/png",
            "NoiDung": base64.b64encode(PNG).decode(),
        },
    ]

    # not public before the unit answers it
    page.goto(running.base + "/pakn")
    assert "Chưa có phản ánh, kiến nghị nào được công khai" in page.locator("main").inner_text()
    _answer_petition(running, pakn_id)

    page.goto(running.base + "/")
    with page.expect_navigation():
        page.locator("nav").get_by_role("link", name="Phản ánh, kiến nghị").click()
    item = page.get_by_test_id(f"pakn-{pakn_id}")
    assert item.get_by_role("heading", level=2).inner_text() == TITLE
    assert item.get_by_test_id("nguoi-gui").inner_text() == "Nguyễn V*** A*"
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", item.get_by_test_id("ngay-gui").inner_text())
    assert item.get_by_test_id("don-vi").inner_text() == "Ủy ban nhân dân tỉnh Thanh Hóa"
    assert item.get_by_test_id("tra-loi").inner_text() == ANSWER
    assert item.get_by_test_id("ngay-tra-loi").inner_text() == "12/03/2026 09:00"
    assert TEXT in item.inner_text()
    content = page.content()
    assert SENDER not in content and PHONE not in content  # never the name or the contact
    _screenshot(page, request, "pakn-list")

    page.get_by_label("Tìm kiếm theo tiêu đề hoặc nội dung").fill("ĐÈN ĐƯỜNG NGÕ 5")
    with page.expect_navigation():
        page.get_by_role("button", name="Tìm kiếm").click()
    assert "tukhoa=" in page.url
    assert page.get_by_test_id(f"pakn-{pakn_id}").is_visible()
    page.get_by_label("Tìm kiếm theo tiêu đề hoặc nội dung").fill("cầu vượt")
    with page.expect_navigation():
        page.get_by_role("button", name="Tìm kiếm").click()
    empty = page.get_by_test_id("khong-co-ket-qua").inner_text()
    assert "Không tìm thấy phản ánh, kiến nghị nào" in empty and "cầu vượt" in empty
    assert page.get_by_test_id(f"pakn-{pakn_id}").count() == 0
    _screenshot(page, request, "pakn-search-empty")


def test_a_bad_petition_shows_vietnamese_errors_and_keeps_the_values(
    running: RunningHub,
    page: Any,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    page.goto(running.base + "/pakn/gui")
    page.get_by_label("Đơn vị tiếp nhận").select_option(UNIT)
    page.get_by_label("Tiêu đề").fill(TITLE)
    page.get_by_label("Họ và tên").fill(SENDER)
    page.get_by_label("Thư điện tử").fill("an@@example")
    # a program renamed to look like a photo
    page.get_by_label(DOCUMENTS).set_input_files([_file("anh.png", EXE, "image/png")])
    with page.expect_navigation() as navigation:
        _submit_button(page).click()
    assert navigation.value.status == 422
    summary = page.get_by_test_id("tom-tat-loi").inner_text()
    assert "Vui lòng sửa 3 lỗi" in summary
    file_error = page.get_by_test_id("loi-TaiLieuDinhKem").inner_text()
    assert file_error.startswith("“anh.png”: nội dung không phải là tệp PNG")
    assert "Vui lòng chọn lại tệp." in file_error
    documents = page.get_by_label(DOCUMENTS)
    assert documents.get_attribute("aria-invalid") == "true"
    assert documents.evaluate("input => input.files.length") == 0  # a browser keeps no file
    content_error = page.get_by_test_id("loi-NoiDungPAKN").inner_text()
    assert content_error.startswith("Vui lòng nhập nội dung phản ánh, kiến nghị")
    assert "thư điện tử không hợp lệ" in page.get_by_test_id("loi-Email").inner_text()
    content = page.get_by_label("Nội dung phản ánh, kiến nghị")
    assert content.get_attribute("aria-invalid") == "true"
    assert "loi-NoiDungPAKN" in (content.get_attribute("aria-describedby") or "")
    # what the person typed is still there
    assert page.get_by_label("Tiêu đề").input_value() == TITLE
    assert page.get_by_label("Họ và tên").input_value() == SENDER
    assert page.get_by_label("Thư điện tử").input_value() == "an@@example"
    assert page.get_by_label("Đơn vị tiếp nhận").input_value() == UNIT
    assert page.get_by_test_id("loi-TieuDe").count() == 0
    _screenshot(page, request, "pakn-errors")

    page.get_by_label("Nội dung phản ánh, kiến nghị").fill(TEXT)
    page.get_by_label("Thư điện tử").fill("an@example.vn")
    documents.set_input_files([_file("anh.pdf", PDF)])
    with page.expect_navigation() as navigation:
        _submit_button(page).click()
    assert navigation.value.status == 200
    pakn_id = page.get_by_test_id("ma-so").inner_text()
    assert re.fullmatch(r"PAKN-\d{6}", pakn_id)
    assert page.get_by_test_id("so-tai-lieu").inner_text() == "1 tệp"
    assert [item["TenTep"] for item in _documents(running, pakn_id)] == ["anh.pdf"]


def test_a_citizen_asks_a_question_and_reads_the_qa(
    running: RunningHub,
    page: Any,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    page.goto(running.base + "/")
    with page.expect_navigation():
        page.locator("nav").get_by_role("link", name="Hỏi đáp").click()
    assert page.url.endswith("/hoi-dap")
    items = page.get_by_test_id("danh-sach-hoi-dap").locator(":scope > li")
    assert items.count() >= 4  # the bundled ministry sets
    assert "Con sinh ra ở nước ngoài" in page.locator("main").inner_text()
    _screenshot(page, request, "hoidap-list")

    page.get_by_label("Tìm kiếm trong câu hỏi và câu trả lời").fill("KẾT HÔN")
    with page.expect_navigation():
        page.get_by_role("button", name="Tìm kiếm").click()
    assert items.count() == 1 and "kết hôn" in items.first.inner_text()

    with page.expect_navigation():
        page.get_by_role("link", name="Gửi câu hỏi").click()
    page.get_by_label("Đơn vị trả lời").select_option(UNIT)
    page.get_by_label("Nội dung câu hỏi").fill("Làm căn cước cho trẻ dưới 6 tuổi ở đâu?")
    page.get_by_label("Họ và tên").fill("Trần Thị Bích")
    page.get_by_label("Thư điện tử").fill("bich@example.vn")
    _screenshot(page, request, "hoidap-form")
    with page.expect_navigation() as navigation:
        _submit_button(page).click()
    assert navigation.value.status == 200
    hoidap_id = page.get_by_test_id("ma-so").inner_text()
    assert int(hoidap_id) > 1_000_000_000
    assert page.get_by_test_id("trang-thai").inner_text() == "Chờ trả lời"
    _screenshot(page, request, "hoidap-sent")

    answer = running.call(
        {
            "session": running.login(),
            "madonvi": UNIT,
            "service": "DongBoKetQuaHoiDapGuiTuDVCQG",
            "data": [
                {
                    "HOIDAPID": hoidap_id,
                    "NOIDUNGTRALOI": "Tại Công an cấp xã nơi trẻ cư trú.",
                    "NGAYTRALOI": "20260312100000",
                }
            ],
        }
    ).json()
    assert answer["error_code"] == "0", answer
    page.goto(running.base + "/hoi-dap?nguon=cong-dan")
    item = page.get_by_test_id(f"hoi-dap-{hoidap_id}")
    assert item.get_by_test_id("nguoi-hoi").inner_text() == "Trần T*** B*"
    assert item.get_by_test_id("tra-loi").inner_text() == "Tại Công an cấp xã nơi trẻ cư trú."
    assert "Trần Thị Bích" not in page.content() and "bich@example.vn" not in page.content()
    assert items.count() == 1  # only citizens' questions
    _screenshot(page, request, "hoidap-answered")
