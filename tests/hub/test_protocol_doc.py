"""docs/protocol.md against the code: every example is replayed over real HTTP, every table is
the code's own.

- The request/answer pairs in ``docs/examples/protocol/`` are the JSON blocks of the document
  (byte for byte), in order, each with the path it is POSTed to and the HTTP status it gets.
- A real hub (uvicorn on a free port, ``[sqlite]`` and ``[postgresql]``), loaded like ``make
  run`` loads it (``seed_demo``: the demo account and demo dossiers), receives every request in
  order; the session of the login answer replaces ``"<session>"`` in the requests that follow.
  An answer must have exactly the documented keys and values, except ``"<session>"`` (any
  non-empty string) and ``"<any>"`` (any value).
- The error-code table is ``ANSWER_CODES``, the settings table is ``HubSettings``, the list of
  served services is the hub's ``handlers``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, select

from lienthong.hub.app import Hub, create_app
from lienthong.hub.demo import DEMO_PASSWORD, seed_demo
from lienthong.hub.errors import ANSWER_CODES
from lienthong.hub.settings import HubSettings
from lienthong.store.tables import MessageLog

REPOSITORY = Path(__file__).resolve().parents[2]
DOC = REPOSITORY / "docs" / "protocol.md"
EXAMPLES = REPOSITORY / "docs" / "examples" / "protocol"
DSTCODE = "VN:GOV:000.00.00.G22:vpcpdvcprovider"
SESSION = "<session>"
ANY = "<any>"

BLOCK = re.compile(
    r"^(?P<kind>Request|Answer): (?:`POST (?P<path>/\S*)`|HTTP (?P<status>\d{3})) "
    r"\(\[(?P<file>[\w.-]+)\]\(examples/protocol/(?P=file)\)\)\n\n"
    r"```json\n(?P<body>.*?)\n```$",
    re.M | re.S,
)


@dataclass(frozen=True)
class Example:
    name: str
    path: str
    status: int
    request: str
    answer: str


def _doc() -> str:
    return DOC.read_text("utf-8")


@cache
def examples() -> tuple[Example, ...]:
    """The request/answer pairs of docs/protocol.md, in document order."""
    blocks = list(BLOCK.finditer(_doc()))
    assert blocks, "docs/protocol.md has no example"
    assert len(blocks) % 2 == 0, "every request needs its answer"
    pairs = []
    for request, answer in zip(blocks[::2], blocks[1::2], strict=True):
        assert request["kind"] == "Request" and answer["kind"] == "Answer", request["file"]
        name = request["file"].removesuffix(".request.json")
        assert request["file"] == f"{name}.request.json", request["file"]
        assert answer["file"] == f"{name}.answer.json", answer["file"]
        pairs.append(
            Example(name, request["path"], int(answer["status"]), request["body"], answer["body"])
        )
    return tuple(pairs)


def _section(begin: str) -> str:
    match = re.search(rf"<!-- {begin}:begin -->\n(.*?)<!-- {begin}:end -->", _doc(), re.S)
    assert match, f"docs/protocol.md has no <!-- {begin}:begin/end --> section"
    return match.group(1)


def _rows(section: str) -> list[list[str]]:
    """The body rows of the Markdown table in ``section`` (header and rule left out)."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


# -- the document and the example files --------------------------------------------------------


def test_the_json_blocks_of_the_doc_are_the_example_files() -> None:
    files = sorted(path.name for path in EXAMPLES.glob("*.json"))
    documented = [f"{e.name}.{kind}.json" for e in examples() for kind in ("request", "answer")]
    assert sorted(documented) == files, "docs/protocol.md and docs/examples/protocol/ differ"
    for example in examples():
        for kind, text in (("request", example.request), ("answer", example.answer)):
            path = EXAMPLES / f"{example.name}.{kind}.json"
            assert path.read_text("utf-8") == text + "\n", f"{path.name} differs from its block"
            json.loads(text)
    # every JSON block of the document is part of an example, so every one of them is run
    assert _doc().count("```json\n") == 2 * len(examples())


def test_the_examples_are_numbered_in_order() -> None:
    numbers = [int(example.name.split("-", 1)[0]) for example in examples()]
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_examples_use_the_default_paths() -> None:
    defaults = HubSettings()
    paths = {defaults.login_path, defaults.integration_path, defaults.share_path}
    used = {example.path for example in examples()}
    assert used <= paths
    assert {defaults.integration_path, defaults.share_path} <= used  # both envelope endpoints


# -- tables generated from the code -------------------------------------------------------------


def test_the_error_code_table_is_answer_codes() -> None:
    expected = [
        [f"`{e.code}`", str(e.http_status), e.vi, e.en, "yes" if e.retryable else "no"]
        for e in ANSWER_CODES.values()
    ]
    assert _rows(_section("answer-codes")) == expected


def _shown_default(value: object) -> str:
    if value is None:
        return "(unset)"
    if value == "":
        return "(empty)"  # an empty code span does not render
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def test_the_settings_table_is_hub_settings() -> None:
    expected = [
        [f"`LIENTHONG_{spec.name.upper()}`", _shown_default(spec.default)]
        for spec in dataclasses.fields(HubSettings)
    ]
    rows = _rows(_section("settings"))
    assert [row[:2] for row in rows] == expected
    assert all(len(row) == 3 and row[2] for row in rows), "every setting needs its meaning"


