"""The hub over real HTTP: the call sequence existing one-stop systems make, refusals, bad input."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, func, select, update

from lienthong.demo import dossiers
from lienthong.hub.dossiers import _summary
from lienthong.store.hashing import record_hash
from lienthong.store.tables import Dossier, DossierEvent, HubSession, MessageLog
from lienthong.store.testing import writer_lock_is_free
from tests.hub.conftest import OTHER_UNIT, PASSWORD, UNIT, RunningHub


def _dossier(sequence: int = 1) -> dict[str, Any]:
    return copy.deepcopy(dossiers(sequence)[sequence - 1])


def _push(
    session: str, records: list[dict[str, Any]], updating: str = "False", unit: str = UNIT
) -> dict[str, Any]:
    return {
        "session": session,
        "madonvi": unit,
        "service": "DongBoHoSoMC",
        "isUpdating": updating,
        "data": records,
    }


def _step(code: str, status: str = "4", when: str = "20260303090000") -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "NguoiXuLy": "Lê Thị Bình",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": when,
        "PhongBanXuLy": "Phòng Tư pháp",
        "NoiDungXuLy": "Thẩm định hồ sơ",
        "TrangThai": status,
        "NgayBatDau": "20260302080000",
        "NgayKetThucTheoQuyDinh": "20260305170000",
    }


def test_the_call_sequence_of_an_existing_one_stop_system(running: RunningHub) -> None:
    session = running.login()
    record = _dossier()
    code = record["MaHoSo"]
    lookup = {"session": session, "madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": code}

    first = running.call(lookup).json()
    assert first["error_code"] == "0" and first["result"] == []  # not synced yet

    created = running.call(_push(session, [record])).json()
    assert created["error_code"] == "0"
    assert created["records"] == [
        {"index": 0, "key": code, "status": "accepted", "error_code": "0"}
    ]

    record["TrangThaiHoSo"] = "4"
    again = running.call(_push(session, [record])).json()
    assert (
        again["error_code"] == "3" and "đã tồn tại" in again["message"]
    )  # clients resend with True

    updated = running.call(_push(session, [record], updating="True")).json()
    assert updated["error_code"] == "0" and updated["records"][0]["status"] == "updated"

    progress = {
        "session": session,
        "madonvi": UNIT,
        "service": "CapNhatTienDoHoSoMC",
        "data": [_step(code)],
    }
    assert running.call(progress).json()["records"][0]["status"] == "accepted"

    found = running.call(lookup, path=running.settings.share_path).json()  # either endpoint
    assert found["error_code"] == "0"
    assert found["result"][0]["MaHoSo"] == code and found["result"][0]["TrangThaiHoSo"] == "4"
    assert [s["NoiDungXuLy"] for s in found["result"][0]["QuaTrinhXuLy"]] == ["Thẩm định hồ sơ"]


def test_identical_pushes_change_nothing(running: RunningHub, engine: Engine) -> None:
    session = running.login()
    record = _dossier()
    assert running.call(_push(session, [record])).json()["error_code"] == "0"
    repeat = running.call(_push(session, [record], updating="True")).json()
    assert repeat["records"][0]["status"] == "unchanged"
    step = {
        "session": session,
        "madonvi": UNIT,
        "service": "CapNhatTienDoHoSoMC",
        "data": [_step(record["MaHoSo"])],
    }
    running.call(step)
    assert running.call(step).json()["records"][0]["status"] == "unchanged"
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(DossierEvent)) == 1


def test_a_bad_record_in_a_batch_leaves_the_others_stored(running: RunningHub) -> None:
    session = running.login()
    records = [copy.deepcopy(r) for r in dossiers(3)]
    records[1]["NgayHenTra"] = "20240230000000"
    answer = running.call(_push(session, records)).json()
    assert answer["error_code"] == "01"
    statuses = [(r["index"], r["status"]) for r in answer["records"]]
    assert statuses == [(0, "accepted"), (1, "rejected"), (2, "accepted")]
    assert answer["records"][1]["issues"][0]["path"] == "$.data[1].NgayHenTra"
    for kept in (records[0], records[2]):
        lookup = {
            "session": session,
            "madonvi": UNIT,
            "service": "TraCuuHoSo",
            "mahoso": kept["MaHoSo"],
        }
        assert running.call(lookup).json()["result"]


def test_progress_for_an_unknown_dossier_is_refused(running: RunningHub, engine: Engine) -> None:
    session = running.login()
    progress = {
        "session": session,
        "madonvi": UNIT,
        "service": "CapNhatTienDoHoSoMC",
        "data": [_step("000.00.13.H56-260302-0999")],
    }
    answer = running.call(progress).json()
    assert answer["error_code"] == "15" and answer["records"][0]["error_code"] == "40"
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(DossierEvent)) == 0


def test_cross_unit_writes_and_reads_are_refused(running: RunningHub, engine: Engine) -> None:
    thanhhoa, lamdong = running.login(), running.login("tinh_lamdong")
    record = _dossier()
    assert running.call(_push(thanhhoa, [record])).json()["error_code"] == "0"
    # another province's account pushing under its own madonvi a dossier of Thanh Hóa
    other = running.call(_push(lamdong, [record], updating="True", unit=OTHER_UNIT)).json()
    assert other["records"][0]["error_code"] == "30"
    # ... or acting for Thanh Hóa's unit at all
    response = running.call(_push(lamdong, [record], unit=UNIT))
    assert response.status_code == 403 and response.json()["error_code"] == "30"
    read = running.call(
        {
            "session": lamdong,
            "madonvi": OTHER_UNIT,
            "service": "TraCuuHoSo",
            "mahoso": record["MaHoSo"],
        }
    )
    assert read.json()["error_code"] == "30" and "result" not in read.json()
    # a service not granted to the account
    limited = running.login("chi_tra_cuu")
    refused = running.call(_push(limited, [record]))
    assert refused.json()["error_code"] == "31"
    with engine.connect() as connection:
        logged = connection.scalars(
            select(MessageLog.error_code).where(
                MessageLog.account.in_(["tinh_lamdong", "chi_tra_cuu"])
            )
        ).all()
    assert {"30", "31"} <= set(logged)


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "10"),
        (b'{"session": "x"}', {"content-type": "text/plain"}, 415, "11"),
        (b'{"service": "DongBoHoSoMC"}', {"content-type": "application/json"}, 400, "12"),
        (
            b'{"session": "x", "madonvi": "000.00.00.H56", "service": "XoaHoSo"}',
            {"content-type": "application/json"},
            400,
            "13",
        ),
        (
            b'{"session": "x", "madonvi": "000.00.00.H56", "service": "TraCuuHoSo", "mahoso": "a"}',
            {"content-type": "application/json"},
            401,
            "22",
        ),
        (b"[1, 2]", {"content-type": "application/json"}, 400, "12"),
    ],
)
def test_bad_requests_get_their_own_codes(
    running: RunningHub, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = running.client.post(running.settings.integration_path, content=body, headers=headers)
    assert (response.status_code, response.json()["error_code"]) == (status, code)
    assert response.json()["message"] and response.json()["message_en"]


def test_oversized_bodies_get_413_with_the_limit(running: RunningHub) -> None:
    response = running.client.post(
        running.settings.integration_path,
        content=b" " * 300_000,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["error_code"] == "14"
    assert "200000" in response.json()["message_en"]


def test_login_failures_are_rate_limited_and_sessions_expire(
    running: RunningHub, engine: Engine
) -> None:
    for _ in range(3):
        wrong = running.client.post(
            running.settings.login_path, json={"username": "tinh_thanhhoa", "password": "sai"}
        )
        assert wrong.json()["error_code"] == "20"
    blocked = running.client.post(
        running.settings.login_path, json={"username": "tinh_thanhhoa", "password": PASSWORD}
    )
    assert blocked.status_code == 429 and blocked.json()["error_code"] == "21"
    session = running.login("tinh_lamdong")
    with engine.begin() as connection:
        connection.execute(
            update(HubSession).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    expired = running.call(
        {"session": session, "madonvi": OTHER_UNIT, "service": "TraCuuHoSo", "mahoso": "x"}
    )
    assert expired.status_code == 401 and expired.json()["error_code"] == "23"


def test_the_message_log_keeps_evidence_without_secrets(
    running: RunningHub, engine: Engine
) -> None:
    session = running.login()
    running.call(_push(session, [_dossier()]))
    with engine.connect() as connection:
        rows = connection.execute(select(MessageLog).order_by(MessageLog.id)).all()
        tokens = connection.scalars(select(HubSession.token_hash)).all()
    login_row, push_row = rows[-2], rows[-1]
    assert login_row.endpoint == "login" and login_row.raw_body is None  # never the password
    assert push_row.service == "DongBoHoSoMC" and push_row.accepted == 1 and push_row.records == 1
    assert push_row.dstcode == "VN:GOV:000.00.00.G22:vpcpdvcprovider"
    assert push_row.raw_body is not None and b"MaHoSo" in push_row.raw_body
    assert session not in tokens  # only its hash is stored
    assert session.encode() not in push_row.raw_body  # the token is blanked out of the evidence


def test_progress_of_another_unit_is_refused_before_existence_is_checked(
    running: RunningHub,
) -> None:
    lamdong = running.login("tinh_lamdong")
    for code in (
        "000.00.13.H56-260302-0001",
        "000.00.13.H56-260302-0999",
    ):  # exists or not: same answer
        step = {
            "session": lamdong,
            "madonvi": OTHER_UNIT,
            "service": "CapNhatTienDoHoSoMC",
            "data": [_step(code)],
        }
        assert running.call(step).json()["records"][0]["error_code"] == "30"


def test_a_disabled_account_is_named_only_to_who_knows_its_password(running: RunningHub) -> None:
    running.hub.accounts.disable("tinh_lamdong")
    url = running.settings.login_path
    wrong = running.client.post(url, json={"username": "tinh_lamdong", "password": "doan-mo"})
    right = running.client.post(url, json={"username": "tinh_lamdong", "password": PASSWORD})
    assert (wrong.json()["error_code"], right.json()["error_code"]) == ("20", "24")


def test_copies_of_one_dossier_in_a_batch_share_its_answer(running: RunningHub) -> None:
    session = running.login()
    record = _dossier()
    assert running.call(_push(session, [record])).json()["error_code"] == "0"
    answer = running.call(_push(session, [record, dict(record, GhiChu="x")])).json()
    assert [(r["status"], r["error_code"]) for r in answer["records"]] == [
        ("exists", "3"),
        ("exists", "3"),
    ]


def test_a_malformed_dossier_code_in_a_lookup_is_invalid_data(running: RunningHub) -> None:
    session = running.login()
    answer = running.call(
        {"session": session, "madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": "abc"}
    ).json()
    assert answer["error_code"] == "15" and "mahoso" in answer["message_en"]


def test_an_escaped_session_token_is_still_blanked_in_the_evidence(
    running: RunningHub, engine: Engine
) -> None:
    session = running.login()
    escaped = "".join(f"\\u{ord(ch):04x}" for ch in session)
    body = orjson.dumps(_push("SESSION", [_dossier()])).replace(
        b'"SESSION"', f'"{escaped}"'.encode()
    )
    response = running.client.post(
        running.settings.integration_path,
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.json()["error_code"] == "0"
    with engine.connect() as connection:
        kept = connection.scalar(
            select(MessageLog.raw_body).order_by(MessageLog.id.desc()).limit(1)
        )
    assert kept is not None and session.encode() not in kept and escaped.encode() not in kept


def test_an_internal_fault_answers_99_in_json_and_is_logged(
    running: RunningHub, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(body: bytes, call: object = None) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(running.hub, "envelope", broken)
    response = running.call(
        {"session": "x", "madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": "y"}
    )
    assert response.status_code == 500 and response.json()["error_code"] == "99"
    assert response.json()["retryable"] is True
    with engine.connect() as connection:
        assert (
            connection.scalar(select(MessageLog.error_code).order_by(MessageLog.id.desc()).limit(1))
            == "99"
        )


def test_a_late_older_step_does_not_set_the_status(running: RunningHub, engine: Engine) -> None:
    from lienthong.store.tables import Dossier

    session = running.login()
    record = {**_dossier(), "TrangThaiHoSo": "2", "NgayTra": "", "NgayKetThucXuLy": ""}
    running.call(_push(session, [record]))  # received 20260302073500: older than both steps
    code = record["MaHoSo"]

    def send(step: dict[str, Any]) -> None:
        envelope = {
            "session": session,
            "madonvi": UNIT,
            "service": "CapNhatTienDoHoSoMC",
            "data": [step],
        }
        assert running.call(envelope).json()["records"][0]["status"] == "accepted"

    send(_step(code, status="9", when="20260304100000"))
    send(_step(code, status="4", when="20260303090000"))  # older, arrives later
    with engine.connect() as connection:
        assert connection.scalar(select(Dossier.status).where(Dossier.ma_ho_so == code)) == "9"


def test_a_clean_batch_of_new_dossiers_is_stored_as_record_by_record(
    running: RunningHub, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual push (clean, new, the account's) goes through the column path; what it stores
    and answers is what the general path gives. A batch naming a stored dossier (its insert
    fails and is undone to a savepoint), or one dossier twice, falls back to the general path."""
    from lienthong.hub import dossiers as hub_dossiers

    taken: list[bool] = []
    column_path = hub_dossiers._sync_new_clean_batch

    def watched(*args: Any) -> Any:
        outcomes = column_path(*args)
        taken.append(outcomes is not None)
        return outcomes

    monkeypatch.setattr(hub_dossiers, "_sync_new_clean_batch", watched)
    session = running.login()
    records = [copy.deepcopy(r) for r in dossiers(40)]
    answer = running.call(_push(session, records[:20])).json()
    assert taken == [True]
    assert answer["error_code"] == "0"
    assert answer["records"] == [
        {"index": i, "key": r["MaHoSo"], "status": "accepted", "error_code": "0"}
        for i, r in enumerate(records[:20])
    ]
    # the same kind of batch, one record already stored: the general path, same rows
    mixed = [*records[20:39], records[0]]
    answer = running.call(_push(session, mixed)).json()
    assert taken == [True, False]
    assert [r["status"] for r in answer["records"]] == ["accepted"] * 19 + ["unchanged"]
    twice = [records[39], copy.deepcopy(records[39])] + [
        copy.deepcopy(r) for r in dossiers(58)[40:]
    ]
    assert running.call(_push(session, twice)).json()["error_code"] == "0"
    assert taken == [True, False, False]
    # isUpdating True: the dossiers are looked up first; new ones still take the column path
    fresh = [copy.deepcopy(r) for r in dossiers(78)[58:]]
    answer = running.call(_push(session, fresh, "True")).json()
    assert taken == [True, False, False, True]
    assert [r["status"] for r in answer["records"]] == ["accepted"] * 20
    columns = (
        Dossier.ma_ho_so,
        Dossier.unit,
        Dossier.ma_tthc,
        Dossier.status,
        Dossier.status_at,
        Dossier.record_status,
        Dossier.received_at,
        Dossier.due_at,
        Dossier.returned_at,
        Dossier.finished_at,
        Dossier.record,
        Dossier.record_hash,
    )
    with engine.connect() as connection:
        stored = {row[0]: row for row in connection.execute(select(*columns))}
    for record in records:
        row = stored[record["MaHoSo"]]
        summary = _summary(record)
        assert row.unit == UNIT and row.record == record
        assert row.record_hash == record_hash(record)
        for name, value in summary.items():
            assert getattr(row, name) == value, (record["MaHoSo"], name)
    # returned at 03:00 Vietnam time: the previous day in UTC
    assert records[7]["NgayTra"] == "20260303030000"
    assert stored[records[7]["MaHoSo"]].returned_at == dt.datetime(2026, 3, 2, 20, tzinfo=dt.UTC)


