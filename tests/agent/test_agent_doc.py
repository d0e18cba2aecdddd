"""docs/agent.md against the code: its examples are replayed over real HTTP, its Python runs, its
refusal table is the code's own.

- The request/answer examples are the files of ``docs/examples/agent/``, shown byte for byte in
  the document, in order, each after a line ``Request: `METHOD /path` ([file](...))`` or
  ``Answer: HTTP nnn ([file](...))`` (a GET has no request file).
- A real agent (fresh database) delivering to a real hub (``start_pair``, ``[sqlite]`` and
  ``[postgresql]``) receives every request in order; after each submission the replay waits
  until no row is pending. An answer must have exactly the documented keys and values; a time
  (ISO 8601 with an offset) only has to be a time of the same kind, as times differ on every run.
- The refusal table is ``LOCAL_CODES`` (every code, its HTTP status), and each of its rows is
  provoked over HTTP.
- The Python client example runs against a running agent and prints what the document says; the
  webhook verification examples accept what ``WebhookSender`` sends and refuse the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy.orm import Session, sessionmaker

from lienthong.agent.api import API_KEY_HEADER
from lienthong.agent.errors import LOCAL_CODES
from lienthong.agent.pulls import PulledStore
from lienthong.agent.settings import AgentSettings, WebhookSettings
from lienthong.agent.stats import MAX_MONTHS
from lienthong.agent.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    sign,
    verify_signature,
)
from tests.agent.conftest import API_KEY, UNIT, Pair

REPOSITORY = Path(__file__).resolve().parents[2]
DOC = REPOSITORY / "docs" / "agent.md"
EXAMPLES = REPOSITORY / "docs" / "examples" / "agent"
DEFAULT_URL = f"http://127.0.0.1:{AgentSettings().port}"

HEAD = re.compile(
    r"^(?P<kind>Request|Answer): "
    r"(?:`(?P<method>GET|POST) (?P<target>/\S*)`|HTTP (?P<status>\d{3}))"
    r"(?: \(\[(?P<file>[\w.-]+)\]\(examples/agent/(?P=file)\)\))?",
    re.M,
)
#: the rest of the paragraph of a HEAD line, then its JSON block
BODY = re.compile(r"[^\n]*(?:\n[^\n]+)*\n\n```json\n(?P<body>.*?)\n```\n", re.S)
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?[+-]\d{2}:\d{2}$")
#: codes that answer a submission looked at record by record, not a refusal
RECEIPT_CODES = ("ok", "partial", "rejected")


@dataclass(frozen=True)
class Example:
    name: str
    method: str
    target: str
    request: str | None
    status: int
    answer: str


def _doc() -> str:
    return DOC.read_text("utf-8")


def _body_after(doc: str, head: re.Match[str]) -> str:
    body = BODY.match(doc, head.end())
    assert body, f"{head['file']}: no JSON block after its line"
    return body["body"]


@cache
def examples() -> tuple[Example, ...]:
    """The request/answer pairs of docs/agent.md, in document order."""
    doc = _doc()
    heads = list(HEAD.finditer(doc))
    assert heads and len(heads) % 2 == 0, "every request needs its answer"
    pairs = []
    for request, answer in zip(heads[::2], heads[1::2], strict=True):
        assert request["kind"] == "Request" and request["method"], request.group(0)
        assert answer["kind"] == "Answer" and answer["status"] and answer["file"], answer.group(0)
        name = answer["file"].removesuffix(".answer.json")
        assert answer["file"] == f"{name}.answer.json", answer["file"]
        body = None
        if request["method"] == "POST":
            assert request["file"] == f"{name}.request.json", request.group(0)
            body = _body_after(doc, request)
        else:
            assert request["file"] is None, request.group(0)
        pairs.append(
            Example(
                name,
                request["method"],
                request["target"],
                body,
                int(answer["status"]),
                _body_after(doc, answer),
            )
        )
    return tuple(pairs)


def _section(begin: str) -> str:
    match = re.search(rf"<!-- {begin}:begin -->\n(.*?)<!-- {begin}:end -->", _doc(), re.S)
    assert match, f"docs/agent.md has no <!-- {begin}:begin/end --> section"
    return match.group(1)


def _rows(section: str) -> list[list[str]]:
    """The body rows of the Markdown table in ``section`` (header and rule left out)."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _block_after(marker: str, language: str) -> str:
    """The first ``language`` code block after ``marker`` in the document."""
    doc = _doc()
    assert doc.count(marker) == 1, marker
    block = re.compile(rf"```{language}\n(.*?)\n```\n", re.S).search(doc, doc.index(marker))
    assert block, f"no {language} block after {marker!r}"
    return block.group(1)


