"""The login limits under concurrency, accounts bound to their system's networks, and logout
(issue 10, defects 6, 7 and 8), on ``[sqlite]`` and ``[postgresql]``.

The concurrency tests run the hub as ``lienthong hub --workers 2`` in its own processes, so the
limits are shown to hold across workers, not only across threads of one process.
"""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from lienthong.hub.auth import bound_to, login
from lienthong.hub.errors import HubError
from lienthong.hub.settings import HubSettings
from lienthong.store import AccountError, Accounts, session_factory
from lienthong.store.tables import HubSession, LoginFailure, MessageLog
from tests.hub.conftest import PASSWORD, UNIT, RunningHub, free_port
from tests.servers import Server, process_url

USER = "tinh_thanhhoa"
STRANGER = "203.0.113.66"
AGENT_HOST = "198.51.100.10"


def _login(client: httpx.Client, path: str, password: str) -> str:
    answer = client.post(path, json={"username": USER, "password": password})
    return str(answer.json()["error_code"])


@pytest.fixture
def workers(engine: Engine, tmp_path: Path) -> Iterator[Server]:
    """The hub in two uvicorn worker processes on the test's database."""
    Accounts(session_factory(engine)).add(USER, PASSWORD, [UNIT])
    port = free_port()
    env = {
        "LIENTHONG_LOGIN_FAILURES_PER_ACCOUNT": "5",
        "LIENTHONG_LOGIN_FAILURES_PER_CLIENT": "1000",
        "LIENTHONG_PUBLIC_SUBMISSIONS_PER_CLIENT": "4",
    }
    args = ["hub", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    server = Server("hub", [*args, "--database", process_url(engine)], env, port, tmp_path / "log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_concurrent_wrong_logins_check_at_most_the_limit(workers: Server, engine: Engine) -> None:
    """Defect 6: 40 wrong logins at once against one account used to check 17-19 passwords
    against a limit of 5, and a right guess then got in."""
    with httpx.Client(base_url=workers.url, timeout=60) as client:
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            codes = Counter(pool.map(lambda _: _login(client, "/api/login", "sai"), range(40)))
        assert codes == {"20": 5, "21": 35}  # exactly the limit was checked
        assert _login(client, "/api/login", PASSWORD) == "21"  # a right guess does not get in
    with engine.connect() as connection:
        counted = connection.scalar(select(func.count()).select_from(LoginFailure))
    assert counted == 5


def test_concurrent_submissions_admit_exactly_the_limit(workers: Server) -> None:
    question = {
        "NOIDUNG": "Làm căn cước cho con dưới 14 tuổi cần giấy tờ gì?",
        "HOVATEN": "Phạm Thị Dung",
        "THUDIENTU": "dung.pham@example.vn",
        "MADONVI": UNIT,
    }
    with httpx.Client(base_url=workers.url, timeout=60) as client:

        def send(_: int) -> int:
            return client.post("/api/cong-dan/hoi-dap", json=question).status_code

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = Counter(pool.map(send, range(20)))
    assert statuses == {200: 4, 429: 16}


# -- bound networks -------------------------------------------------------------------------------


def _attempt(
    sessions: sessionmaker, accounts: Accounts, settings: HubSettings, password: str, client: str
) -> str:
    with sessions() as db:
        try:
            login(db, accounts, settings, USER, password, client)
        except HubError as error:
            return error.answer.code
    return "0"


def test_strangers_cannot_lock_out_a_bound_account(engine: Engine) -> None:
    """Defect 7: wrong logins from anywhere used to lock the agent's account out."""
    sessions = session_factory(engine)
    accounts = Accounts(sessions)
    accounts.add(USER, PASSWORD, [UNIT])
    settings = HubSettings(login_failures_per_account=5, login_failures_per_client=8)
    tries = [_attempt(sessions, accounts, settings, "sai", STRANGER) for _ in range(6)]
    assert tries == ["20"] * 5 + ["21"]
    assert _attempt(sessions, accounts, settings, PASSWORD, AGENT_HOST) == "21"  # locked out

    accounts.bind(USER, [f"{AGENT_HOST}/30"])
    assert _attempt(sessions, accounts, settings, PASSWORD, AGENT_HOST) == "0"
    assert _attempt(sessions, accounts, settings, PASSWORD, STRANGER) == "21"  # still locked
    # the bound system's own mistakes are still limited, per client
    own = [_attempt(sessions, accounts, settings, "sai", AGENT_HOST) for _ in range(9)]
    assert own == ["20"] * 8 + ["21"]
    assert _attempt(sessions, accounts, settings, PASSWORD, AGENT_HOST) == "21"

    accounts.unbind(USER, [f"{AGENT_HOST}/30"])
    assert accounts.get(USER).networks is None  # type: ignore[union-attr]


def test_bindings_are_checked_and_end_sessions(running: RunningHub, engine: Engine) -> None:
    accounts = running.hub.accounts
    for wrong in ("0.0.0.0/0", "10.0.0.0/8", "2001:db8::/16", "not-an-address", "300.1.1.1"):
        with pytest.raises(AccountError) as refused:
            accounts.bind(USER, [wrong])
        assert refused.value.code == "account.network"
    bound = accounts.bind(USER, ["203.0.113.7", "2001:db8:1::/48", "198.51.100.9/24"])
    assert bound.networks == ["203.0.113.7/32", "2001:db8:1::/48", "198.51.100.0/24"]
    assert bound_to(bound.networks, "198.51.100.200")
    assert bound_to(bound.networks, "::ffff:203.0.113.7")
    assert not bound_to(bound.networks, "203.0.113.8") and not bound_to(bound.networks, "?")

    session = running.login()
    accounts.bind(USER, ["127.0.0.1"])  # a change of the account ends its sessions
    answer = running.call({"session": session, "madonvi": UNIT, "service": "LayDanhSachTTHC"})
    assert answer.json()["error_code"] == "22"


def test_a_bound_agent_logs_in_over_http_after_a_lockout(running: RunningHub) -> None:
    path = running.settings.login_path
    for _ in range(running.settings.login_failures_per_account):
        assert _login(running.client, path, "sai") == "20"
    assert _login(running.client, path, PASSWORD) == "21"
    running.hub.accounts.bind(USER, ["127.0.0.1"])
    assert _login(running.client, path, PASSWORD) == "0"


# -- logout ---------------------------------------------------------------------------------------


def test_logout_ends_the_session_and_keeps_no_token(running: RunningHub, engine: Engine) -> None:
    session = running.login()
    envelope = {"session": session, "madonvi": UNIT, "service": "LayDanhSachTTHC"}
    assert running.call(envelope).json()["error_code"] == "0"
    path = running.settings.logout_path
    ended = running.client.post(path, json={"session": session})
    assert ended.status_code == 200 and ended.json()["error_code"] == "0"
    assert running.call(envelope).json()["error_code"] == "22"
    # an unknown or already ended session is answered alike (nothing is told about it)
    again = running.client.post(path, json={"session": session})
    assert again.json() == ended.json()
    missing = running.client.post(path, json={})
    assert missing.status_code == 400 and missing.json()["error_code"] == "12"
    broken = running.client.post(path, content=b"{", headers={"content-type": "application/json"})
    assert broken.json()["error_code"] == "10"
    with engine.connect() as connection:
        rows = connection.execute(
            select(MessageLog.endpoint, MessageLog.raw_body, MessageLog.error_code).where(
                MessageLog.endpoint == "logout"
            )
        ).all()
        left = connection.scalar(select(func.count()).select_from(HubSession))
    assert [row.error_code for row in rows] == ["0", "0", "12", "10"]
    assert all(row.raw_body is None or session.encode() not in row.raw_body for row in rows)
    assert left == 0
