"""The agent signs every envelope it delivers, after checking its own certificate (issue 12):
end to end with a hub that requires signatures, the test PKI's OCSP and CRL services running,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from lienthong.agent.client import Client
from lienthong.agent.settings import SigningSettings
from lienthong.security.pki import PkiEntry, TestPki
from lienthong.store.tables import MessageSignature
from tests.agent.conftest import API_KEY, UNIT, Pair, demo_dossiers, wait_until


def _signing(pki: TestPki, entry: PkiEntry, tmp_path: Path, **changes: Any) -> SigningSettings:
    """The key of ``entry``: its PKCS#12 when it has one, else its PEM files."""
    anchors = (str(pki.root.certificate_path),)
    chosen = changes.pop("format", "cades")
    if entry.pkcs12_path is not None and entry.pkcs12_password is not None:
        password = tmp_path / f"{entry.name}.password"
        password.write_text(entry.pkcs12_password + "\n", "utf-8")
        return SigningSettings(
            format=chosen,
            pkcs12_file=str(entry.pkcs12_path),
            password_file=str(password),
            trust_anchors=anchors,
            **changes,
        )
    bundle = tmp_path / f"{entry.name}-chain.pem"  # the certificate, then its chain
    bundle.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (entry.certificate, *pki.chain_of(entry))
        )
    )
    return SigningSettings(
        format=chosen,
        cert_file=str(bundle),
        key_file=str(entry.key_path),
        trust_anchors=anchors,
        **changes,
    )


KEY = {"X-API-Key": API_KEY}


def _hub_requiring_signatures(pki: TestPki) -> dict[str, Any]:
    return {"trust_anchors": str(pki.root.certificate_path), "signature_mode": "required"}


@pytest.mark.parametrize("format", ["cades", "jws"])
def test_the_agent_signs_and_the_hub_verifies(
    start_pair: Callable[..., Pair],
    test_pki: TestPki,
    pki_services: str,
    tmp_path: Path,
    format: str,
) -> None:
    pair = start_pair(
        hub_changes=_hub_requiring_signatures(test_pki),
        signing=_signing(test_pki, test_pki.agency(UNIT), tmp_path, format=format),
    )
    with Client(pair.agent_url, API_KEY) as agent:
        taken = agent.submit("DongBoHoSoMC", demo_dossiers(3), madonvi=UNIT, isUpdating="False")
        assert taken.ok
        pair.wait_settled()
    assert pair.agent.outbox.summary().counts["delivered"] == 3
    with pair.hub.sessions() as db:
        kept = db.scalars(select(MessageSignature)).all()
    assert [(k.format, k.status, k.unit) for k in kept] == [(format, "valid", UNIT)]
    if format == "cades":  # the agent's own OCSP answer rode with the signature
        origins = {(r["kind"], r["origin"]) for r in kept[0].result["revocation"]}
        assert ("ocsp", "stapled") in origins, origins
    status = httpx.get(f"{pair.agent_url}/api/status", headers=KEY, timeout=10).json()
    assert status["signing"]["state"] == "ok" and status["signing"]["format"] == format


def test_a_revoked_certificate_blocks_signing_and_nothing_is_lost(
    start_pair: Callable[..., Pair], test_pki: TestPki, pki_services: str, tmp_path: Path
) -> None:
    pair = start_pair(
        hub_changes=_hub_requiring_signatures(test_pki),
        signing=_signing(test_pki, test_pki.revoked, tmp_path),
    )
    with Client(pair.agent_url, API_KEY) as agent:
        taken = agent.submit("DongBoHoSoMC", demo_dossiers(2), madonvi=UNIT, isUpdating="False")
        assert taken.ok

        def blocked() -> bool:
            status = httpx.get(f"{pair.agent_url}/api/status", headers=KEY, timeout=10).json()
            return bool(status["signing"] and status["signing"]["state"] == "blocked")

        wait_until(blocked, what="the signing check")
    counts = pair.agent.outbox.summary().counts
    assert counts["pending"] == 2 and counts["dead"] == 0  # the rows wait
    status = httpx.get(f"{pair.agent_url}/api/status", headers=KEY, timeout=10).json()
    assert status["last_error"]["error_code"] == "signing.revoked", status["last_error"]
    metrics = httpx.get(f"{pair.agent_url}/metrics", timeout=10).text
    assert "lienthong_agent_signing_ok 0.0" in metrics
    with pair.hub.sessions() as db:
        assert db.scalars(select(MessageSignature)).all() == []  # nothing was sent
