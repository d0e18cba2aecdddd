"""The seeded mutation fuzzer against a real hub, on SQLite and PostgreSQL: every answer keeps
the documented contract (no 5xx, the answer-code table, a message-log row, a bounded size).

``LIENTHONG_FUZZ_REQUESTS`` (per database) and ``LIENTHONG_FUZZ_SEED`` set the run; ``make fuzz``
runs a longer one. A failure prints the seed and the exact requests to replay.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import httpx
import orjson
import pytest
from sqlalchemy import Engine, func, select

from lienthong.hub.app import Hub
from lienthong.hub.errors import ANSWER_CODES, SUCCESS, SUCCESS_SPELLINGS
from lienthong.hub.settings import HubSettings
from lienthong.store.tables import MessageLog
from tests.hub.conftest import PASSWORD, UNIT, RunningHub, free_port, serve
from tests.hub.fuzzing import (
    ANSWER_BASE_BYTES,
    ANSWER_BYTES_PER_RECORD,
    SUCCESS_CODES,
    Fuzzer,
    FuzzRequest,
    send_raw,
)

REQUESTS = int(os.environ.get("LIENTHONG_FUZZ_REQUESTS", "600"))
SEED = int(os.environ.get("LIENTHONG_FUZZ_SEED", "120"))
CSRF_VALUE = re.compile(rb'name="csrf" value="([^"]+)"')


@pytest.fixture
def fuzz_hub(engine: Engine) -> Iterator[RunningHub]:
    settings = HubSettings(
        port=free_port(),
        public_submissions_per_client=0,  # no limit: let submissions reach their checks
        login_failures_per_client=10**6,
        max_body_bytes=1_000_000,
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, settings) as running:
        yield running


def _log_rows(hub: Hub) -> int:
    with hub.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(MessageLog)) or 0)


def _send(running: RunningHub, request: FuzzRequest) -> tuple[int, dict[str, str], bytes]:
    if request.raw_length is not None:
        return send_raw("127.0.0.1", running.settings.port, request)
    headers = dict(request.headers)
    if request.kind == "form":
        form = running.client.get(request.path)
        found = CSRF_VALUE.search(form.content)
        token = found.group(1).decode() if found else ""
        request.body = f"csrf={token}&".encode() + request.body
        headers["origin"] = running.base
    response = running.client.request(
        request.method, request.path, content=request.body, headers=headers
    )
    return response.status_code, dict(response.headers), response.content


def problems_of(
    request: FuzzRequest, status: int, headers: dict[str, str], body: bytes
) -> list[str]:
    """What breaks the documented contract in one answer."""
    problems = []
    if not 0 < status < 500:
        problems.append(f"HTTP {status}")
    media = headers.get("content-type", "")
    bound = ANSWER_BASE_BYTES + ANSWER_BYTES_PER_RECORD * request.records
    if len(body) > bound:
        problems.append(f"answer of {len(body)} bytes over {bound}")
    if request.kind == "token":
        return problems + _token_problems(status, body)
    if request.kind not in ("json", "adapter"):
        if not media.startswith("text/html"):
            problems.append(f"content type {media!r}, not HTML")
        return problems
    if not media.startswith("application/json"):
        return [*problems, f"content type {media!r}, not JSON: {body[:200]!r}"]
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [*problems, f"not JSON: {body[:200]!r}"]
    if not isinstance(answer, dict):
        return [*problems, "not an object"]
    code = answer.get("error_code")
    if code in SUCCESS_SPELLINGS.values():  # success in the hub's form (docs/protocol.md, 5)
        code = SUCCESS
    entry = ANSWER_CODES.get(code) if isinstance(code, str) else None
    if entry is None:
        return [*problems, f"error_code {code!r} not in ANSWER_CODES"]
    shared = request.kind == "adapter" and status == 200 and "records" not in answer
    for key in ("message",) if shared else ("message", "message_en"):
        if not isinstance(answer.get(key), str) or not answer[key]:
            problems.append(f"no {key}")
    if code in SUCCESS_CODES or "records" in answer:
        # a push answer sums its records up: HTTP 200 and no retryable, whatever the code
        # (docs/protocol.md, section 5)
        if status != 200:
            problems.append(f"code {code} with HTTP {status}")
    else:
        if status != entry.http_status:
            problems.append(f"code {code} with HTTP {status}, table says {entry.http_status}")
        if answer.get("retryable") is not entry.retryable:
            problems.append(f"code {code}: retryable {answer.get('retryable')!r}")
    return problems


def _token_problems(status: int, body: bytes) -> list[str]:
    """The adapters' token endpoint answers in OAuth's form (RFC 6749 section 5)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [f"not JSON: {body[:200]!r}"]
    if not isinstance(answer, dict):
        return ["not an object"]
    if status == 200:
        return [] if answer.get("access_token") else ["no access_token"]
    problems = []
    if answer.get("error") not in ("invalid_request", "invalid_client", "unsupported_grant_type"):
        problems.append(f"error {answer.get('error')!r}")
    for key in ("error_description", "error_description_en"):
        if not isinstance(answer.get(key), str) or not answer[key]:
            problems.append(f"no {key}")
    if not isinstance(answer.get("retryable"), bool):
        problems.append("no retryable")
    return problems


def test_fuzzed_requests_keep_the_answer_contract(fuzz_hub: RunningHub) -> None:
    fuzzer = Fuzzer(SEED, fuzz_hub.login(), {
        "login": fuzz_hub.settings.login_path,
        "logout": fuzz_hub.settings.logout_path,
        "integration": fuzz_hub.settings.integration_path,
        "share": fuzz_hub.settings.share_path,
        "lgsp": fuzz_hub.settings.lgsp_prefix,
    })  # fmt: skip
    failures: list[str] = []
    for index in range(REQUESTS):
        request = fuzzer.request(index)
        before = _log_rows(fuzz_hub.hub)
        try:
            status, headers, body = _send(fuzz_hub, request)
        except httpx.HTTPError as exc:
            failures.append(f"{request.replay(SEED, index)}\n  -> {type(exc).__name__}: {exc}")
            continue
        problems = problems_of(request, status, headers, body)
        expected_rows = 2 if request.kind == "form" else 1  # a form's GET is logged too
        if request.raw_length is None and _log_rows(fuzz_hub.hub) - before != expected_rows:
            problems.append("no message-log row")
        if failures and len(failures) > 30:
            break
        if problems:
            failures.append(f"{request.replay(SEED, index)}\n  -> {'; '.join(problems)}")
    assert not failures, f"{len(failures)} bad answers (seed {SEED}):\n" + "\n".join(failures)
