"""The agent's side of the evidence store (issue 13): every envelope the hub answered is kept with
its exact bytes, signature, own certificate check and receipt, in the transaction settling its
rows; the same bytes as the hub's entry; both chains time-stamped by the test PKI's TSA and
audited clean; delivery holds while the agent's chain goes unstamped past its window and resumes
by itself, losing and repeating nothing; a crash before settling leaves neither rows nor entry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from lienthong.agent.client import Client
from lienthong.agent.evidence import AgentEvidence
from lienthong.agent.outbox import Batch
from lienthong.agent.portal import PortalAnswer, sent_fields
from lienthong.agent.service import AgentService
from lienthong.agent.settings import AgentSettings, EvidenceSettings, SettingsError
from lienthong.cli.main import app
from lienthong.evidence.audit import audit_chain
from lienthong.evidence.status import side_status
from lienthong.evidence.store import plain_body
from lienthong.security.pki import TestPki
from lienthong.security.sealing import generate_master_key_file, is_sealed
from lienthong.store.db import session_factory
from lienthong.store.sealing import PLAIN, register_sealer
from lienthong.store.tables import AgentOutbox, AgentReceipt, EvidenceEntry, EvidenceKey
from tests.agent.conftest import API_KEY, HUB_USER, UNIT, Pair, demo_dossiers, wait_until
from tests.agent.test_signing import _hub_requiring_signatures, _signing
from tests.hub.test_receipts import receipt_key
from tests.servers import free_port, serve_in_thread

SQLITE_ONLY = pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)


def _submit(pair: Pair, records: list[dict[str, Any]]) -> None:
    with Client(pair.agent_url, API_KEY) as agent:
        assert agent.submit("DongBoHoSoMC", records, madonvi=UNIT, isUpdating="False").ok


def _entries(sessions: sessionmaker[Session], side: str) -> list[EvidenceEntry]:
    with sessions() as db:
        return list(
            db.scalars(
                select(EvidenceEntry).where(EvidenceEntry.side == side).order_by(EvidenceEntry.seq)
            )
        )


def _keys(sessions: sessionmaker[Session], side: str, seq: int) -> list[str]:
    with sessions() as db:
        return sorted(
            db.scalars(
                select(EvidenceKey.key).where(EvidenceKey.side == side, EvidenceKey.seq == seq)
            )
        )


def _stamped(sessions: sessionmaker[Session], side: str) -> bool:
    with sessions() as db:
        return side_status(db, side).unstamped == 0


def _audit_clean(engine: Engine, side: str, pki: TestPki) -> None:
    """``lienthong evidence audit --side`` on the side's database: intact, stamps verified (the
    command on SQLite, whose URL names the whole database; A's audit itself on PostgreSQL,
    whose test database is a schema the URL does not name)."""
    if engine.dialect.name != "sqlite":
        with session_factory(engine)() as db:
            found = audit_chain(db, side, [pki.root.certificate])
        assert found.clean and found.batches >= 1, found.as_dict()
        return
    url = engine.url.render_as_string(hide_password=False)
    anchors = str(pki.root.certificate_path)
    done = CliRunner().invoke(
        app, ["evidence", "audit", "-d", url, "--side", side, "--json", "--anchors", anchors]
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["clean"] and report["timestamps_verified"] and report["batches"] >= 1, report


def _status(pair: Pair) -> dict[str, Any]:
    with httpx.Client(base_url=pair.agent_url, headers={"X-API-Key": API_KEY}) as agent:
        evidence: dict[str, Any] = agent.get("/api/status").json()["evidence"]
    return evidence


def _metrics(pair: Pair) -> str:
    return httpx.get(f"{pair.agent_url}/metrics", timeout=10).text


def _pending(pair: Pair) -> list[tuple[str, int]]:
    with pair.agent.sessions() as db:
        return [
            (row.state, row.attempts)
            for row in db.scalars(
                select(AgentOutbox).where(AgentOutbox.state != "delivered").order_by("id")
            )
        ]


def test_each_answered_envelope_is_kept_on_both_sides_stamped_and_audited(
    start_pair: Callable[..., Pair],
    test_pki: TestPki,
    pki_services: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = start_pair(
        hub_changes={
            **_hub_requiring_signatures(test_pki),
            **receipt_key(test_pki, tmp_path),
            "tsa_url": test_pki.tsa_url,
            "timestamp_interval": 0.05,
        },
        portal_changes={
            "receipt_anchors": (str(test_pki.root.certificate_path),),
            "require_receipts": True,
        },
        signing=_signing(test_pki, test_pki.agency(UNIT), tmp_path),
        evidence=EvidenceSettings(tsa_url=test_pki.tsa_url, interval_seconds=0.05),
    )
    records = demo_dossiers(4)
    _submit(pair, records[:3])
    pair.wait_settled()

    [sent] = _entries(pair.agent.sessions, "agent")
    [taken] = _entries(pair.hub.sessions, "hub")
    with pair.agent.sessions() as db:
        [receipt] = db.scalars(select(AgentReceipt)).all()
    # the same exact bytes on both sides, and the bytes the hub's receipt names
    assert sent.body == taken.body and sent.body_sha256 == hashlib.sha256(sent.body).hexdigest()
    assert sent.body_sha256 == taken.body_sha256 == receipt.request_sha256
    assert receipt.receipt is not None
    assert json.loads(receipt.receipt)["request_sha256"] == sent.body_sha256
    assert (sent.signature, sent.signature_format) == (taken.signature, "cades")
    assert (sent.receipt, sent.receipt_signature) == (taken.receipt, taken.receipt_signature)
    assert (sent.receipt, sent.receipt_signature) == (receipt.receipt, receipt.signature)
    assert (sent.kind, sent.log_id, sent.service, sent.origin_unit) == (
        "sent",
        receipt.id,
        "DongBoHoSoMC",
        UNIT,
    )
    assert (sent.origin_account, sent.destination) == (HUB_USER, pair.hub_url)
    own = test_pki.agency(UNIT).certificate.fingerprint(hashes.SHA256())
    assert sent.certificates[0] == own.hex() and len(sent.certificates) >= 2
    assert sent.revocations, "the self-check's OCSP answer (the one stapled) is kept"
    assert sent.validation is not None and sent.validation["status"] == "valid"
    mahoso = sorted(record["MaHoSo"] for record in records[:3])
    assert _keys(pair.agent.sessions, "agent", 1) == mahoso == _keys(pair.hub.sessions, "hub", 1)

    # a crash after the hub answered and before the rows settled: neither rows nor entry
    assert pair.agent.worker is not None
    worker = pair.agent.worker
    worker.stop()
    real_append = pair.agent.evidence.append
    crashes = [RuntimeError("crash between sending and settling")]

    def crash_once(*args: Any, **kwargs: Any) -> None:
        real_append(*args, **kwargs)  # written in the settling transaction, then lost with it
        if crashes:
            raise crashes.pop()

    monkeypatch.setattr(pair.agent.evidence, "append", crash_once)
    _submit(pair, records[3:])
    with pytest.raises(RuntimeError, match="crash"):
        worker.deliver_once()
    assert _pending(pair) == [("pending", 0)]  # not settled, no attempt counted
    assert len(_entries(pair.agent.sessions, "agent")) == 1
    assert len(_entries(pair.hub.sessions, "hub")) == 2  # the hub had it
    assert worker.deliver_once()  # sent again; the hub answers "unchanged"
    assert _pending(pair) == []
    entries = _entries(pair.agent.sessions, "agent")
    assert [entry.seq for entry in entries] == [1, 2]
    assert _keys(pair.agent.sessions, "agent", 2) == [records[3]["MaHoSo"]]
    assert entries[1].body_sha256 == _entries(pair.hub.sessions, "hub")[2].body_sha256

    # both chains time-stamped by the TSA, and audited clean
    wait_until(lambda: _stamped(pair.agent.sessions, "agent"), what="agent stamps")
    wait_until(lambda: _stamped(pair.hub.sessions, "hub"), what="hub stamps")
    _audit_clean(pair.agent.engine, "agent", test_pki)
    _audit_clean(pair.hub.engine, "hub", test_pki)
    status = _status(pair)
    assert (status["state"], status["entries"], status["unstamped"]) == ("ok", 2, 0)
    assert status["last_timestamp_age_seconds"] is not None and not status["blocked"]
    metrics = _metrics(pair)
    assert "lienthong_agent_evidence_entries 2.0" in metrics
    assert "lienthong_agent_evidence_fail_closed 0.0" in metrics


class SwitchableTsa:
    """A TSA that forwards to the test PKI's while ``up``, else answers 503."""

    def __init__(self, real: str) -> None:
        self.real, self.up = real, False

    def app(self) -> Starlette:
        async def stamp(request: Request) -> Response:
            if not self.up:
                return Response(b"down", status_code=503)
            async with httpx.AsyncClient() as client:
                answer = await client.post(
                    self.real,
                    content=await request.body(),
                    headers={"Content-Type": "application/timestamp-query"},
                )
            return Response(answer.content, media_type="application/timestamp-reply")

        return Starlette(routes=[Route("/tsa", stamp, methods=["POST"])])