def test_a_nul_character_is_refused_per_record_not_a_500(running: RunningHub) -> None:
    """PostgreSQL cannot store U+0000 in text or JSON: the record is invalid data (15, not 99,
    which a sender would retry forever); the rest of the batch is stored, on both databases."""
    session = running.login()
    records = [copy.deepcopy(r) for r in dossiers(20)]  # big enough for the column fast path
    records[3]["ChuHoSo"] = "Nguyễn\x00Văn"
    records[7]["Khac\x00"] = "x"
    answer = running.call(_push(session, records)).json()
    assert answer["error_code"] == "01"
    rejected = {r["index"]: r for r in answer["records"] if r["status"] == "rejected"}
    assert set(rejected) == {3, 7}
    assert {i["code"] for i in rejected[3]["issues"]} >= {"field.nul"}
    assert any(i["path"] == "$.data[3].ChuHoSo" for i in rejected[3]["issues"])
    assert {i["code"] for i in rejected[7]["issues"]} >= {"field.nul"}
    assert sum(r["status"] == "accepted" for r in answer["records"]) == 18


def test_concurrent_pushes_are_all_taken_and_leave_the_writer_lock_free(
    running: RunningHub, engine: Engine
) -> None:
    """Senders at once: each call is a writer from its start (SQLite: the process's writer lock,
    then BEGIN IMMEDIATE), so none fails on a lock and none waits on SQLite's coarse retries;
    a refused call and a failed one release the lock as a committed one does."""
    session = running.login()
    records = dossiers(24)
    answers: list[dict[str, Any]] = []

    def sender(first: int) -> None:
        with httpx.Client(base_url=running.base, timeout=30) as client:
            for start in range(first, len(records), 6):
                body = _push(session, [records[start]])
                answers.append(client.post(running.settings.integration_path, json=body).json())
                lookup = {
                    "session": session,
                    "madonvi": UNIT,
                    "service": "TraCuuHoSo",
                    "mahoso": records[start]["MaHoSo"],
                }
                answers.append(client.post(running.settings.integration_path, json=lookup).json())

    threads = [threading.Thread(target=sender, args=(first,)) for first in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer["error_code"] for answer in answers] == ["0"] * 48
    assert all(answer["result"] for answer in answers if "result" in answer)  # found, each
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(MessageLog))
    assert stored is not None and stored >= 49  # login + 48 calls, each logged
    assert writer_lock_is_free(running.hub.engine)
    refused = running.call(_push("not-a-session", [records[0]])).json()
    assert refused["error_code"] != "0"
    assert writer_lock_is_free(running.hub.engine)
    assert running.call(_push(session, [records[0]], "True")).json()["error_code"] == "0"
    assert writer_lock_is_free(running.hub.engine)