# -- the document and the example files --------------------------------------------------------


def test_the_json_blocks_of_the_doc_are_the_example_files() -> None:
    files = sorted(path.name for path in EXAMPLES.glob("*.json"))
    documented = [f"{e.name}.answer.json" for e in examples()]
    documented += [f"{e.name}.request.json" for e in examples() if e.request is not None]
    assert sorted(documented) == files, "docs/agent.md and docs/examples/agent/ differ"
    for example in examples():
        for kind, text in (("request", example.request), ("answer", example.answer)):
            if text is None:
                continue
            path = EXAMPLES / f"{example.name}.{kind}.json"
            assert path.read_text("utf-8") == text + "\n", f"{path.name} differs from its block"
            json.loads(text)
    # every JSON block is part of an example, but for one pulled item (section 6: the hub has
    # no pending petition to share in this replay)
    blocks = re.findall(r"```json\n(.*?)\n```", _doc(), re.S)
    others = [block for block in blocks if block not in {e.answer for e in examples()}]
    others = [block for block in others if block not in {e.request for e in examples()}]
    assert len(others) == 1 and '"item_key": "PAKN-000123"' in others[0]


def test_the_examples_are_numbered_in_order() -> None:
    numbers = [int(example.name.split("-", 1)[0]) for example in examples()]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_curl_example_sends_the_first_request() -> None:
    first = examples()[0]
    assert (first.method, first.target) == ("POST", "/api/submit")
    curl = _block_after("`POST /api/submit` takes the portal's envelope", "sh")
    assert f"{DEFAULT_URL}/api/submit" in curl and f'-H "{API_KEY_HEADER}: $KEY"' in curl
    assert f"-d @docs/examples/agent/{first.name}.request.json" in curl
    assert "lienthong agent submit docs/examples/agent/01-submit.request.json" in _doc()


# -- the refusal table is the code's ------------------------------------------------------------


def test_the_refusal_table_is_local_codes() -> None:
    rows = _rows(_section("refusals"))
    refusals = [entry for entry in LOCAL_CODES.values() if entry.code not in RECEIPT_CODES]
    assert [row[:2] for row in rows] == [[f"`{e.code}`", str(e.http_status)] for e in refusals]
    for row, entry in zip(rows, refusals, strict=True):
        assert len(row) == 3 and row[2], f"{entry.code}: say when"
        assert ("`retryable` is true" in row[2]) == entry.retryable, entry.code
    # the answers to a submission looked at record by record, in the text above the table
    for code in RECEIPT_CODES:
        status = LOCAL_CODES[code].http_status
        assert re.search(rf"\*\*{status}\*\* \(`(?:\"error_code\": \")?{code}\b", _doc()), code
    assert f"(at most {MAX_MONTHS})" in _doc()


# -- the examples over real HTTP ----------------------------------------------------------------


