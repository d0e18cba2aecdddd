"""The hub's evidence entries (issue 13), end to end: signed pushes from the test PKI through
both front doors and a share, over real HTTP, kept with their exact bytes, stamped by the test
PKI's TSA, audited clean, the batch's time-stamp checked by openssl; and pushes refused with
code 60 while the chain goes unstamped (the TSA down, or answering over other data), then
taken again once it is stamped."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import subprocess
import time
from pathlib import Path

import orjson
from prometheus_client import generate_latest
from sqlalchemy import Engine, func, select

from lienthong.demo import dossiers
from lienthong.evidence.audit import audit_chain
from lienthong.evidence.export import Selection, export_container
from lienthong.evidence.merkle import merkle_root
from lienthong.evidence.offline import verify_container
from lienthong.evidence.store import EvidenceLog, plain_body
from lienthong.hub.app import Call, Hub
from lienthong.hub.metrics import metrics_registry
from lienthong.hub.settings import HubSettings
from lienthong.security.cades import sign_cades
from lienthong.security.header import HEADER, header_value
from lienthong.security.pki import TestPki
from lienthong.security.signers import FileSigner
from lienthong.store.tables import (
    Dossier,
    EvidenceBatch,
    EvidenceEntry,
    EvidenceKey,
    MessageLog,
)
from tests.evidence.samples import wrong_digest_tsa
from tests.hub.conftest import OTHER_UNIT, PASSWORD, UNIT, free_port, serve
from tests.hub.test_receipts import receipt_key
from tests.servers import serve_in_thread


def _envelope(session: str, number: int, unit: str = UNIT) -> bytes:
    record = copy.deepcopy(dossiers(number)[number - 1])
    return orjson.dumps(
        {
            "session": session,
            "madonvi": unit,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [record],
        }
    )


def test_signed_pushes_and_a_share_are_kept_stamped_and_audited(
    engine: Engine, test_pki: TestPki, pki_services: str, openssl: str, tmp_path: Path
) -> None:
    settings = HubSettings(
        port=free_port(),
        trust_anchors=str(test_pki.root.certificate_path),
        tsa_url=test_pki.tsa_url,
        timestamp_interval=3600,  # the thread runs; the test stamps when it wants
        **receipt_key(test_pki, tmp_path),
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    agency = test_pki.agency(UNIT)
    signer = FileSigner(agency.private_key(), agency.certificate, test_pki.chain_of(agency))
    with serve(hub, settings) as running:
        assert hub.stamper._thread is not None and hub.stamper._thread.is_alive()
        session = running.login()
        signed = _envelope(session, 1)
        header = header_value("cades", sign_cades(signed, signer))
        answer = running.client.post(
            settings.integration_path,
            content=signed,
            headers={
                "content-type": "application/json",
                HEADER: header,
                "dstcode": "VN:GOV:000.00.00.G22:vpcpdvcprovider",
            },
        )
        assert answer.json()["error_code"] == "0", answer.text
        token = running.client.post(
            "/lgsp/token",
            content=b"grant_type=client_credentials",
            auth=("tinh_thanhhoa", PASSWORD),
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).json()["access_token"]
        lgsp = orjson.dumps([dossiers(2)[1]])
        answer = running.client.post(
            "/lgsp/ThemMoiHoSo",
            params={"madonvi": UNIT},
            content=lgsp,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        code = str(dossiers(1)[0]["MaHoSo"])
        share = orjson.dumps(
            {"session": session, "madonvi": UNIT, "service": "TraCuuHoSo", "mahoso": code}
        )
        assert running.client.post(settings.share_path, content=share).json()["error_code"] == "0"
        # refused before authorization passes: no entry
        refused = running.call(orjson.loads(_envelope(session, 3, OTHER_UNIT)))
        assert refused.json()["error_code"] == "30"
    assert hub.stamper._thread is None  # stopped with the app

    with hub.sessions() as db:
        entries = db.scalars(select(EvidenceEntry).order_by(EvidenceEntry.seq)).all()
        logged = set(db.scalars(select(MessageLog.id)))
        keys = db.execute(select(EvidenceKey.key, EvidenceKey.seq).order_by("seq")).all()
    assert [(e.seq, e.kind, e.service) for e in entries] == [
        (1, "push", "DongBoHoSoMC"),
        (2, "push", "DongBoHoSoMC"),
        (3, "share", "TraCuuHoSo"),
    ]
    first, second, third = entries
    assert plain_body(db, first.body) == signed and plain_body(db, second.body) == lgsp
    assert plain_body(db, third.body) == share
    assert first.signature_format == "cades" and first.signature is not None
    assert len(first.certificates) == 3 and first.revocations and first.validation
    assert first.receipt and first.receipt_signature and third.receipt is None
    assert second.signature is None and second.certificates == []
    assert {e.log_id for e in entries} <= set(logged) and first.origin_account == "tinh_thanhhoa"
    assert (first.origin_unit, first.destination) == (UNIT, "VN:GOV:000.00.00.G22:vpcpdvcprovider")
    assert third.destination == "hub"  # no dstcode header
    assert [tuple(k) for k in keys] == [
        (code, 1),
        (str(dossiers(2)[1]["MaHoSo"]), 2),
        (code, 3),
    ]

    assert hub.stamper.stamp_all() == 1
    with hub.sessions() as db:
        batch = db.scalars(select(EvidenceBatch)).one()
        report = audit_chain(db, "hub", [test_pki.root.certificate])
    assert report.clean and report.entries == 3, report.findings
    root = merkle_root([bytes.fromhex(e.digest) for e in entries])
    assert batch.root == root.hex()
    (tmp_path / "root.bin").write_bytes(root)
    (tmp_path / "batch.tsr").write_bytes(batch.response)
    done = subprocess.run(
        [
            openssl,
            "ts",
            "-verify",
            "-data",
            str(tmp_path / "root.bin"),
            "-in",
            str(tmp_path / "batch.tsr"),
            "-CAfile",
            str(test_pki.root.certificate_path),
            "-untrusted",
            str(test_pki.chain_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    # the dossier's evidence as a container, checked offline (docs/evidence-container.md)
    with hub.sessions() as db:
        container = export_container(db, Selection(dossier=code))
    proof = verify_container(container, [test_pki.root.certificate])
    assert proof.ok, proof.all_failures()
    assert [m.document["seq"] for m in proof.messages] == [1, 3]
    assert proof.messages[0].signature is not None and proof.messages[0].receipt is not None
    hub.engine.dispose()


def _call(body: bytes) -> Call:
    return Call(
        "integration",
        "127.0.0.1",
        None,
        len(body),
        time.perf_counter(),
        received_at=dt.datetime.now(dt.UTC),
    )


def test_pushes_fail_closed_while_the_chain_is_unstamped_then_resume(
    engine: Engine, test_pki: TestPki, pki_services: str
) -> None:
    settings = HubSettings(
        tsa_url=f"http://127.0.0.1:{free_port()}/tsa",  # down
        tsa_timeout=2,
        timestamp_fail_closed_hours=1 / 3600,  # a window of one second
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    session = hub.login(
        orjson.dumps({"username": "tinh_thanhhoa", "password": PASSWORD}), "127.0.0.1"
    ).body["session"]
    with hub.sessions() as db:  # an entry written an hour ago, never stamped
        EvidenceLog.append(
            db,
            side="hub",
            kind="push",
            at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            log_id=None,
            service=None,
            origin_unit=None,
            origin_account=None,
            destination="hub",
            body=b"{}",
            signature=None,
            signature_format=None,
            verification=None,
            receipt=None,
            receipt_signature=None,
        )
        db.commit()

    def push(number: int) -> tuple[int, str, dict[str, str] | None]:
        body = _envelope(session, number)
        answer = hub.handle(_call(body), body)
        return answer.status, str(answer.body["error_code"]), answer.headers

    def counts() -> tuple[int, int, int]:
        with hub.sessions() as db:
            return (
                int(db.scalar(select(func.count()).select_from(Dossier)) or 0),
                int(db.scalar(select(func.count()).select_from(EvidenceEntry)) or 0),
                int(
                    db.scalar(
                        select(func.count())
                        .select_from(MessageLog)
                        .where(MessageLog.error_code == "60")
                    )
                    or 0
                ),
            )

    assert hub.stamper.stamp_once() is None and hub.stamper.failures == 1  # the TSA is down
    status, code, headers = push(1)
    assert (status, code) == (503, "60") and headers == {"Retry-After": "5"}
    assert counts() == (0, 1, 1)  # refused before anything is stored, and logged
    scraped = generate_latest(metrics_registry(hub.sessions, [], hub.stamper)).decode()
    assert "lienthong_evidence_fail_closed 1.0" in scraped
    assert "lienthong_evidence_timestamp_failures_total 1.0" in scraped
    share = orjson.dumps({"session": session, "madonvi": UNIT, "service": "LayDanhSachTTHC"})
    assert hub.handle(_call(share), share).body["error_code"] == "0"  # shares still answered

    with serve_in_thread(wrong_digest_tsa(test_pki.tsa_url), free_port()) as wrong:
        hub.stamper.tsa_url = f"{wrong}/tsa"
        assert hub.stamper.stamp_once() is None
    assert hub.stamper.last_error is not None
    assert hub.stamper.last_error.code == "timestamp.imprint"
    assert push(2)[:2] == (503, "60") and counts() == (0, 2, 2)

    hub.stamper.tsa_url = test_pki.tsa_url  # stamping recovers: pushes are taken again
    assert hub.stamper.stamp_once() is not None
    assert push(3)[:2] == (200, "0") and counts()[0] == 1

    hub.settings = dataclasses.replace(settings, evidence=False)  # the operator turned it off
    before = counts()[1]
    assert push(4)[:2] == (200, "0") and counts()[1] == before
    hub.engine.dispose()
