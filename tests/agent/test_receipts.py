"""The hub's signed receipts at the agent (issue 12): verified and kept with every delivered
row, shown by ``lienthong agent receipts show``, checked independently by openssl; an invalid
receipt is loud (status, metric, the rows' last error) while the rows are delivered all the
same. End to end on SQLite and PostgreSQL, and the check itself against tampered receipts."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from lienthong.agent.client import Client
from lienthong.agent.portal import PortalAnswer
from lienthong.agent.receipts import ReceiptChecker
from lienthong.agent.settings import AgentSettings, PortalSettings
from lienthong.cli.main import app
from lienthong.hub.receipts import ReceiptSigner
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.security.verify import Verification
from lienthong.store.tables import AgentOutbox, AgentReceipt, MessageLog
from tests.agent.conftest import API_KEY, UNIT, Pair, demo_dossiers
from tests.hub.test_receipts import receipt_key
from tests.security.interop import openssl_cms


def _deliver(pair: Pair, count: int = 3) -> list[int]:
    with Client(pair.agent_url, API_KEY) as agent:
        taken = agent.submit("DongBoHoSoMC", demo_dossiers(count), madonvi=UNIT, isUpdating="False")
        assert taken.ok
    pair.wait_settled()
    with pair.agent.sessions() as db:
        return list(db.scalars(select(AgentOutbox.id).order_by(AgentOutbox.id)))


def _rows(pair: Pair) -> list[AgentOutbox]:
    with pair.agent.sessions() as db:
        return list(db.scalars(select(AgentOutbox).order_by(AgentOutbox.id)))


def _receipts(pair: Pair) -> list[AgentReceipt]:
    with pair.agent.sessions() as db:
        return list(db.scalars(select(AgentReceipt).order_by(AgentReceipt.id)))


def _status(pair: Pair) -> dict[str, Any]:
    with httpx.Client(base_url=pair.agent_url, headers={"X-API-Key": API_KEY}) as agent:
        status: dict[str, Any] = agent.get("/api/status").json()
    return status


def _show(engine: Engine, *args: str) -> Any:
    url = engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(
        app, ["agent", "--database", url, "receipts", "show", *args], env={"COLUMNS": "200"}
    )


@pytest.mark.parametrize("adapter", [False, True], ids=["envelope", "adapter"])
def test_receipts_are_verified_and_kept_with_every_delivered_row(
    start_pair: Callable[..., Pair],
    agent_engine: Engine,
    test_pki: TestPki,
    pki_services: str,
    openssl: str,
    tmp_path: Path,
    adapter: bool,
) -> None:
    pair = start_pair(
        adapter=adapter,
        hub_changes=receipt_key(test_pki, tmp_path),
        portal_changes={
            "receipt_anchors": (str(test_pki.root.certificate_path),),
            "require_receipts": True,
        },
    )
    ids = _deliver(pair)
    rows, kept = _rows(pair), _receipts(pair)
    assert [(row.state, row.last_error) for row in rows] == [("delivered", None)] * 3
    assert len(kept) == 1 and {row.receipt_id for row in rows} == {kept[0].id}
    receipt = kept[0]
    assert (receipt.status, receipt.result["reason"], receipt.rows) == ("valid", "receipt.valid", 3)
    with pair.hub.sessions() as db:
        logged = db.scalars(select(MessageLog).where(MessageLog.receipt.is_not(None))).one()
    assert (receipt.receipt, receipt.signature) == (logged.receipt, logged.receipt_signature)
    assert receipt.receipt is not None and receipt.signature is not None
    assert json.loads(receipt.receipt)["request_sha256"] == receipt.request_sha256
    assert _status(pair)["receipts"] == {
        "valid": 1,
        "invalid": 0,
        "missing": 0,
        "last_invalid": None,
    }
    if agent_engine.dialect.name != "sqlite":
        return  # the command is checked once, on the SQLite agent database
    shown = _show(agent_engine, str(ids[1]))
    assert shown.exit_code == 0, shown.output
    assert "HỢP LỆ / VALID" in shown.output and '"request_sha256"' in shown.output
    assert "KẾT QUẢ KIỂM TRA CHỮ KÝ SỐ" in shown.output and "DIGITAL SIGNATURE" in shown.output
    as_json = _show(agent_engine, str(ids[0]), "--json", "--out", str(tmp_path / "out"))
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["status"] == "valid" and document["report"]["status"] == "valid"
    assert document["receipt"] == json.loads(receipt.receipt)
    written = (tmp_path / "out" / "receipt.json").read_bytes()
    signature = (tmp_path / "out" / "receipt.json.p7s").read_bytes()
    assert written == receipt.receipt
    checked = openssl_cms(signature, written, test_pki.root.certificate_path, tmp_path / "cms")
    assert checked.returncode == 0, checked.stderr
    verified = CliRunner().invoke(
        app,
        [
            "verify",
            str(tmp_path / "out" / "receipt.json"),
            str(tmp_path / "out" / "receipt.json.p7s"),
            "--anchor",
            str(test_pki.root.certificate_path),
        ],
    )
    assert verified.exit_code == 0, verified.output
    assert _show(agent_engine, "999999").exit_code == 2


def test_a_receipt_of_an_untrusted_hub_is_loud_and_the_rows_are_delivered(
    start_pair: Callable[..., Pair],
    agent_engine: Engine,
    test_pki: TestPki,
    pki_services: str,
    tmp_path: Path,
) -> None:
    stranger = tmp_path / "stranger.pem"  # a certificate the hub's chain does not end at
    stranger.write_bytes(test_pki.agency(UNIT).certificate_path.read_bytes())
    pair = start_pair(
        hub_changes=receipt_key(test_pki, tmp_path),
        portal_changes={"receipt_anchors": (str(stranger),)},
    )
    ids = _deliver(pair, 2)
    rows = _rows(pair)
    assert [row.state for row in rows] == ["delivered", "delivered"]  # the answer still holds
    for row in rows:
        assert row.last_error is not None
        assert row.last_error.startswith("receipt invalid (receipt.signature)"), row.last_error
    assert pair.agent.outbox.summary().counts["pending"] == 0  # nothing sent again
    (kept,) = _receipts(pair)
    assert kept.status == "invalid" and kept.result["verification"]["status"] == "untrusted"
    receipts = _status(pair)["receipts"]
    assert (receipts["valid"], receipts["invalid"], receipts["missing"]) == (0, 1, 0)
    assert receipts["last_invalid"]["reason"] == "receipt.signature"
    assert receipts["last_invalid"]["receipt_id"] == kept.id
    with httpx.Client(base_url=pair.agent_url) as agent:
        metrics = agent.get("/metrics").text
    assert "lienthong_agent_receipts_invalid_total 1.0" in metrics
    if agent_engine.dialect.name == "sqlite":
        shown = _show(agent_engine, str(ids[0]))
        assert shown.exit_code == 1 and "KHÔNG HỢP LỆ / INVALID" in shown.output


def test_a_missing_receipt_counts_as_invalid_only_when_required(
    start_pair: Callable[..., Pair], test_pki: TestPki, agent_engine: Engine
) -> None:
    pair = start_pair(
        portal_changes={
            "receipt_anchors": (str(test_pki.root.certificate_path),),
            "require_receipts": True,
        }
    )
    ids = _deliver(pair, 1)
    (row,) = _rows(pair)
    assert row.state == "delivered" and row.last_error is not None
    assert row.last_error.startswith("receipt invalid (receipt.missing)")
    receipts = _status(pair)["receipts"]
    assert (receipts["invalid"], receipts["missing"]) == (1, 0)
    if agent_engine.dialect.name == "sqlite":
        assert _show(agent_engine, str(ids[0])).exit_code == 1


# -- the check itself --------------------------------------------------------------------------


@pytest.fixture
def signer(test_pki: TestPki) -> ReceiptSigner:
    hub = test_pki.hub
    return ReceiptSigner(FileSigner(hub.private_key(), hub.certificate, test_pki.chain_of(hub)))


def _checker(pki: TestPki, required: bool = False) -> ReceiptChecker:
    portal = PortalSettings(
        receipt_anchors=(str(pki.root.certificate_path),), require_receipts=required
    )
    return ReceiptChecker(AgentSettings(portal=portal))


SENT = b'{"session":"x","madonvi":"000.00.00.H56","service":"DongBoHoSoMC","data":[]}'
BODY = {
    "error_code": "01",
    "records": [
        {"index": 0, "key": "000.00.13.H56-260302-0001", "status": "accepted", "error_code": "00"},
        {"index": 1, "key": "000.00.13.H56-260302-0002", "status": "rejected", "error_code": "15"},
    ],
}


def _answer(
    signer: ReceiptSigner,
    *,
    receipt: bytes | None = None,
    body: dict[str, Any] | None = None,
    sent: bytes = SENT,
    signed: bytes | None = None,
) -> PortalAnswer:
    """An answer to ``sent`` carrying a receipt of ``BODY`` (or ``receipt``), its signature
    over ``signed`` (default: the receipt itself), and the answer body ``body``."""
    receipt = receipt or signer.receipt(
        service="DongBoHoSoMC",
        unit=UNIT,
        account="agent",
        request=SENT,
        received_at=dt.datetime.now(dt.UTC),
        body=BODY,
    )
    issued = signer.issue(signed or receipt)
    return PortalAnswer(
        200,
        copy.deepcopy(body or BODY),
        receipt=base64.b64encode(receipt).decode("ascii"),
        receipt_signature=issued.headers["X-Lienthong-Receipt-Signature"],
        sent_sha256=hashlib.sha256(sent).hexdigest(),
    )


def test_the_check_finds_each_fault(
    signer: ReceiptSigner, test_pki: TestPki, pki_services: str
) -> None:
    checker = _checker(test_pki)
    good = _answer(signer)
    valid = checker.check(good, "DongBoHoSoMC", UNIT)
    assert valid.reason == "receipt.valid" and valid.verification is not None
    # what `receipts show` reads back is the verification as made, revocation data included
    assert Verification.from_dict(valid.result()["verification"]) == valid.verification
    assert valid.verification.revocation
    assert good.receipt is not None
    genuine = base64.b64decode(good.receipt)
    tampered = genuine.replace(b'"rejected"', b'"accepted"')
    other_hub = genuine.replace(signer.hub.encode(), b"0" * 64)
    changed_body = copy.deepcopy(BODY)
    changed_body["records"][1]["status"] = "accepted"
    cases: dict[str, PortalAnswer] = {
        # the receipt changed after signing (a proxy in between): the signature fails
        "receipt.signature": _answer(signer, receipt=tampered, signed=genuine),
        "receipt.digest": _answer(signer, sent=SENT + b" "),
        "receipt.records": _answer(signer, body=changed_body),
        "receipt.hub": _answer(signer, receipt=other_hub),
        "receipt.envelope": _answer(
            signer, receipt=genuine.replace(b'"DongBoHoSoMC"', b'"DongBoDanhGia"')
        ),
    }
    for reason, answer in cases.items():
        found = checker.check(answer, "DongBoHoSoMC", UNIT)
        assert (found.status, found.reason) == ("invalid", reason), (reason, found)
        assert found.receipt is not None and found.request_sha256 == answer.sent_sha256
    garbled = PortalAnswer(200, BODY, receipt="***", receipt_signature="cades; AAAA")
    assert checker.check(garbled, "DongBoHoSoMC", UNIT).reason == "receipt.malformed"
    half = PortalAnswer(200, BODY, receipt=good.receipt)
    assert checker.check(half, "DongBoHoSoMC", UNIT).reason == "receipt.malformed"
    bad_header = PortalAnswer(200, BODY, receipt=good.receipt, receipt_signature="rsa; xyz")
    assert checker.check(bad_header, "DongBoHoSoMC", UNIT).reason == "receipt.malformed"
    none = PortalAnswer(200, BODY, sent_sha256="00")
    assert checker.check(none, "DongBoHoSoMC", UNIT).status == "missing"
    required = _checker(test_pki, required=True).check(none, "DongBoHoSoMC", UNIT)
    assert (required.status, required.reason, required.kept) == ("invalid", "receipt.missing", True)


def test_a_large_batch_receipt_is_checked_by_its_outcomes_digest(
    signer: ReceiptSigner, test_pki: TestPki, pki_services: str
) -> None:
    records = [
        {
            "index": i,
            "key": f"000.00.13.H56-260302-{i:04}",
            "status": "accepted",
            "error_code": "00",
        }
        for i in range(1000)
    ]
    body = {"error_code": "0", "records": records}
    receipt = signer.receipt(
        service="DongBoHoSoMC",
        unit=UNIT,
        account="agent",
        request=SENT,
        received_at=dt.datetime.now(dt.UTC),
        body=body,
    )
    assert "records_sha256" in orjson.loads(receipt)
    checker = _checker(test_pki)
    answer = _answer(signer, receipt=receipt, body=body)
    assert checker.check(answer, "DongBoHoSoMC", UNIT).reason == "receipt.valid"
    records[999]["status"] = "rejected"
    changed = _answer(signer, receipt=receipt, body=body)
    assert checker.check(changed, "DongBoHoSoMC", UNIT).reason == "receipt.records"
