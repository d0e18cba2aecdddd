"""The hub's public pages in a real browser: Playwright driving Debian's Chromium.

A real hub (``running``: uvicorn over HTTP, SQLite and PostgreSQL) receives dossiers and progress
steps through the wire protocol; the tests then read the pages as a person would and save one
screenshot per page under ``test-output/screenshots/``. Chromium is ``/usr/bin/chromium``
(``make browser`` installs it); Playwright never downloads a browser here. Without a browser
the tests are skipped locally and fail on CI (``CI=true``).
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lienthong.demo import dossiers
from lienthong.hub.web import LATE, OVERDUE, deadline_mark, mask_name
from lienthong.spec.dates import VIETNAM, format_wire_date
from tests.hub.conftest import UNIT, RunningHub

#: Debian's Chromium; ``LIENTHONG_TEST_CHROMIUM`` points elsewhere (used to test the CI rule).
CHROMIUM = os.environ.get("LIENTHONG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

OWNER = "Nguyễn Văn An"
UNKNOWN = "000.00.13.H56-260302-0999"


# -- browser ----------------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests need Chromium on CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - dev extras not installed
        _unavailable(f"playwright is not installed ({exc}); run `make test`")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing; `make browser` installs Debian's chromium")
    manager = sync_playwright().start()
    try:
        launched = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        manager.stop()
        _unavailable(f"Chromium could not be launched: {exc}")
    yield launched
    launched.close()
    manager.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="vi-VN", viewport={"width": 1000, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def _screenshot(page: Any, request: pytest.FixtureRequest, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    path = SCREENSHOTS / f"{test}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


# -- data pushed through the wire protocol ----------------------------------------------------


def _wire(moment: dt.datetime) -> str:
    return format_wire_date(moment)


def _open_dossier(sequence: int, due: str) -> dict[str, Any]:
    record = copy.deepcopy(dossiers(sequence)[sequence - 1])
    record.update(
        ChuHoSo=OWNER,
        TrichYeuHoSo=f"{record['TenTTHC']} - {OWNER}",
        TrangThaiHoSo="2",
        NgayHenTra=due,
        NgayTra="",
        NgayKetThucXuLy="",
    )
    return record


def _step(code: str, when: str, status: str, department: str, content: str) -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "NguoiXuLy": "Lê Thị Bình",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": when,
        "PhongBanXuLy": department,
        "NoiDungXuLy": content,
        "TrangThai": status,
        "NgayBatDau": "20260302080000",
        "NgayKetThucTheoQuyDinh": "20260305170000",
    }


@pytest.fixture
def pushed(running: RunningHub) -> dict[str, str]:
    """Two dossiers of Thanh Hóa: one on time with two steps, one overdue."""
    session = running.login()
    future = dt.datetime.now(VIETNAM).replace(microsecond=0) + dt.timedelta(days=30)
    on_time = _open_dossier(1, _wire(future))
    overdue = _open_dossier(2, "20260305073500")
    late = _open_dossier(3, "20260317074200")  # result returned a day after its due date
    late.update(TrangThaiHoSo="10", NgayTra="20260318090000", NgayKetThucXuLy="20260318083000")
    answer = running.call(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [on_time, overdue, late],
        }
    ).json()
    assert answer["error_code"] == "0", answer
    code = on_time["MaHoSo"]
    steps = [  # newest first on the wire: the page must still show the oldest first
        _step(code, "20260303090000", "4", "Phòng Tư pháp", "Thẩm định hồ sơ"),
        _step(code, "20260302080000", "2", "Bộ phận một cửa", "Tiếp nhận hồ sơ"),
    ]
    progress = running.call(
        {"session": session, "madonvi": UNIT, "service": "CapNhatTienDoHoSoMC", "data": steps}
    ).json()
    assert progress["error_code"] == "0", progress
    return {
        "on_time": code,
        "overdue": overdue["MaHoSo"],
        "late": late["MaHoSo"],
        "due": future.strftime("%d/%m/%Y %H:%M"),
        "received": dt.datetime.strptime(on_time["NgayTiepNhan"], "%Y%m%d%H%M%S").strftime(
            "%d/%m/%Y %H:%M"
        ),
    }


# -- in the browser -----------------------------------------------------------------------------


def test_searching_from_the_home_page_shows_status_and_timeline(
    running: RunningHub, pushed: dict[str, str], page: Any, request: pytest.FixtureRequest
) -> None:
    response = page.goto(running.base + "/")
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "vi"
    assert page.get_by_role("heading", level=1).inner_text().startswith("Tra cứu tình trạng hồ sơ")
    _screenshot(page, request, "home")

    page.get_by_label("Mã hồ sơ").fill(pushed["on_time"])
    with page.expect_navigation():
        page.get_by_role("button", name="Tra cứu").click()
    assert "/tra-cuu?mahoso=" in page.url
    text = page.locator("main").inner_text()

    assert page.get_by_test_id("trang-thai").inner_text() == "Đang xử lý"  # the latest step
    assert page.get_by_test_id("thu-tuc").inner_text().startswith("Cấp bản sao trích lục hộ tịch")
    assert page.get_by_test_id("chu-ho-so").inner_text() == "Nguyễn V*** A*"
    assert OWNER not in page.content()  # neither in the text nor anywhere in the page
    assert page.get_by_test_id("ngay-tiep-nhan").inner_text() == pushed["received"]
    assert page.get_by_test_id("ngay-hen-tra").inner_text() == pushed["due"]
    assert page.get_by_test_id("qua-han").count() == 0 and "Quá hạn" not in text

    entries = page.get_by_test_id("qua-trinh-xu-ly").locator("li").all_inner_texts()
    assert len(entries) == 2
    assert "02/03/2026 08:00" in entries[0] and "Tiếp nhận hồ sơ" in entries[0]
    assert "Bộ phận một cửa" in entries[0] and "Được tiếp nhận" in entries[0]
    assert "03/03/2026 09:00" in entries[1] and "Thẩm định hồ sơ" in entries[1]
    assert "Phòng Tư pháp" in entries[1] and "Lê Thị Bình" in entries[1]
    assert "Đang xử lý" in entries[1]
    _screenshot(page, request, "lookup")


def test_an_overdue_dossier_is_marked(
    running: RunningHub, pushed: dict[str, str], page: Any, request: pytest.FixtureRequest
) -> None:
    response = page.goto(f"{running.base}/tra-cuu?mahoso={pushed['overdue']}")
    assert response.status == 200
    badge = page.get_by_test_id("qua-han")
    assert badge.is_visible() and badge.inner_text() == "Quá hạn"  # in one language only
    assert page.get_by_test_id("trang-thai").inner_text() == "Được tiếp nhận"
    assert page.get_by_test_id("ngay-hen-tra").inner_text().startswith("05/03/2026 07:35")
    assert "Chưa có bước xử lý nào" in page.locator("main").inner_text()
    _screenshot(page, request, "overdue")

    page.goto(f"{running.base}/tra-cuu?mahoso={pushed['late']}")
    assert page.get_by_test_id("trang-thai").inner_text() == "Đã trả kết quả"
    assert page.get_by_test_id("ngay-tra").inner_text() == "18/03/2026 09:00"
    # finished after its due date: late (trễ hạn), not overdue (quá hạn: still open)
    late = page.get_by_test_id("tre-han")
    assert late.is_visible() and late.inner_text().startswith("Trễ hạn")
    assert page.get_by_test_id("qua-han").count() == 0
    _screenshot(page, request, "returned-late")


def test_unknown_and_malformed_codes_say_so(
    running: RunningHub, page: Any, request: pytest.FixtureRequest
) -> None:
    response = page.goto(f"{running.base}/tra-cuu?mahoso={UNKNOWN}")
    assert response.status == 404
    alert = page.get_by_role("alert")
    assert "Không tìm thấy hồ sơ" in alert.inner_text() and UNKNOWN in alert.inner_text()
    assert page.get_by_label("Mã hồ sơ").input_value() == UNKNOWN  # kept for correcting
    _screenshot(page, request, "not-found")

    page.get_by_label("Mã hồ sơ").fill("abc<b>123")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Tra cứu").click()
    assert navigation.value.status == 400
    alert = page.get_by_role("alert")
    assert "Mã hồ sơ không hợp lệ" in alert.inner_text()
    assert "ví dụ 000.00.13.H56-260302-0001" in alert.inner_text()
    assert "abc<b>123" in alert.inner_text()  # shown as text, not markup
    assert page.locator("main b").count() == 0
    _screenshot(page, request, "invalid")


def test_the_language_switch_and_the_status_page(
    running: RunningHub, browser: Any, request: pytest.FixtureRequest
) -> None:
    # a phone's screen: the portal must read without sideways scrolling
    context = browser.new_context(locale="vi-VN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(running.base + "/")
        assert page.locator("html").get_attribute("lang") == "vi"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        with page.expect_navigation():
            page.get_by_test_id("doi-ngon-ngu").click()
        assert page.locator("html").get_attribute("lang") == "en"
        heading = page.get_by_role("heading", level=1).inner_text()
        assert heading == "Check the status of your dossier"
        nav = page.get_by_role("navigation", name="Main navigation").inner_text()
        assert "Dossier lookup" in nav and "Tra cứu" not in nav
        _screenshot(page, request, "home-en")

        # the choice follows the citizen from page to page (the cookie)
        with page.expect_navigation():
            page.get_by_role("link", name="Ask a question").click()
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_label("Your question").count() == 1
        assert page.get_by_role("button", name="Send").is_visible()

        with page.expect_navigation():
            page.get_by_role("link", name="System status").click()
        assert page.url.endswith("/tinh-trang")
        assert page.get_by_role("heading", level=1).inner_text() == "System status"
        assert page.get_by_test_id("co-so-du-lieu").inner_text() == "Working"
        _screenshot(page, request, "status-en")

        with page.expect_navigation():
            page.get_by_test_id("doi-ngon-ngu").click()  # back to Vietnamese
        assert page.locator("html").get_attribute("lang") == "vi"
        assert page.get_by_role("heading", level=1).inner_text() == "Tình trạng hệ thống"
        assert page.get_by_test_id("co-so-du-lieu").inner_text() == "Hoạt động"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        _screenshot(page, request, "status")
        with page.expect_navigation():
            page.get_by_role("link", name="Hỏi đáp").first.click()
        assert page.locator("html").get_attribute("lang") == "vi"
    finally:
        context.close()


# -- over plain HTTP ----------------------------------------------------------------------------


def test_pages_over_http(running: RunningHub) -> None:
    home = running.client.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert "script-src" not in home.headers["content-security-policy"]  # no JavaScript at all
    assert "<script" not in home.text and '<html lang="vi">' in home.text
    assert '<a href="/tinh-trang">Tình trạng hệ thống</a>' in home.text
    empty = running.client.get("/tra-cuu")
    assert empty.status_code == 200 and 'name="mahoso"' in empty.text
    hostile = running.client.get("/tra-cuu", params={"mahoso": '"><script>alert(1)</script>'})
    assert hostile.status_code == 400
    assert "<script>" not in hostile.text and "&lt;script&gt;" in hostile.text
    assert running.client.get("/tra-cuu", params={"mahoso": UNKNOWN}).status_code == 404


# -- the rules behind the page ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("Nguyễn Văn An", "Nguyễn V*** A*"),
        ("Trần Thị Thu Hà", "Trần T*** T*** H*"),
        ("Lê  Minh", "Lê M*"),
        ("Cher", "C***"),
        ("", ""),
    ],
)
def test_owner_names_are_masked(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_overdue_and_late_rules() -> None:
    due = dt.datetime(2026, 3, 5, 0, 35, tzinfo=dt.UTC)
    before, after = due - dt.timedelta(hours=1), due + dt.timedelta(hours=1)
    assert deadline_mark("4", due, None, after) == OVERDUE
    assert deadline_mark("4", due, None, before) is None
    assert deadline_mark("10", due, after, after) == LATE  # trễ hạn, never quá hạn
    assert deadline_mark("10", due, before, after) is None
    assert deadline_mark("9", due, None, after) is None  # finished, time unknown: on time
    assert deadline_mark("3", due, None, after) is None
    assert deadline_mark("7", due, None, after) is None
    assert deadline_mark("4", None, None, after) is None
