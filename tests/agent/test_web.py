"""The agent's status page in a real browser (Playwright driving Debian's Chromium, as in
``tests/hub/test_web.py``): a running agent delivering to a running hub, read as a person would.
One screenshot goes to ``test-output/screenshots/``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lienthong.agent import Client
from tests.agent.conftest import API_KEY, UNIT, Pair, demo_dossiers
from tests.hub.test_web import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, _unavailable


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    import os

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


def test_status_page_shows_queues_dead_letters_and_session(
    start_pair: Callable[..., Pair], browser: Any, request: pytest.FixtureRequest
) -> None:
    pair = start_pair()
    records = demo_dossiers(3)
    foreign = {**records[2], "MaHoSo": records[2]["MaHoSo"].replace("H56", "H60")}
    with Client(pair.agent_url, API_KEY) as agent:
        agent.submit("DongBoHoSoMC", records[:2], madonvi=UNIT, isUpdating="False")
        agent.submit("DongBoHoSoMC", [foreign], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()

    context = browser.new_context(locale="vi-VN", viewport={"width": 1100, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{pair.agent_url}/trang-thai")
        assert page.locator("html").get_attribute("lang") == "vi"
        assert page.locator("h1").inner_text().startswith("Trạng thái tác tử")
        refresh = page.locator('meta[http-equiv="refresh"]').get_attribute("content")
        assert refresh is not None and int(refresh) > 0

        def card(name: str) -> str:
            return str(page.locator(f'[data-testid="{name}"] .value').inner_text()).strip()

        assert (card("queue-depth"), card("delivered"), card("dead-letters")) == ("0", "2", "1")
        row = page.locator('#queues tr[data-service="DongBoHoSoMC"] td')
        assert [cell.strip() for cell in row.all_inner_texts()][:4] == [
            "DongBoHoSoMC",
            "0",
            "2",
            "1",
        ]

        dead = page.locator("#dead-letters tbody tr")
        assert dead.count() == 1
        text = dead.first.inner_text()
        assert foreign["MaHoSo"] in text
        assert re.search(r"\b30\b", dead.first.locator("td.reason").inner_text())
        assert "Đã đăng nhập" in page.locator("#session").inner_text()
        assert "DongBoHoSoMC" in page.locator("#last").inner_text()

        # operational data only: no name, phone or e-mail of an applicant
        body = page.locator("body").inner_text()
        for record in records:
            assert record["ChuHoSo"] not in body and record["SoDienThoai"] not in body

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
        path = SCREENSHOTS / f"agent-{name}-status.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
    finally:
        context.close()
