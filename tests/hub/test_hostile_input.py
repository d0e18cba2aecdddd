"""Hostile input at the hub's HTTP and envelope layer (issue 10): every request gets its
documented code and a message-log row, and the work and answer of a call are bounded."""

from __future__ import annotations

import socket
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from lienthong.hub.app import DETAILED_RECORDS, ISSUES_PER_RECORD, redacted
from lienthong.store.tables import MessageLog
from tests.hub.conftest import UNIT, RunningHub

#: The documented answer bound of a push (docs/protocol.md, section 5).
ANSWER_BYTES_FIXED = 128 * 1024
ANSWER_BYTES_PER_RECORD = 1024


def _log_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(MessageLog)) or 0)


def _last_row(engine: Engine) -> Any:
    with engine.connect() as connection:
        return connection.execute(select(MessageLog).order_by(MessageLog.id.desc()).limit(1)).one()


def _raw(running: RunningHub, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    answer = running.client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    ("field", "escaped"),
    [
        ("madonvi", '"\\ud800"'),
        ("service", '"\\ud800"'),
        ("madonvi", '"000.00.00.H56\\u0000"'),
        ("service", '"DongBoHoSoMC\\u0000"'),
        ("session", '"ab\\udfffcd"'),
    ],
)
def test_unstorable_text_in_an_envelope_field_is_code_12_with_a_log_row(
    running: RunningHub, engine: Engine, field: str, escaped: str
) -> None:
    session = running.login()
    envelope = {"session": session, "madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": "x"}
    text = orjson.dumps(envelope).decode()
    text = text.replace(
        f'"{field}":{orjson.dumps(envelope[field]).decode()}', f'"{field}":{escaped}'
    )
    before = _log_rows(engine)
    status, body = _raw(running, running.settings.integration_path, text.encode())
    assert (status, body["error_code"]) == (400, "12"), body
    assert f"$.{field}" in body["message_en"]
    assert _log_rows(engine) == before + 1


@pytest.mark.parametrize("path", ["/api/cong-dan/pakn", "/api/cong-dan/hoi-dap"])
@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"\\ud800": "x"}', "$.<?>"),
        (b'{"TieuDe\\udfff": "x", "NoiDungPAKN": "y"}', "$.<?>"),
        (b'{"NOIDUNG": "x", "a\\u0000": 1}', "$.<?>"),
        (b'{"TaiLieuDinhKem": [{"\\udfff": "x"}]}', "$.TaiLieuDinhKem[0].<?>"),
    ],
)
def test_an_unstorable_key_in_the_citizen_api_is_code_12_with_a_log_row(
    running: RunningHub, engine: Engine, path: str, body: bytes, where: str
) -> None:
    """A lone surrogate as a key used to be echoed in the answer's field paths: a 500."""
    before = _log_rows(engine)
    status, answer = _raw(running, path, body)
    assert (status, answer["error_code"]) == (400, "12"), answer
    assert where in answer["message_en"]
    assert _log_rows(engine) == before + 1 and _last_row(engine).error_code == "12"


def test_a_service_name_longer_than_its_column_is_code_13_with_a_log_row(
    running: RunningHub, engine: Engine
) -> None:
    session = running.login()
    before = _log_rows(engine)
    answer = running.call({"session": session, "madonvi": UNIT, "service": "X" * 5000})
    assert (answer.status_code, answer.json()["error_code"]) == (400, "13")
    assert _log_rows(engine) == before + 1
    assert len(_last_row(engine).service) == 64


@pytest.mark.parametrize(
    ("service", "param"),
    [("LayThuTuc", "maTTHC"), ("LayQDCB", "idQDCB"), ("LayTaiLieuPAKN", "PAKNID")],
)
@pytest.mark.parametrize("bad", ["\\ud800", "\\u0000"])
def test_unstorable_text_in_a_share_parameter_is_code_12(
    running: RunningHub, engine: Engine, service: str, param: str, bad: str
) -> None:
    session = running.login()
    body = (
        f'{{"session":"{session}","madonvi":"{UNIT}","service":"{service}","{param}":"1.00{bad}1"}}'
    ).encode()
    before = _log_rows(engine)
    status, answer = _raw(running, running.settings.integration_path, body)
    assert (status, answer["error_code"]) == (400, "12"), answer
    assert param in answer["message_en"]
    assert _log_rows(engine) == before + 1