def _mismatches(expected: Any, got: Any, where: str = "$") -> list[str]:
    """Where ``got`` differs from the documented ``expected`` (a time only needs to be a time,
    an age in seconds a number of seconds)."""
    if where.endswith("_age_seconds") and isinstance(expected, float):
        if not isinstance(got, float | int) or isinstance(got, bool) or got < 0:
            return [f"{where}: expected an age in seconds like {expected!r}, got {got!r}"]
        return []
    if isinstance(expected, str) and (shape := TIME.match(expected)):
        if not isinstance(got, str) or not (found := TIME.match(got)):
            return [f"{where}: expected a time like {expected!r}, got {got!r}"]
        if found["fraction"] and not shape["fraction"]:  # seconds only vs. microseconds (or 0)
            return [f"{where}: expected whole seconds like {expected!r}, got {got!r}"]
        dt.datetime.fromisoformat(got)
        return []
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return [f"{where}: expected an object, got {got!r}"]
        problems = [f"{where}: missing key {key!r}" for key in expected if key not in got]
        problems += [f"{where}: undocumented key {key!r}" for key in got if key not in expected]
        for key in expected.keys() & got.keys():
            problems += _mismatches(expected[key], got[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {got!r}"]
        problems = []
        for index, (one, other) in enumerate(zip(expected, got, strict=True)):
            problems += _mismatches(one, other, f"{where}[{index}]")
        return problems
    if type(expected) is not type(got) or expected != got:
        return [f"{where}: expected {expected!r}, got {got!r}"]
    return []


def test_every_example_gets_its_documented_answer(start_pair: Callable[..., Pair]) -> None:
    pair = start_pair()
    with httpx.Client(
        base_url=pair.agent_url, headers={API_KEY_HEADER: API_KEY}, timeout=30
    ) as agent:
        for example in examples():
            if example.request is not None:
                response = agent.request(
                    example.method,
                    example.target,
                    content=example.request.encode("utf-8"),
                    headers={"content-type": "application/json"},
                )
                pair.wait_settled()  # the next example shows the record delivered (or dead)
            else:
                response = agent.request(example.method, example.target)
            got = response.json()
            assert response.status_code == example.status, (example.name, got)
            assert response.headers["content-type"].startswith("application/json")
            problems = _mismatches(json.loads(example.answer), got)
            assert not problems, f"{example.name}: {problems}"


#: one request per row of the refusal table: (method, path, headers, body)
PROVOKED: dict[str, tuple[str, str, dict[str, str], bytes]] = {
    "auth.key_missing": ("POST", "/api/submit", {API_KEY_HEADER: ""}, b"{}"),
    "auth.key_invalid": ("POST", "/api/submit", {API_KEY_HEADER: "lta_wrong"}, b"{}"),
    "auth.unit_forbidden": (
        "POST",
        "/api/submit",
        {},
        b'{"service": "DongBoHoSoMC", "madonvi": "000.00.00.H01", "data": []}',
    ),
    "request.too_large": ("POST", "/api/submit", {}, b'{"data": "' + b"x" * 20_000 + b'"}'),
    "request.content_type": ("POST", "/api/submit", {"content-type": "text/plain"}, b"{}"),
    "request.not_json": ("POST", "/api/submit", {}, b'{"service": "DongBoHoSoMC",'),
    "request.not_object": ("POST", "/api/submit", {}, b'[{"service": "DongBoHoSoMC"}]'),
    "envelope.missing": (
        "POST",
        "/api/submit",
        {},
        b'{"service": "DongBoHoSoMC", "madonvi": "000.00.00.H56"}',
    ),
    "envelope.invalid": (  # the isUpdating of DongBoHoSoMC is missing
        "POST",
        "/api/submit",
        {},
        b'{"service": "DongBoHoSoMC", "madonvi": "000.00.00.H56", "data": []}',
    ),
    "service.unknown": ("POST", "/api/submit", {}, b'{"service": "DongBoHoSo", "data": []}'),
    "service.not_pushable": ("POST", "/api/submit", {}, b'{"service": "TraCuuHoSo", "data": []}'),
    "outbox.not_found": ("GET", "/api/outbox/999999", {}, b""),
    "pulled.not_found": ("GET", "/api/pulled/DanhSachPAKNChoXuLy/PAKN-000123", {}, b""),
    "request.query": ("GET", f"/api/stats?madonvi={UNIT}&year=2026", {}, b""),
}
#: rows of the table not provoked here, and why
NOT_PROVOKED = {"internal": "needs the agent's database to fail (tests/agent/test_api.py)"}


def test_every_refusal_of_the_table_is_provoked(start_pair: Callable[..., Pair]) -> None:
    refusals = [code for code in LOCAL_CODES if code not in RECEIPT_CODES]
    assert sorted([*PROVOKED, *NOT_PROVOKED]) == sorted(refusals)
    pair = start_pair(max_body_bytes=10_000, deliver=False)
    with httpx.Client(base_url=pair.agent_url, timeout=30) as agent:
        for code, (method, path, headers, body) in PROVOKED.items():
            sent = {API_KEY_HEADER: API_KEY, "content-type": "application/json", **headers}
            response = agent.request(method, path, headers=sent, content=body or None)
            got = response.json()
            assert (response.status_code, got["error_code"]) == (
                LOCAL_CODES[code].http_status,
                code,
            ), got
            keys = {"error_code", "message", "message_en", "path", "retryable"}
            assert set(got) == keys | ({"issues"} if code == "envelope.invalid" else set()), got
            assert got["retryable"] is False
    assert pair.agent.outbox.summary().counts["pending"] == 0  # nothing was queued


# -- the Python examples ------------------------------------------------------------------------


def _run(code: str, namespace: dict[str, Any]) -> list[str]:
    """Run ``code`` (a document's example) in ``namespace``; the lines it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(DOC), "exec"), namespace)
    return printed.getvalue().splitlines()


def test_the_python_client_example_prints_what_the_doc_says(
    start_pair: Callable[..., Pair],
) -> None:
    pair = start_pair()
    code = _block_after("### Python\n", "python")
    expected = _block_after("### Python\n", "text").splitlines()
    assert code.count(DEFAULT_URL) == 1
    records = json.loads((EXAMPLES / "01-submit.request.json").read_text("utf-8"))["data"]
    namespace = {"__name__": "agent_md", "api_key": API_KEY, "records": records}
    printed = _run(code.replace(DEFAULT_URL, pair.agent_url), namespace)
    assert len(printed) == len(expected), printed
    for line, documented in zip(printed, expected, strict=True):
        if documented == "pending":  # the doc says it may already be delivered
            assert line in ("pending", "delivered")
        else:
            assert line == documented
    pair.wait_settled()


SECRET = "bi-mat-chung-cua-webhook"


def test_the_webhook_examples_check_what_the_agent_sends(sessions: sessionmaker[Session]) -> None:
    with_lienthong = _block_after("Checking a notification in Python", "python")
    standard = _block_after("or with the standard library only", "python")
    checks: dict[str, Any] = {"__name__": "agent_md", "SECRET": SECRET}
    _run(with_lienthong, checks)
    _run(standard, checks)
    webhook, verify = checks["webhook"], checks["verify"]
    assert inspect.signature(verify_signature).parameters["tolerance_seconds"].default == 300
    assert inspect.signature(verify).parameters["tolerance"].default == 300
    assert "(5 minutes in\n  `verify_signature`)" in _doc()

    received: list[tuple[httpx.Request, int, bool]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        headers, body = request.headers, request.content
        answer = webhook(headers, body)  # the example, on the request as the agent sends it
        ok = verify(SECRET.encode(), headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        received.append((request, answer, ok))
        return httpx.Response(answer)

    record = {"Id": "PAKN-000123", "TieuDe": "Hỏi về lệ phí", "TrangThai": "1"}
    PulledStore(sessions).store("DanhSachPAKNChoXuLy", UNIT, [("PAKN-000123", record)])
    settings = WebhookSettings(url="http://local.test/lienthong/webhook", secret=SECRET)
    sender = WebhookSender(sessions, settings, transport=httpx.MockTransport(receiver))
    try:
        assert sender.send_once() is None  # delivered: the example answered 204
    finally:
        sender.stop()
    [(request, answer, ok)] = received
    assert (answer, ok) == (204, True)

    # the notification as docs/agent.md shows it: the headers, the keys of the body
    shown = _block_after("With `webhook.url` set, each notification", "")
    head, _, shown_body = shown.partition("\n\n")
    assert head.splitlines()[0] == "POST /lienthong/webhook"
    names = [line.split(":", 1)[0] for line in head.splitlines()[1:]]
    assert names == [
        "Content-Type",
        EVENT_HEADER,
        DELIVERY_HEADER,
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
    ]
    assert request.headers["content-type"] == "application/json"
    payload = orjson.loads(request.content)
    assert request.headers[EVENT_HEADER] == payload["event"] == "pulled.new"
    assert request.headers[DELIVERY_HEADER] == str(payload["id"])
    shown_keys = [key for key in re.findall(r'"(\w+)": ', shown_body) if key not in record]
    assert sorted(payload) == sorted(shown_keys)  # PostgreSQL (JSONB) keeps no key order

    # and both examples refuse a changed body, another secret and an old timestamp
    body = request.content
    now = str(int(time.time()))
    old = str(int(time.time()) - 301)
    for secret, timestamp, sent in (
        (SECRET, now, body + b" "),
        ("another-secret", now, body),
        (SECRET, old, body),
    ):
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, sent)}
        assert webhook(headers, body) == 401
        assert not verify(SECRET.encode(), timestamp, body, headers[SIGNATURE_HEADER])
    headers = {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: sign(SECRET, now, body)}
    assert webhook(headers, body) == 204 and verify(
        SECRET.encode(), now, body, sign(SECRET, now, body)
    )
