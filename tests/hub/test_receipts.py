"""Signed receipts at the hub (issue 12), over real HTTP on SQLite and PostgreSQL: every push
answer, through both front doors, carries the hub's signature over the request's digest, the
per-record outcomes and the time; openssl verifies it; the message log keeps it."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.receipts import ReceiptSigner
from lienthong.hub.settings import HubSettings
from lienthong.security.cades import staples_ocsp
from lienthong.security.certificates import fingerprint
from lienthong.security.header import parse_header
from lienthong.security.pki import PkiEntry, TestPki
from lienthong.security.receipts import (
    MAX_LISTED_BYTES,
    RECEIPT_HEADER,
    RECEIPT_SIGNATURE_HEADER,
    receipt_records,
    records_sha256,
)
from lienthong.security.signers import FileSigner
from lienthong.security.verify import VerifyContext, verify_cades, verify_jws
from lienthong.store.tables import MessageLog
from tests.hub.conftest import PASSWORD, UNIT, RunningHub, free_port, serve
from tests.security.interop import openssl_cms, openssl_print


def receipt_key(pki: TestPki, directory: Path, entry: PkiEntry | None = None) -> dict[str, str]:
    """The hub settings naming the test PKI's hub key (or ``entry``'s): its certificate and
    chain in one PEM file, and the key."""
    entry = entry or pki.hub
    bundle = directory / f"{entry.name}-chain.pem"
    bundle.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (entry.certificate, *pki.chain_of(entry))
        )
    )
    return {"receipt_cert_file": str(bundle), "receipt_key_file": str(entry.key_path)}


def _hub(engine: Engine, **settings: Any) -> Iterator[RunningHub]:
    chosen = HubSettings(port=free_port(), **settings)
    hub = Hub(chosen, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, chosen) as running:
        yield running


@pytest.fixture
def receipt_hub(engine: Engine, test_pki: TestPki, tmp_path: Path) -> Iterator[RunningHub]:
    yield from _hub(engine, **receipt_key(test_pki, tmp_path))


def _push_body(session: str, count: int = 2, broken: bool = True) -> bytes:
    records = [copy.deepcopy(record) for record in dossiers(count)]
    if broken:
        records[-1]["MaHoSo"] = "not-a-dossier-code"  # one refused record among taken ones
    return orjson.dumps(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": records,
        }
    )


def _carried(response: httpx.Response) -> tuple[bytes, bytes]:
    """The receipt bytes and the DER signature an answer carries."""
    receipt = base64.b64decode(response.headers[RECEIPT_HEADER], validate=True)
    carried = parse_header(response.headers[RECEIPT_SIGNATURE_HEADER])
    assert carried.cades is not None
    return receipt, carried.cades


def _check_receipt(
    receipt: dict[str, Any], body: bytes, answer: dict[str, Any], pki: TestPki
) -> None:
    assert receipt["version"] == 1
    assert receipt["request_sha256"] == hashlib.sha256(body).hexdigest()
    assert receipt["error_code"] == answer["error_code"]
    assert receipt["records"] == receipt_records(answer["records"])
    assert receipt["hub"] == fingerprint(pki.hub.certificate)
    assert (receipt["service"], receipt["madonvi"], receipt["account"]) == (
        "DongBoHoSoMC",
        UNIT,
        "tinh_thanhhoa",
    )
    received = dt.datetime.fromisoformat(receipt["received_at"])
    assert received.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - received) < dt.timedelta(minutes=1)


@pytest.mark.parametrize("door", ["integration", "share"])
def test_a_push_answer_carries_a_receipt_openssl_verifies(
    receipt_hub: RunningHub, test_pki: TestPki, openssl: str, tmp_path: Path, door: str
) -> None:
    body = _push_body(receipt_hub.login())
    path = receipt_hub.settings.integration_path if door == "integration" else "/api/share"
    response = receipt_hub.client.post(
        path, content=body, headers={"content-type": "application/json"}
    )
    answer = response.json()
    assert answer["error_code"] == "01", answer  # the body as before: one taken, one refused
    assert [r["status"] for r in answer["records"]] == ["accepted", "rejected"]
    receipt, signature = _carried(response)
    _check_receipt(json.loads(receipt), body, answer, test_pki)
    checked = openssl_cms(signature, receipt, test_pki.root.certificate_path, tmp_path / "cms")
    assert checked.returncode == 0, checked.stderr
    tampered = receipt.replace(b'"accepted"', b'"rejected"', 1)
    refused = openssl_cms(signature, tampered, test_pki.root.certificate_path, tmp_path / "bad")
    assert refused.returncode != 0
    with receipt_hub.hub.sessions() as db:
        row = db.scalars(select(MessageLog).where(MessageLog.service == "DongBoHoSoMC")).one()
    assert (row.receipt, row.receipt_signature) == (receipt, signature)


def test_the_adapter_door_answers_with_a_receipt_of_the_bare_array(
    receipt_hub: RunningHub, test_pki: TestPki, openssl: str, tmp_path: Path
) -> None:
    token = receipt_hub.client.post(
        "/lgsp/token",
        content=b"grant_type=client_credentials",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "authorization": "Basic "
            + base64.b64encode(f"tinh_thanhhoa:{PASSWORD}".encode()).decode(),
        },
    ).json()["access_token"]
    body = orjson.dumps([copy.deepcopy(record) for record in dossiers(3)])
    response = receipt_hub.client.post(
        "/lgsp/DongBoHoSoMC",
        params={"MaDinhDanhDV": UNIT, "isUpdating": "False"},
        content=body,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    answer = response.json()
    assert "thành công" in answer["message"], answer  # the adapter's own answer, unchanged
    receipt, signature = _carried(response)
    _check_receipt(json.loads(receipt), body, answer, test_pki)
    checked = openssl_cms(signature, receipt, test_pki.root.certificate_path, tmp_path / "cms")
    assert checked.returncode == 0, checked.stderr


def test_no_receipt_key_no_receipt(engine: Engine) -> None:
    for running in _hub(engine):
        response = running.client.post(
            running.settings.integration_path,
            content=_push_body(running.login(), broken=False),
            headers={"content-type": "application/json"},
        )
        assert response.json()["error_code"] == "0"
        assert RECEIPT_HEADER not in response.headers
        assert RECEIPT_SIGNATURE_HEADER not in response.headers
        with running.hub.sessions() as db:
            assert db.scalars(select(MessageLog.receipt)).all() == [None, None]


def test_answers_without_outcomes_carry_no_receipt(receipt_hub: RunningHub) -> None:
    session = receipt_hub.login()
    lookup = receipt_hub.call(
        {"session": session, "madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": "x"},
        path="/api/share",
    )
    refused = receipt_hub.call({"session": "nope", "madonvi": UNIT, "service": "DongBoHoSoMC"})
    for answer in (lookup, refused):  # no per-record outcomes: nothing to give a receipt of
        assert RECEIPT_HEADER not in answer.headers


def test_jws_receipts(engine: Engine, test_pki: TestPki, tmp_path: Path) -> None:
    for running in _hub(engine, receipt_format="jws", **receipt_key(test_pki, tmp_path)):
        body = _push_body(running.login(), broken=False)
        response = running.client.post(
            running.settings.integration_path,
            content=body,
            headers={"content-type": "application/json"},
        )
        receipt = base64.b64decode(response.headers[RECEIPT_HEADER])
        carried = parse_header(response.headers[RECEIPT_SIGNATURE_HEADER])
        assert carried.jws is not None
        context = VerifyContext(trust_anchors=(test_pki.root.certificate,), allow_fetching=False)
        verification = verify_jws(receipt, carried.jws, context)
        # the signature and the path hold; without fetching the revocation stays unknown
        assert verification.integrity is True, verification
        assert verification.fingerprint == fingerprint(test_pki.hub.certificate)
        _check_receipt(json.loads(receipt), body, response.json(), test_pki)


def test_a_large_batch_receipt_carries_the_outcomes_digest(test_pki: TestPki) -> None:
    signer = ReceiptSigner(
        FileSigner(
            test_pki.hub.private_key(), test_pki.hub.certificate, test_pki.chain_of(test_pki.hub)
        )
    )
    records = [
        {
            "index": i,
            "key": f"000.00.13.H56-260302-{i:04}",
            "status": "accepted",
            "error_code": "00",
        }
        for i in range(1000)
    ]
    common = {
        "service": "DongBoHoSoMC",
        "unit": UNIT,
        "account": "a",
        "request": b"{}",
        "received_at": dt.datetime.now(dt.UTC),
    }
    small = json.loads(signer.receipt(body={"error_code": "0", "records": records[:10]}, **common))
    assert small["records"] == records[:10]
    data = signer.receipt(body={"error_code": "0", "records": records}, **common)
    large = json.loads(data)
    assert len(data) < MAX_LISTED_BYTES and "records" not in large
    assert large["records_count"] == 1000
    assert large["records_sha256"] == records_sha256(receipt_records(records))
    issued = signer.issue(data)
    assert sum(len(value) for value in issued.headers.values()) < 16 * 1024


@pytest.mark.parametrize(
    ("setting", "expected_vi", "expected_en"),
    [
        ("missing", "không đọc được", "cannot read"),
        ("half", "chọn đúng một", "choose exactly one"),
        ("mismatch", "không thuộc chứng thư", "does not belong to the given certificate"),
        ("format", "chọn cades hoặc jws", "choose cades or jws"),
    ],
)
def test_a_receipt_key_that_cannot_sign_stops_the_hub(
    tmp_path: Path, test_pki: TestPki, setting: str, expected_vi: str, expected_en: str
) -> None:
    database = tmp_path / "hub.db"
    key = receipt_key(test_pki, tmp_path)
    env = {
        "missing": {"LIENTHONG_RECEIPT_PKCS12": str(tmp_path / "no-such.p12")},
        "half": {"LIENTHONG_RECEIPT_CERT_FILE": key["receipt_cert_file"]},
        "mismatch": {
            "LIENTHONG_RECEIPT_CERT_FILE": key["receipt_cert_file"],
            "LIENTHONG_RECEIPT_KEY_FILE": str(test_pki.agency(UNIT).key_path),
        },
        "format": {"LIENTHONG_RECEIPT_FORMAT": "xades", "LIENTHONG_RECEIPT_CERT_FILE": "x"},
    }[setting]
    result = CliRunner().invoke(
        app,
        ["hub"],
        env={"COLUMNS": "250", "LIENTHONG_DATABASE_URL": f"sqlite:///{database}", **env},
    )
    assert result.exit_code == 2, result.output
    assert "Lỗi:" in result.output and expected_vi in result.output, result.output
    assert "Error:" in result.output and expected_en in result.output
    assert "lienthong hub" not in result.output and "Traceback" not in result.output
    assert not database.exists()


def test_a_hub_with_anchors_staples_its_ocsp_and_a_revoked_key_signs_no_receipt(
    test_pki: TestPki,
    pki_services: str,
    openssl: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    anchors = (test_pki.root.certificate,)
    for entry in (test_pki.hub, test_pki.revoked):
        settings = HubSettings(
            port=free_port(),
            database_url=f"sqlite:///{tmp_path / entry.name}.db",
            trust_anchors=str(test_pki.root.certificate_path),
            **receipt_key(test_pki, tmp_path, entry),
        )
        hub = Hub(settings)
        hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
        with serve(hub, settings) as running:
            body = _push_body(running.login())
            response = running.client.post(
                settings.integration_path,
                content=body,
                headers={"content-type": "application/json"},
            )
            answer = response.json()
            metrics = running.client.get("/metrics").text
            health = running.client.get("/healthz")
        # the push works either way: the receipt is evidence, not delivery
        assert answer["error_code"] == "01", answer
        if entry is test_pki.hub:
            receipt, signature = _carried(response)
            _check_receipt(json.loads(receipt), body, answer, test_pki)
            assert staples_ocsp(signature)
            printed = openssl_print(signature, tmp_path / "print")
            assert "otherRevInfo" in printed and "ocsp" in printed.lower(), printed
            # the stapled answers alone prove the hub's key was not revoked: no fetching
            offline = verify_cades(receipt, signature, VerifyContext(trust_anchors=anchors))
            assert offline.valid, offline
            assert {r.origin for r in offline.revocation} == {"stapled"}
            assert "lienthong_receipt_signing_ok 1.0" in metrics
            assert health.json()["receipts"] == "ok"
        else:
            assert RECEIPT_HEADER not in response.headers
            assert RECEIPT_SIGNATURE_HEADER not in response.headers
            assert "lienthong_receipt_signing_ok 0.0" in metrics
            assert health.status_code == 200 and health.json()["receipts"] == "blocked"
            with hub.sessions() as db:
                row = db.scalars(
                    select(MessageLog).where(MessageLog.service == "DongBoHoSoMC")
                ).one()
            assert row.receipt is None and row.accepted == 1
            assert any(
                r.levelname == "ERROR" and "signing blocked" in r.getMessage()
                for r in caplog.records
            )
        hub.engine.dispose()