@pytest.mark.parametrize("bad", ["\\ud800", "\\u0000", "a\\udc00b"])
def test_unstorable_text_in_a_login_username_is_code_12_with_a_log_row(
    running: RunningHub, engine: Engine, bad: str
) -> None:
    before = _log_rows(engine)
    body = f'{{"username":"tinh{bad}","password":"x"}}'.encode()
    status, answer = _raw(running, running.settings.login_path, body)
    assert (status, answer["error_code"]) == (400, "12"), answer
    assert _log_rows(engine) == before + 1


def _declared(running: RunningHub, path: str, length: str, content_type: str) -> bytes:
    """A request that declares ``length`` bytes and sends a few, over a raw socket."""
    port = running.settings.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
                "Connection: close\r\n\r\n{}"
            ).encode()
        )
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("length", [str(2**31), str(2**63)])
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/login", "application/json"),
        ("/api/integration", "application/json"),
        ("/api/share", "application/json"),
        ("/api/cong-dan/pakn", "application/json"),
        ("/api/cong-dan/hoi-dap", "application/json"),
        ("/pakn/gui", "application/x-www-form-urlencoded"),
        ("/hoi-dap/gui", "application/x-www-form-urlencoded"),
    ],
)
def test_a_huge_declared_length_is_413_with_a_log_row(
    running: RunningHub, engine: Engine, path: str, content_type: str, length: str
) -> None:
    before = _log_rows(engine)
    raw = _declared(running, path, length, content_type)
    assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
    assert _log_rows(engine) == before + 1
    assert 0 < _last_row(engine).request_bytes <= 2**31 - 1


def test_too_many_records_are_refused_before_any_check_with_code_16(
    running: RunningHub, engine: Engine
) -> None:
    session = running.login()
    limit = running.settings.max_records_per_envelope
    body = orjson.dumps(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [{}] * (limit + 1),
        }
    )
    before = _log_rows(engine)
    status, answer = _raw(running, running.settings.integration_path, body)
    assert (status, answer["error_code"]) == (413, "16"), answer
    assert len(orjson.dumps(answer)) < 1024
    assert _log_rows(engine) == before + 1
    row = _last_row(engine)
    assert (row.error_code, row.records) == ("16", 0)


def test_a_batch_of_broken_records_gets_a_bounded_answer(running: RunningHub) -> None:
    session = running.login()
    count = 30 * DETAILED_RECORDS
    # every record breaks the same rules, many times over (unknown fields are warnings)
    record = {f"X{n}": "" for n in range(ISSUES_PER_RECORD + 5)}
    body = orjson.dumps(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [record] * count,
        }
    )
    answer = running.client.post(
        running.settings.integration_path,
        content=body,
        headers={"content-type": "application/json"},
        timeout=120,
    )
    assert answer.status_code == 200
    assert len(answer.content) <= ANSWER_BYTES_FIXED + ANSWER_BYTES_PER_RECORD * count
    parsed = answer.json()
    assert parsed["error_code"] == "15"
    rows = parsed["records"]
    assert len(rows) == count  # every record has its outcome
    first, late = rows[0], rows[DETAILED_RECORDS]
    assert len(first["issues"]) == ISSUES_PER_RECORD and first["issues_omitted"] > 0
    assert "message_en" in first["issues"][0]
    assert set(late["issues"][0]) == {"path", "code"}


