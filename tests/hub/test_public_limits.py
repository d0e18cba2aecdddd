"""The limit on citizens' public submissions per client address (``lienthong.hub.limits``).

Over real HTTP (uvicorn, SQLite and PostgreSQL) with a limit of 2 a window: the third
submission of a client, through the API or a form, is refused (HTTP 429, code 43 or the
Vietnamese message) and nothing is stored; another client address is not affected; once the
counted attempts leave the window, the client may send again. The counting itself runs
concurrently against the database, as several uvicorn workers would.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.hub.app import Hub
from lienthong.hub.limits import PURGE_BATCH, admit, admit_lookup, admit_submission, client_key
from lienthong.hub.settings import HubSettings
from lienthong.store.tables import MessageLog, Petition, PublicSubmission, Question
from tests.hub.conftest import FORM_TOKEN, UNIT, RunningHub, form_token, free_port, serve

PAKN_API = "/api/cong-dan/pakn"
QA_API = "/api/cong-dan/hoi-dap"
WINDOW = 3600
TITLE = "Đèn đường ngõ 5 không sáng"
NAME = "Lê Văn Bình"


def _petition(**extra: Any) -> dict[str, Any]:
    return {
        "TieuDe": TITLE,
        "NoiDungPAKN": "Đèn đường ở ngõ 5 tắt cả tuần nay.",
        "Ten": NAME,
        "SoDienThoai": "0912345678",
        "MaDonViXuLy": UNIT,
        **extra,
    }


def _question() -> dict[str, Any]:
    return {
        "NOIDUNG": "Đăng ký tạm trú cần giấy tờ gì?",
        "HOVATEN": NAME,
        "THUDIENTU": "binh.le@example.vn",
        "MADONVI": UNIT,
    }


@pytest.fixture
def limited(engine: Engine) -> Iterator[RunningHub]:
    """A hub that takes 2 submissions per client address an hour."""
    settings = HubSettings(
        port=free_port(), public_submissions_per_client=2, public_window_seconds=WINDOW
    )
    with serve(Hub(settings, engine=engine), settings) as running:
        yield running


def _client_from(running: RunningHub, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z reaches the hub)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=running.base, timeout=30, transport=transport)


def _count(running: RunningHub, table: Any) -> int:
    with running.hub.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(table)) or 0)


def _last_log(running: RunningHub) -> MessageLog:
    with running.hub.sessions() as db:
        row = db.scalars(select(MessageLog).order_by(MessageLog.id.desc()).limit(1)).one()
    return row


def _leave_the_window(running: RunningHub) -> None:
    """Every counted attempt as if made a window and a second ago."""
    with running.hub.sessions() as db:
        for row in db.scalars(select(PublicSubmission)):
            row.at -= dt.timedelta(seconds=WINDOW + 1)
        db.commit()


# -- the API ------------------------------------------------------------------------------------


def test_the_api_refuses_the_third_submission_of_a_client(limited: RunningHub) -> None:
    questions = _count(limited, Question)  # the bundled ministries' Q&A sets
    assert limited.client.post(PAKN_API, json=_petition()).status_code == 200
    assert limited.client.post(QA_API, json=_question()).status_code == 200  # one shared limit

    refused = limited.client.post(PAKN_API, json=_petition())
    assert refused.status_code == 429
    answer = refused.json()
    assert answer["error_code"] == "43" and answer["retryable"] is True
    assert answer["message"].startswith("Gửi quá nhiều phản ánh, kiến nghị hoặc câu hỏi")
    assert "thử lại sau" in answer["message"] and "try again in" in answer["message_en"]
    wait = int(refused.headers["retry-after"])
    assert WINDOW - 60 < wait <= WINDOW
    assert f"{wait} giây" in answer["message"]
    assert refused.headers["cache-control"] == "no-store"
    # a bad body learns nothing more: the limit comes before the checks of the fields
    probe = limited.client.post(QA_API, json={"NOIDUNG": 5})
    assert probe.status_code == 429 and probe.json()["error_code"] == "43"

    assert (_count(limited, Petition), _count(limited, Question)) == (1, questions + 1)
    assert _count(limited, PublicSubmission) == 2  # refusals are not counted
    row = _last_log(limited)
    assert (row.endpoint, row.service, row.http_status, row.error_code) == (
        "public",
        f"public:{QA_API}",
        429,
        "43",
    )
    assert (row.records, row.accepted, row.rejected, row.client) == (1, 0, 1, "127.0.0.1")

    with _client_from(limited, "127.0.0.2") as other:  # another address has its own count
        sent = other.post(PAKN_API, json=_petition())
        assert sent.status_code == 200, sent.text
    assert _last_log(limited).client == "127.0.0.2"
    assert _count(limited, Petition) == 2


def test_failed_submissions_count_too(limited: RunningHub) -> None:
    for _ in range(2):
        bad = limited.client.post(PAKN_API, json=_petition(TieuDe=""))
        assert bad.status_code == 422 and bad.json()["error_code"] == "15"
    refused = limited.client.post(PAKN_API, json=_petition())
    assert refused.status_code == 429 and refused.json()["error_code"] == "43"
    assert _count(limited, Petition) == 0
    # requests refused before their fields are read are not submissions: not counted
    with _client_from(limited, "127.0.0.3") as other:
        for _ in range(3):
            broken = other.post(PAKN_API, content=b"{", headers={"content-type": "text/json"})
            assert broken.json()["error_code"] == "10"
            assert other.post(PAKN_API, content=b"{}").json()["error_code"] == "11"
            assert other.post(PAKN_API, json=[1]).json()["error_code"] == "12"
        assert other.post(PAKN_API, json=_petition()).status_code == 200


def test_the_client_may_send_again_once_the_window_passed(limited: RunningHub) -> None:
    for _ in range(2):
        assert limited.client.post(PAKN_API, json=_petition()).status_code == 200
    assert limited.client.post(PAKN_API, json=_petition()).status_code == 429
    _leave_the_window(limited)
    assert limited.client.post(PAKN_API, json=_petition()).status_code == 200
    assert limited.client.post(PAKN_API, json=_petition()).status_code == 200
    assert limited.client.post(PAKN_API, json=_petition()).status_code == 429
    assert _count(limited, Petition) == 4
    assert _count(limited, PublicSubmission) == 2  # the expired attempts were purged


# -- the forms ----------------------------------------------------------------------------------


def test_a_form_over_the_limit_says_so_in_vietnamese_and_keeps_the_values(
    limited: RunningHub,
) -> None:
    with httpx.Client(base_url=limited.base, timeout=30) as browser:
        origin = {"Origin": limited.base}
        # cross-site posts and bad tokens are refused before they are counted
        for _ in range(3):
            forged = browser.post("/pakn/gui", data={**_petition(), "csrf": "A" * 43})
            assert forged.status_code == 403
        for path, fields in (("/pakn/gui", _petition()), ("/hoi-dap/gui", _question())):
            sent = browser.post(
                path, data={**fields, "csrf": form_token(browser, path)}, headers=origin
            )
            assert sent.status_code == 200, sent.text

        token = form_token(browser)
        refused = browser.post("/pakn/gui", data={**_petition(), "csrf": token}, headers=origin)
        assert refused.status_code == 429
        assert "Bạn đã gửi quá nhiều phản ánh, kiến nghị hoặc câu hỏi trong 60 phút qua" in (
            refused.text
        )
        assert "Vui lòng thử lại sau 60 phút." in refused.text
        assert int(refused.headers["retry-after"]) > WINDOW - 60
        assert f'value="{TITLE}"' in refused.text and f'value="{NAME}"' in refused.text
        assert f'<option value="{UNIT}" selected>' in refused.text
        # the token was spent on the refused attempt: the page carries a new one to send later
        fresh = FORM_TOKEN.search(refused.text)
        assert fresh is not None and fresh.group(1) != token
        assert _count(limited, Petition) == 1

        row = _last_log(limited)
        assert (row.service, row.http_status, row.error_code, row.unit) == (
            "web:/pakn/gui",
            429,
            "43",
            UNIT,
        )
        assert (row.records, row.accepted, row.rejected) == (1, 0, 1)

        _leave_the_window(limited)
        later = browser.post(
            "/pakn/gui", data={**_petition(), "csrf": fresh.group(1)}, headers=origin
        )
        assert later.status_code == 200 and "Đã gửi thành công" in later.text
        assert _count(limited, Petition) == 2


# -- the counting -------------------------------------------------------------------------------


def test_concurrent_attempts_never_pass_the_limit(sessions: sessionmaker[Session]) -> None:
    """As uvicorn workers would: many attempts of one client at once, 3 admitted."""
    settings = HubSettings(public_submissions_per_client=3, public_window_seconds=60)
    now = dt.datetime.now(dt.UTC)
    waits: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        try:
            barrier.wait()
            with sessions() as db:
                waits.append(admit_submission(db, settings, "198.51.100.7", now))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(waits) == [0, 0, 0, 60, 60, 60, 60, 60]
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(PublicSubmission)) == 3


def test_the_wait_is_until_the_limit_th_newest_attempt_leaves(
    sessions: sessionmaker[Session],
) -> None:
    settings = HubSettings(public_submissions_per_client=2, public_window_seconds=600)

    def at(minutes: int) -> dt.datetime:
        return dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)

    with sessions() as db:
        assert admit_submission(db, settings, "a", at(0)) == 0
        assert admit_submission(db, settings, "a", at(4)) == 0
        assert admit_submission(db, settings, "b", at(4)) == 0
        assert admit_submission(db, settings, "a", at(5)) == 300  # 8:00 leaves at 8:10
        assert admit_submission(db, settings, "a", at(10)) == 0  # 8:00 left (and is purged)
        assert admit_submission(db, settings, "a", at(13)) == 60  # 8:04 leaves at 8:14
        kept = db.scalars(select(PublicSubmission.at).order_by(PublicSubmission.id)).all()
        assert kept == [at(4), at(4), at(10)]
        assert admit_submission(db, settings, "a", at(14)) == 0  # at the edge: out
        clients = db.scalars(select(PublicSubmission.client).order_by(PublicSubmission.id)).all()
        assert clients == ["a", "a"]  # 8:10 and 8:14; both 8:04 rows purged

    off = HubSettings(public_submissions_per_client=0)  # no limit
    with sessions() as db:
        assert all(admit_submission(db, off, "a", at(14)) == 0 for _ in range(5))
        assert db.scalar(select(func.count()).select_from(PublicSubmission)) == 2


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("?", "?"),
        ("x" * 100, "x" * 64),
    ],
)
def test_client_keys(host: str, key: str) -> None:
    assert client_key(host) == key


# -- lookups ------------------------------------------------------------------------------------

LOOKUP_WINDOW = 60
DOSSIER = "/tra-cuu?mahoso=000.00.13.H56-260302-0001"  # well-formed, not on the hub


@pytest.fixture
def lookups_limited(engine: Engine) -> Iterator[RunningHub]:
    """A hub that takes 2 lookups per client address a minute."""
    settings = HubSettings(
        port=free_port(), public_lookups_per_client=2, public_lookup_window_seconds=LOOKUP_WINDOW
    )
    with serve(Hub(settings, engine=engine), settings) as running:
        yield running


def _lookups(running: RunningHub) -> int:
    with running.hub.sessions() as db:
        query = select(func.count()).where(PublicSubmission.kind == "lookup")
        return int(db.scalar(query) or 0)


def test_the_third_lookup_of_a_client_is_refused(lookups_limited: RunningHub) -> None:
    client = lookups_limited.client
    # the home page, the empty lookup form and a malformed code read no data: not counted
    for path in ("/", "/tra-cuu", "/tra-cuu?mahoso=x", "/pakn/gui", "/healthz"):
        assert client.get(path).status_code in (200, 400), path
    assert _lookups(lookups_limited) == 0
    assert client.get(DOSSIER).status_code == 404
    assert client.get("/pakn").status_code == 200  # one count for every kind of lookup

    refused = client.get(DOSSIER)
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= LOOKUP_WINDOW
    assert f"Bạn đã tra cứu quá nhiều lần trong {LOOKUP_WINDOW} giây qua." in refused.text
    assert f"Vui lòng thử lại sau {wait} giây." in refused.text
    assert "try again in" not in refused.text  # one language at a time
    assert refused.headers["cache-control"] == "no-store"
    assert "Không tìm thấy hồ sơ" not in refused.text  # nothing was looked up
    row = _last_log(lookups_limited)
    assert (row.endpoint, row.service, row.http_status, row.error_code, row.client) == (
        "web",
        "web:/tra-cuu",
        429,
        "44",
        "127.0.0.1",
    )
    for path in ("/pakn?tukhoa=den", "/hoi-dap?nguon=bo-nganh"):
        listed = client.get(path)
        assert listed.status_code == 429 and listed.headers["retry-after"], path
        assert _last_log(lookups_limited).error_code == "44"
    english = client.get("/hoi-dap", params={"lang": "en"})
    assert english.status_code == 429 and "Please try again in" in english.text
    assert "Vui lòng thử lại" not in english.text
    client.cookies.clear()  # back to Vietnamese
    assert client.get("/").status_code == 200  # the home page is never limited
    assert _lookups(lookups_limited) == 2  # refusals are not counted

    with _client_from(lookups_limited, "127.0.0.2") as other:  # another address: its own count
        assert other.get(DOSSIER).status_code == 404
        assert other.get("/hoi-dap").status_code == 200
    # submissions have their own limit, untouched by lookups
    assert client.post(PAKN_API, json=_petition()).status_code == 200


def test_a_lookup_may_come_again_once_the_window_passed(lookups_limited: RunningHub) -> None:
    for _ in range(2):
        assert lookups_limited.client.get("/hoi-dap").status_code == 200
    assert lookups_limited.client.get("/hoi-dap").status_code == 429
    with lookups_limited.hub.sessions() as db:
        for row in db.scalars(select(PublicSubmission)):
            row.at -= dt.timedelta(seconds=LOOKUP_WINDOW + 1)
        db.commit()
    assert lookups_limited.client.get("/hoi-dap").status_code == 200
    assert _lookups(lookups_limited) == 1  # the expired ones were purged


def test_each_kind_has_its_own_count_and_window(sessions: sessionmaker[Session]) -> None:
    settings = HubSettings(
        public_submissions_per_client=1,
        public_window_seconds=3600,
        public_lookups_per_client=1,
        public_lookup_window_seconds=60,
    )
    now = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    later = now + dt.timedelta(minutes=5)
    with sessions() as db:
        assert admit_submission(db, settings, "a", now) == 0
        assert admit_lookup(db, settings, "a", now) == 0  # not stopped by the submission
        assert admit_lookup(db, settings, "a", now) == 60
        assert admit_submission(db, settings, "a", now) == 3600
        # five minutes on, the lookup left its window (and is purged); the submission did not
        assert admit_lookup(db, settings, "a", later) == 0
        assert admit_submission(db, settings, "a", later) == 3300
        kinds = db.execute(
            select(PublicSubmission.kind, PublicSubmission.at).order_by(PublicSubmission.id)
        ).all()
        assert [tuple(row) for row in kinds] == [("submit", now), ("lookup", later)]
    off = HubSettings(public_lookups_per_client=0)
    with sessions() as db:
        assert all(admit_lookup(db, off, "a", later) == 0 for _ in range(3))
        assert db.scalar(select(func.count()).select_from(PublicSubmission)) == 2


def test_one_request_purges_at_most_a_batch(sessions: sessionmaker[Session]) -> None:
    now = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    old = now - dt.timedelta(hours=2)
    with sessions() as db:
        db.add_all(
            PublicSubmission(kind="lookup", client=f"10.0.{n // 250}.{n % 250}", at=old)
            for n in range(PURGE_BATCH + 20)
        )
        db.add(PublicSubmission(kind="submit", client="10.9.9.9", at=old))
        db.commit()
        assert admit(db, "lookup", "a", 5, 60, now) == 0
        left = db.execute(
            select(PublicSubmission.kind, func.count()).group_by(PublicSubmission.kind)
        ).all()
        # 20 expired lookups wait for the next request; the submission is another kind's
        assert sorted(tuple(row) for row in left) == [("lookup", 21), ("submit", 1)]


# -- trusted proxies ----------------------------------------------------------------------------


def _proxied_hub(engine: Engine, trusted: str) -> Any:
    settings = HubSettings(
        port=free_port(),
        public_lookups_per_client=1,
        public_lookup_window_seconds=LOOKUP_WINDOW,
        trusted_proxies=trusted,
    )
    return serve(Hub(settings, engine=engine), settings)


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(engine: Engine) -> None:
    with _proxied_hub(engine, "") as running:
        first = {"X-Forwarded-For": "203.0.113.5"}
        assert running.client.get("/pakn", headers=first).status_code == 200
        assert _last_log(running).client == "127.0.0.1"
        # a forged address does not make a new client: the peer's count is spent
        second = {"X-Forwarded-For": "203.0.113.6"}
        assert running.client.get("/pakn", headers=second).status_code == 429
        assert _last_log(running).client == "127.0.0.1"


def test_a_trusted_proxy_names_the_client(engine: Engine) -> None:
    with _proxied_hub(engine, "10.0.0.0/8, 127.0.0.1") as running:
        first = {"X-Forwarded-For": "203.0.113.5"}
        assert running.client.get("/pakn", headers=first).status_code == 200
        assert _last_log(running).client == "203.0.113.5"
        second = {"X-Forwarded-For": "203.0.113.6"}
        assert running.client.get("/pakn", headers=second).status_code == 200
        assert _last_log(running).client == "203.0.113.6"
        assert running.client.get("/pakn", headers=first).status_code == 429
        with _client_from(running, "127.0.0.2") as untrusted:  # not a trusted proxy
            assert untrusted.get("/pakn", headers=first).status_code == 200
            assert _last_log(running).client == "127.0.0.2"


@pytest.mark.parametrize(
    ("trusted", "options"),
    [
        ("", {"proxy_headers": False, "forwarded_allow_ips": []}),
        (" , ", {"proxy_headers": False, "forwarded_allow_ips": []}),
        (
            "192.0.2.10, 10.0.0.0/8,2001:db8::/32",
            {
                "proxy_headers": True,
                "forwarded_allow_ips": ["192.0.2.10", "10.0.0.0/8", "2001:db8::/32"],
            },
        ),
    ],
)
def test_proxy_options(trusted: str, options: dict[str, Any]) -> None:
    assert HubSettings(trusted_proxies=trusted).proxy_options() == options


def test_a_bad_trusted_proxy_is_named() -> None:
    with pytest.raises(ValueError, match=re.escape("'proxy.example' is not an IP address")):
        HubSettings(trusted_proxies="127.0.0.1,proxy.example").proxy_options()