def test_the_served_services_are_the_hubs(tmp_path: Path) -> None:
    hub = Hub(HubSettings(database_url=f"sqlite:///{tmp_path / 'hub.db'}"))
    try:
        listed = re.findall(r"`(\w+)`", _section("served"))
        assert sorted(listed) == sorted(hub.handlers)
        unserved = [name for name in hub.validator.catalog.packets if name not in hub.handlers]
        for name in unserved:  # the doc names the catalog's other services as not served yet
            assert f"`{name}`" in _section("not-served"), name
            envelope = {"session": "x", "madonvi": "000.00.00.H56", "service": name}
            answer = hub.envelope(json.dumps(envelope).encode())
            assert (answer.status, answer.body["error_code"]) == (400, "13"), name
            assert answer.body["message_en"].endswith(f"{name}: not served by this version yet")
        assert '"<service>: not served by this version yet"' in _section("not-served")
    finally:
        hub.engine.dispose()


def test_the_readme_links_the_protocol() -> None:
    readme = (REPOSITORY / "README.md").read_text("utf-8")
    assert "](docs/protocol.md)" in readme


# -- the examples over real HTTP ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replay:
    hub: Hub
    sent: dict[str, bytes]
    answers: dict[str, httpx.Response]


@pytest.fixture
def replay(engine: Engine) -> Iterator[Replay]:
    """A hub as `make run` starts it (default settings, demo data), every example sent in order."""
    settings = HubSettings(port=_free_port())
    hub = Hub(settings, engine=engine)
    seed_demo(hub)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, hub=hub), host="127.0.0.1", port=settings.port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "hub did not start"
        time.sleep(0.02)
    sent: dict[str, bytes] = {}
    answers: dict[str, httpx.Response] = {}
    session: str | None = None
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as client:
            for example in examples():
                body = example.request
                if session is not None:
                    body = body.replace(json.dumps(SESSION), json.dumps(session))
                assert SESSION not in body, f"{example.name}: no session to send yet"
                sent[example.name] = body.encode("utf-8")
                response = client.post(
                    example.path,
                    content=sent[example.name],
                    headers={"content-type": "application/json", "dstcode": DSTCODE},
                )
                answers[example.name] = response
                if json.loads(example.answer).get("session") == SESSION:
                    session = response.json().get("session")
        yield Replay(hub, sent, answers)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _mismatches(expected: Any, got: Any, where: str = "$") -> list[str]:
    """Where ``got`` differs from the documented ``expected`` (placeholders aside)."""
    if expected == ANY:
        return []
    if expected == SESSION:
        return [] if isinstance(got, str) and got else [f"{where}: expected a session token"]
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


def test_every_example_gets_its_documented_answer(replay: Replay) -> None:
    for example in examples():
        response = replay.answers[example.name]
        expected = json.loads(example.answer)
        got = response.json()
        assert response.status_code == example.status, (example.name, got)
        assert response.headers["content-type"].startswith("application/json")
        assert got["error_code"] == expected["error_code"], (example.name, got)
        if "records" in expected:
            assert [r["status"] for r in got["records"]] == [
                r["status"] for r in expected["records"]
            ], example.name
        problems = _mismatches(expected, got)
        assert not problems, f"{example.name}: {problems}"


def test_the_message_log_of_the_examples(replay: Replay) -> None:
    """What docs/protocol.md says of the message log, on the rows the examples left."""
    with replay.hub.sessions() as db:
        rows = db.scalars(select(MessageLog).order_by(MessageLog.id)).all()
    assert len(rows) == len(examples())  # one row per request, refusals included
    tokens = [
        answer.json()["session"].encode()
        for answer in replay.answers.values()
        if "session" in answer.json()
    ]
    assert tokens
    for example, row in zip(examples(), rows, strict=True):
        response = replay.answers[example.name]
        answer, request = response.json(), json.loads(example.request)
        assert row.dstcode == DSTCODE, example.name
        assert (row.http_status, row.error_code) == (response.status_code, answer["error_code"])
        assert row.request_bytes == len(replay.sent[example.name]), example.name
        assert row.response_bytes == len(response.content), example.name
        if row.endpoint == "login":
            assert row.raw_body is None, example.name  # never the password
            assert row.account == request["username"], example.name
            continue
        share = example.path == HubSettings().share_path
        assert row.endpoint == ("share" if share else "integration"), example.name
        assert (row.service, row.unit) == (request["service"], request.get("madonvi"))
        records = answer.get("records", [])
        taken = [r for r in records if r["status"] not in ("rejected", "exists")]
        counts = (len(records), len(taken), len(records) - len(taken))
        assert (row.records, row.accepted, row.rejected) == counts, example.name
        if not taken:
            assert row.raw_body is None, example.name
            continue
        # the evidence: the body as received, the session token blanked out
        kept = row.raw_body
        assert kept is not None, example.name
        assert b'"session": "***"' in kept, example.name
        assert not any(token in kept for token in tokens), example.name
        assert DEMO_PASSWORD.encode() not in kept
        assert json.loads(kept)["data"] == request["data"], example.name
    refusals = [row for row in rows if row.http_status == 403]
    assert refusals and all(row.account == "demo_thanhhoa" for row in refusals)