def test_a_normal_batch_keeps_every_issue_whole(running: RunningHub) -> None:
    session = running.login()
    record = {"MaHoSo": "bad"}
    answer = running.call(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [record] * 3,
        }
    ).json()
    for row in answer["records"]:
        assert "issues_omitted" not in row
        assert all("message" in issue for issue in row["issues"])


def test_a_token_written_with_escapes_is_redacted_in_every_spelling() -> None:
    token = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    escaped = "\\u0061" + token[1:]
    body = f'{{"session":"{escaped}","data":[{{"GhiChu":"{token}"}}]}}'.encode()
    kept = redacted(body, token)
    assert token.encode() not in kept and escaped.encode() not in kept
    assert orjson.loads(kept) == {"session": "***", "data": [{"GhiChu": "***"}]}
    # the reverse: plain in session, escaped in a record
    body = f'{{"session":"{token}","data":[{{"GhiChu":"{escaped}"}}]}}'.encode()
    assert token not in orjson.loads(redacted(body, token))["data"][0]["GhiChu"]
    # nothing escaped: the bytes are kept as sent, but for the token
    body = f'{{"session":"{token}",  "data":[]}}'.encode()
    assert redacted(body, token) == b'{"session":"***",  "data":[]}'


@pytest.mark.parametrize("first", ["1", "a", "-"])
def test_a_token_is_redacted_when_its_plain_spelling_ends_an_escape(first: str) -> None:
    """``"\\u0031"`` followed by the rest of a token that starts with ``1`` holds the token
    itself: replacing it cut the escape, the body could no longer be read and was kept empty."""
    token = first + "Zx9_-Qw" * 6
    escaped = "\\u00" + f"{ord(token[0]):02x}" + token[1:]
    body = ('{"session":"' + escaped + '","data":[{"GhiChu":"' + token + '"}]}').encode()
    kept = redacted(body, token)
    assert kept and token.encode() not in kept and escaped.encode() not in kept
    assert orjson.loads(kept) == {"session": "***", "data": [{"GhiChu": "***"}]}


def test_the_message_log_keeps_no_escaped_token(running: RunningHub, engine: Engine) -> None:
    from tests.hub.test_protocol import _dossier

    session = running.login()
    escaped = "\\u00" + f"{ord(session[0]):02x}" + session[1:]
    record = _dossier(1)
    record["GhiChu"] = session
    text = orjson.dumps(
        {
            "session": "SESSION",
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [record],
        }
    ).decode()
    text = text.replace('"SESSION"', f'"{escaped}"')
    status, answer = _raw(running, running.settings.integration_path, text.encode())
    assert (status, answer["error_code"]) == (200, "0"), answer
    with engine.connect() as connection:
        kept = connection.scalar(
            select(MessageLog.raw_body).where(
                MessageLog.service == "DongBoHoSoMC", MessageLog.error_code == "0"
            )
        )
    assert kept is not None
    assert session.encode() not in kept and escaped.encode() not in kept
    assert session not in orjson.dumps(orjson.loads(kept)).decode()


def test_answers_carry_the_security_headers_and_no_server_name(running: RunningHub) -> None:
    for answer in (running.client.get("/healthz"), running.client.get("/")):
        assert "camera=()" in answer.headers["permissions-policy"]
        assert "server" not in answer.headers
        assert "strict-transport-security" not in answer.headers  # plain HTTP


def test_hsts_is_sent_over_tls() -> None:
    import anyio

    from lienthong.asgi import HSTS, GuardMiddleware

    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"server", b"x")]})

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    anyio.run(GuardMiddleware(app), {"type": "http", "scheme": "https"}, receive, send)
    headers = dict(sent[0]["headers"])
    assert headers[b"strict-transport-security"] == HSTS.encode()
    assert b"server" not in headers


def test_a_client_gone_mid_body_leaves_no_traceback(
    running: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    port = running.settings.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /api/integration HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"se'
            ).encode()
        )
    # the next request is served, and nothing was logged as an error
    assert running.client.get("/healthz").status_code == 200
    assert running.call({}).status_code == 400
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
