"""The forms' tokens over HTTP, against a real hub (SQLite and PostgreSQL): a token the hub did
not issue, an old one, a spent one are refused; two hubs on one database take a token once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import Engine, func, select

from lienthong.hub.app import Hub
from lienthong.hub.csrf import MAX_AGE_SECONDS, FormTokens
from lienthong.hub.settings import HubSettings
from lienthong.store.tables import FormNonce, MessageLog, Petition
from tests.hub.conftest import FORM_TOKEN, RunningHub, form_token, free_port, serve
from tests.hub.test_web_citizen_http import _petition

COOKIE = "lienthong_csrf"
REFUSED = "Phiên gửi biểu mẫu không hợp lệ hoặc đã hết hạn. Vui lòng nhập lại và gửi."


def _send(
    running: RunningHub, token: str, cookie: str | None = None, **fields: str
) -> httpx.Response:
    """The petition form posted by a browser whose cookie holds ``cookie`` (default: ``token``)
    and whose field holds ``token``."""
    jar = {COOKIE: cookie if cookie is not None else token}
    with httpx.Client(base_url=running.base, timeout=30, cookies=jar) as browser:
        return browser.post(
            "/pakn/gui",
            data={**_petition(**fields), "csrf": token},
            headers={"Origin": running.base},
        )


def _page_token(page: httpx.Response) -> str:
    found = FORM_TOKEN.search(page.text)
    assert found is not None, page.text[:300]
    return found.group(1)


def _count(running: RunningHub, table: type[Petition] | type[FormNonce]) -> int:
    with running.hub.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(table)) or 0)


def _last_code(running: RunningHub) -> str | None:
    with running.hub.sessions() as db:
        row = db.scalars(select(MessageLog).order_by(MessageLog.id.desc()).limit(1)).one()
        return row.error_code


def _assert_refused(running: RunningHub, answer: httpx.Response) -> None:
    assert answer.status_code == 403, answer.text[:300]
    assert REFUSED in answer.text  # in the page's one language
    assert "The form session is invalid or has expired." not in answer.text
    assert _last_code(running) == "csrf"


def test_a_resent_form_is_refused_and_a_fresh_one_taken(running: RunningHub) -> None:
    with httpx.Client(base_url=running.base, timeout=30) as browser:
        token = form_token(browser)
    sent = _send(running, token)
    assert sent.status_code == 200 and "Đã gửi thành công" in sent.text
    assert sent.cookies[COOKIE] != token  # the next form's token

    again = _send(running, token)  # the same cookie and the same field, sent again
    _assert_refused(running, again)
    assert _count(running, Petition) == 1

    fresh = _page_token(again)  # the refusal's form carries a new token, and it is taken
    assert fresh != token and again.cookies[COOKIE] == fresh
    assert _send(running, fresh).status_code == 200
    assert _count(running, Petition) == 2


def _issued_long_ago(hub: Hub) -> str:
    return hub.form_tokens.issue(
        dt.datetime.now(dt.UTC) - dt.timedelta(seconds=MAX_AGE_SECONDS + 5)
    )


def _tampered(hub: Hub) -> str:
    version, issued, nonce, mac = hub.form_tokens.issue().split(".")
    return f"{version}.{int(issued) + 3600}.{nonce}.{mac}"  # an hour more of life


FORGERIES: dict[str, Callable[[Hub], str]] = {
    "any 43 characters": lambda hub: "A" * 43,
    "a token of the old shape": lambda hub: "q3Jd9_VfXo-2LwTt8kRzN0aHcYpE5mUsBvGiQ7lW4xC",
    "signed with another key": lambda hub: FormTokens(hub.sessions, b"x" * 32).issue(),
    "expired": _issued_long_ago,
    "tampered": _tampered,
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_token_the_hub_does_not_take_is_refused(running: RunningHub, forgery: str) -> None:
    forged = FORGERIES[forgery](running.hub)
    refused = _send(running, forged)  # the same value in the cookie and the field
    _assert_refused(running, refused)
    assert _count(running, Petition) == 0 and _count(running, FormNonce) == 0
    assert _send(running, _page_token(refused)).status_code == 200  # a fresh form works


def test_a_form_sent_back_carries_a_new_token(running: RunningHub) -> None:
    with httpx.Client(base_url=running.base, timeout=30) as browser:
        token = form_token(browser)
    corrected = _send(running, token, TieuDe="")
    assert corrected.status_code == 422
    fresh = _page_token(corrected)
    assert fresh != token and corrected.cookies[COOKIE] == fresh
    _assert_refused(running, _send(running, token))  # the first post spent it
    assert _send(running, fresh).status_code == 200


def test_a_second_tab_keeps_the_first_ones_token(running: RunningHub) -> None:
    with httpx.Client(base_url=running.base, timeout=30) as browser:
        first = form_token(browser)
        assert form_token(browser) == first  # a second tab: the first one's form still goes
        assert form_token(browser, "/hoi-dap/gui") == first
        sent = browser.post(
            "/pakn/gui", data={**_petition(), "csrf": first}, headers={"Origin": running.base}
        )
        assert sent.status_code == 200
        assert form_token(browser) not in (first, "")


def _race(hubs: tuple[RunningHub, ...], token: str) -> list[int]:
    """The statuses of the same form posted at once to each of ``hubs``."""
    start = threading.Barrier(len(hubs))
    statuses: list[int] = []

    def post(to: RunningHub) -> None:
        start.wait()
        statuses.append(_send(to, token).status_code)

    threads = [threading.Thread(target=post, args=(hub,)) for hub in hubs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_two_hubs_on_one_database_take_a_token_once(engine: Engine) -> None:
    """Two hubs on one database, as two uvicorn workers are, each with the generated key."""
    settings = [HubSettings(port=free_port()) for _ in range(2)]
    hubs = [Hub(each, engine=engine) for each in settings]
    with serve(hubs[0], settings[0]) as first, serve(hubs[1], settings[1]) as second:
        with httpx.Client(base_url=first.base, timeout=30) as browser:
            token = form_token(browser)
        assert _send(second, token).status_code == 200  # one key for both

        for _ in range(3):
            with httpx.Client(base_url=second.base, timeout=30) as browser:
                token = form_token(browser)
            statuses = _race((first, second, first, second), token)
            assert sorted(statuses) == [200, 403, 403, 403]
        assert _count(first, Petition) == 4
