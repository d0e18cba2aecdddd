"""Issue 12 end to end, as a province would run it, on SQLite and PostgreSQL: the hub serves
HTTPS with the test PKI's TLS certificate and requires signatures; the agent checks the hub
against the test root, signs every envelope with its unit's key (its OCSP answer stapled), and
checks the hub's signed receipt of each answer, through both front doors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lienthong.agent.client import Client
from lienthong.security.pki import TestPki
from lienthong.store.tables import AgentReceipt, DossierEvent, MessageLog, MessageSignature
from tests.agent.conftest import API_KEY, UNIT, Pair, demo_dossiers, step
from tests.agent.test_signing import _signing
from tests.hub.test_receipts import receipt_key


@pytest.mark.parametrize("adapter", [False, True], ids=["envelope", "adapter"])
def test_signed_over_https_verified_and_receipted(
    start_pair: Callable[..., Pair],
    test_pki: TestPki,
    pki_services: str,
    tmp_path: Path,
    adapter: bool,
) -> None:
    root = str(test_pki.root.certificate_path)
    served = tmp_path / "tls-chain.pem"  # a server presents its certificate, then its chain
    served.write_bytes(
        test_pki.tls.certificate_path.read_bytes()
        + test_pki.intermediate.certificate_path.read_bytes()
    )
    pair = start_pair(
        adapter=adapter,
        hub_changes={
            "tls_certfile": str(served),
            "tls_keyfile": str(test_pki.tls.key_path),
            "trust_anchors": root,
            "signature_mode": "required",
            **receipt_key(test_pki, tmp_path),
        },
        portal_changes={"ca_file": root, "receipt_anchors": (root,), "require_receipts": True},
        signing=_signing(test_pki, test_pki.agency(UNIT), tmp_path),
    )
    assert pair.hub_url.startswith("https://")
    records = demo_dossiers(4)
    with Client(pair.agent_url, API_KEY) as agent:
        assert agent.submit("DongBoHoSoMC", records, madonvi=UNIT, isUpdating="False").ok
        pair.wait_settled()
        steps = [step(r["MaHoSo"], "20260302100000", "4", "Thẩm định hồ sơ") for r in records]
        assert agent.submit("CapNhatTienDoHoSoMC", steps, madonvi=UNIT).ok
        pair.wait_settled()
    counts = pair.agent.outbox.summary().counts
    assert (counts["delivered"], counts["dead"], counts["pending"]) == (8, 0, 0)
    with pair.hub.sessions() as db:
        signed = db.execute(
            select(MessageSignature.status, MessageLog.service)
            .join(MessageLog, MessageLog.id == MessageSignature.log_id)
            .order_by(MessageSignature.id)
        ).all()
    assert [tuple(row) for row in signed] == [
        ("valid", "DongBoHoSoMC"),
        ("valid", "CapNhatTienDoHoSoMC"),
    ]
    with pair.agent.sessions() as db:
        receipts = db.scalars(select(AgentReceipt.status)).all()
    assert receipts == ["valid", "valid"]
    with pair.hub.sessions() as db:
        assert db.scalar(select(func.count()).select_from(DossierEvent)) == 4