class _WatchedLock:
    """A lock that tells when somebody starts waiting for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.wanted = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.wanted.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()


def test_a_push_on_sqlite_waits_for_the_writer_ahead_of_it(
    running: RunningHub, engine: Engine
) -> None:
    """SQLite: while another writer of the process holds the lock, a push waits on it (instead
    of SQLite's retries) and stores nothing; once released, it goes through. PostgreSQL orders
    writers itself: a push never asks for the process lock."""
    from lienthong.store import db as store_db

    store_db._writer_lock(engine)  # creates the lock and its release listeners
    watched = _WatchedLock()
    store_db._WRITER_LOCKS[engine] = watched  # type: ignore[assignment]
    session = running.login()

    def logged() -> int:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(MessageLog)) or 0)

    before = logged()
    watched.acquire()
    watched.wanted.clear()
    answers: list[dict[str, Any]] = []
    push = threading.Thread(
        target=lambda: answers.append(running.call(_push(session, [_dossier(3)])).json())
    )
    push.start()
    try:
        if engine.dialect.name == "sqlite":
            assert watched.wanted.wait(timeout=30), "the push never asked for the writer lock"
            assert logged() == before and not answers  # waiting: nothing written yet
        else:
            push.join(timeout=30)
            assert answers and not watched.wanted.is_set()
    finally:
        watched.release()
    push.join(timeout=30)
    assert answers and answers[0]["error_code"] == "0"
    assert logged() == before + 1


def test_a_returned_dossier_without_its_return_date_is_taken_with_a_warning(
    running: RunningHub,
) -> None:
    """Issue 11: a real client reports returned dossiers (status 10) without NgayTra and with
    NgayHenTra as "". Completeness: a warning for received data, stored; an error in strict
    mode (``lienthong check --strict``)."""
    session = running.login()
    record = {**_dossier(7), "TrangThaiHoSo": "10", "NgayHenTra": ""}
    record.pop("NgayTra", None)
    answer = running.call(_push(session, [record])).json()
    assert answer["error_code"] == "0", answer
    (outcome,) = answer["records"]
    assert outcome["status"] == "accepted"
    assert [i["code"] for i in outcome["issues"]] == ["dossier.returned_without_date"]
    assert outcome["issues"][0]["severity"] == "warning"


@pytest.mark.parametrize("declared", [True, False])
def test_a_client_that_sends_its_whole_body_first_still_reads_the_413(
    running: RunningHub, declared: bool
) -> None:
    """Issue 11: Java's HttpURLConnection and Python's urllib send the whole body before they
    read; an oversized one used to meet a connection reset instead of the 413. The hub now
    reads and discards the rest (bounded) before it answers."""
    import socket

    body = b" " * 2_000_000  # ten times the hub's limit of 200000 bytes
    length = f"Content-Length: {len(body)}\r\n" if declared else "Transfer-Encoding: chunked\r\n"
    head = (
        f"POST {running.settings.integration_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{length}Connection: close\r\n\r\n"
    ).encode()
    payload = body if declared else b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with socket.create_connection(("127.0.0.1", running.settings.port), timeout=30) as sock:
        sock.sendall(head + payload)  # everything first, as those clients do
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", answer[:200]
    assert b'"error_code":"14"' in rest