@SQLITE_ONLY
def test_delivery_holds_while_the_chain_goes_unstamped_and_resumes(
    start_pair: Callable[..., Pair],
    test_pki: TestPki,
    pki_services: str,
    tmp_path: Path,
) -> None:
    tsa = SwitchableTsa(test_pki.tsa_url)
    with serve_in_thread(tsa.app(), free_port()) as tsa_base:
        # through the provincial-adapter door, signed as JWS: the adapter client's bytes too
        pair = start_pair(
            adapter=True,
            hub_changes=_hub_requiring_signatures(test_pki),
            signing=_signing(test_pki, test_pki.agency(UNIT), tmp_path, format="jws"),
            evidence=EvidenceSettings(
                tsa_url=f"{tsa_base}/tsa",
                interval_seconds=0.05,
                fail_closed_hours=0.5 / 3600,  # half a second
            ),
        )
        records = demo_dossiers(4)
        _submit(pair, records[:2])
        pair.wait_settled()
        [sent] = _entries(pair.agent.sessions, "agent")
        [taken] = _entries(pair.hub.sessions, "hub")
        assert (sent.body_sha256, sent.signature) == (taken.body_sha256, taken.signature)
        assert sent.signature_format == "jws" and sent.receipt is None
        assert pair.agent.worker is not None

        # the TSA fails: past the window, delivery holds, and says so
        wait_until(lambda: _status(pair)["state"] == "blocked", what="blocked")
        wait_until(lambda: pair.agent.worker is not None and pair.agent.worker.held)
        status = _status(pair)
        assert status["blocked"] and status["unstamped"] == 1 and status["failures"] >= 1
        assert status["oldest_unstamped_age_seconds"] > 0.5
        assert status["last_error"] is not None
        metrics = _metrics(pair)
        assert "lienthong_agent_evidence_fail_closed 1.0" in metrics
        assert "lienthong_agent_evidence_unstamped_entries 1.0" in metrics
        _submit(pair, records[2:])
        assert not pair.agent.worker.deliver_once()  # nothing is sent
        assert _pending(pair) == [("pending", 0), ("pending", 0)]
        assert len(_entries(pair.hub.sessions, "hub")) == 1

        # the TSA is back: stamping recovers, delivery resumes by itself
        tsa.up = True
        pair.wait_settled()
        wait_until(lambda: _stamped(pair.agent.sessions, "agent"), what="agent stamps")
    hub_entries = _entries(pair.hub.sessions, "hub")
    assert len(hub_entries) == 2 and len(_entries(pair.agent.sessions, "agent")) == 2
    assert _keys(pair.hub.sessions, "hub", 2) == sorted(r["MaHoSo"] for r in records[2:])
    assert _keys(pair.agent.sessions, "agent", 2) == sorted(r["MaHoSo"] for r in records[2:])
    assert not pair.agent.worker.held
    status = _status(pair)
    assert (status["state"], status["blocked"], status["unstamped"]) == ("ok", False, 0)
    _audit_clean(pair.agent.engine, "agent", test_pki)


@SQLITE_ONLY
def test_evidence_off_keeps_nothing_and_never_holds(sessions: sessionmaker[Session]) -> None:
    settings = AgentSettings.load(
        None,
        environ={
            "LIENTHONG_AGENT_EVIDENCE_ENABLED": "false",
            "LIENTHONG_AGENT_EVIDENCE_TSA_URL": "http://127.0.0.1:9/tsa",
        },
    )
    evidence = AgentEvidence(sessions, settings)
    answer = PortalAnswer(200, {"error_code": "0"}, **sent_fields(b"[]"))
    with sessions.begin() as db:
        evidence.append(db, Batch("DongBoHoSoMC", UNIT, {}, []), answer, None, None)
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(EvidenceEntry)) == 0
    assert evidence.blocked() is None and not evidence.stamper.enabled
    assert evidence.status()["state"] == "off"
    with pytest.raises(SettingsError, match=r"evidence\.tsa_url"):
        AgentSettings.from_mapping(
            {"deliver": False, "evidence": {"tsa_url": "ftp://tsa"}}
        ).validate()


def test_a_master_key_seals_the_agents_evidence_bodies(engine: Engine, tmp_path: Path) -> None:
    """``[sealing]`` in the agent's TOML (or ``LIENTHONG_AGENT_SEALING_*``): the agent's entries
    hold no plaintext, open with the key, their digests over the plaintext; another master key
    on the same database stops the agent at start, in words."""
    master_file = tmp_path / "master.key"
    generate_master_key_file(master_file)
    config = tmp_path / "agent.toml"
    config.write_text(f'deliver = false\n[sealing]\nmaster_key_file = "{master_file.as_posix()}"\n')
    settings = AgentSettings.load(config, environ={})
    assert settings.sealing.master_key_file == master_file.as_posix()
    agent = AgentService(settings, engine=engine)
    try:
        body = json.dumps({"data": [{"HoTenNguoiNop": "Nguyễn Thị Bưởi"}]}).encode()
        answer = PortalAnswer(200, {"error_code": "0"}, **sent_fields(body))
        with agent.sessions.begin() as db:
            agent.evidence.append(db, Batch("DongBoHoSoMC", UNIT, {}, []), answer, None, None)
        [entry] = _entries(agent.sessions, "agent")
        assert is_sealed(entry.body) and "Bưởi".encode() not in entry.body
        assert entry.body_sha256 == hashlib.sha256(body).hexdigest()
        with agent.sessions() as db:
            assert plain_body(db, entry.body, "evidence agent 1") == body
            assert audit_chain(db, "agent", []).first is None
    finally:
        register_sealer(engine, PLAIN)
    generate_master_key_file(tmp_path / "other.key")
    environ = {"LIENTHONG_AGENT_SEALING_MASTER_KEY_FILE": str(tmp_path / "other.key")}
    with pytest.raises(SettingsError, match=r"sealing: .*master key"):
        AgentService(AgentSettings.load(config, environ=environ), engine=engine)
