"""Signed envelopes at the hub (issue 12), over real HTTP on SQLite and PostgreSQL, with the test
PKI's OCSP and CRL services running: each refusal has its own code, nothing is stored before
the signature is verified, and the verification is kept with the message-log row."""

from __future__ import annotations

import base64
import contextlib
import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.settings import HubSettings
from lienthong.security.cades import sign_cades
from lienthong.security.header import HEADER, header_value
from lienthong.security.jws import sign_jws
from lienthong.security.pki import PkiEntry, TestPki
from lienthong.security.policy import AlgorithmPolicy
from lienthong.security.signers import FileSigner
from lienthong.store.tables import (
    Dossier,
    KeptCertificate,
    KeptRevocation,
    MessageLog,
    MessageSignature,
)
from tests.hub.conftest import OTHER_UNIT, PASSWORD, UNIT, RunningHub, free_port, serve

#: A unit under UNIT whose dossiers the demo data makes (000.00.13.H56-...).
DISTRICT = "000.00.13.H56"


@pytest.fixture
def signed_hub(engine: Engine, test_pki: TestPki, pki_services: str) -> Iterator[RunningHub]:
    settings = HubSettings(
        port=free_port(),
        trust_anchors=str(test_pki.root.certificate_path),
        login_failures_per_account=50,
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    hub.accounts.add("tinh_lamdong", PASSWORD, [OTHER_UNIT])
    with serve(hub, settings) as running:
        yield running


def _signer(pki: TestPki, entry: PkiEntry, **options: Any) -> FileSigner:
    return FileSigner(entry.private_key(), entry.certificate, pki.chain_of(entry), **options)


def _push(session: str, sequence: int = 1, unit: str = UNIT) -> bytes:
    record = copy.deepcopy(dossiers(sequence)[sequence - 1])
    envelope = {
        "session": session,
        "madonvi": unit,
        "service": "DongBoHoSoMC",
        "isUpdating": "False",
        "data": [record],
    }
    return orjson.dumps(envelope)


def _send(running: RunningHub, body: bytes, header: str | None) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if header is not None:
        headers[HEADER] = header
    response = running.client.post(running.settings.integration_path, content=body, headers=headers)
    answer: dict[str, Any] = response.json()
    answer["http_status"] = response.status_code
    return answer


def _cades(pki: TestPki, entry: PkiEntry, body: bytes, **options: Any) -> str:
    return header_value("cades", sign_cades(body, _signer(pki, entry, **options)))


def _dossiers(running: RunningHub) -> int:
    with running.hub.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(Dossier)) or 0)


def test_unsigned_clients_keep_working_and_a_signature_is_verified_when_present(
    signed_hub: RunningHub, test_pki: TestPki
) -> None:
    session = signed_hub.login()
    assert _send(signed_hub, _push(session, 1), None)["error_code"] == "0"
    body = _push(session, 2)
    signed = _send(signed_hub, body, _cades(test_pki, test_pki.agency(UNIT), body))
    assert signed["error_code"] == "0", signed
    body = _push(session, 3)
    again = _send(signed_hub, body, _cades(test_pki, test_pki.agency(UNIT), body))
    assert again["error_code"] == "0", again
    with signed_hub.hub.sessions() as db:
        kept = db.execute(
            select(MessageSignature.status, MessageSignature.unit, MessageLog.error_code)
            .join(MessageLog, MessageLog.id == MessageSignature.log_id)
            .order_by(MessageSignature.id)
        ).all()
        certificates = db.scalar(select(func.count()).select_from(KeptCertificate))
        revocations = db.scalar(select(func.count()).select_from(KeptRevocation))
        result = db.scalars(select(MessageSignature.result)).first()
    assert [tuple(row) for row in kept] == [("valid", UNIT, "0"), ("valid", UNIT, "0")]
    assert certificates == 3  # signer, intermediate, root: kept once for both messages
    assert revocations >= 1  # the OCSP answer fetched for the signer
    assert result is not None and result["signer"] and result["signing_time"]
    assert result["revocation"][0]["kind"] == "ocsp" and len(result["chain"]) == 3


def test_a_required_signature_refuses_each_fault_with_its_own_code(
    signed_hub: RunningHub, test_pki: TestPki
) -> None:
    signed_hub.hub.accounts.set_signature_mode("tinh_thanhhoa", "required")
    session = signed_hub.login()
    body = _push(session)
    other = _push(session, 2)
    agency = test_pki.agency(UNIT)
    weak_policy = AlgorithmPolicy(min_rsa_bits=1024)
    cases = {
        "unsigned": (None, "50", 400, False),
        "garbage header": ("cades; AAAA", "51", 400, False),
        "another body": (_cades(test_pki, agency, other), "51", 400, False),
        "another unit": (_cades(test_pki, test_pki.agency(OTHER_UNIT), body), "57", 403, False),
        "revoked": (_cades(test_pki, test_pki.revoked, body), "53", 403, False),
        "expired": (_cades(test_pki, test_pki.expired, body), "54", 403, False),
        "RSA-1024": (
            _cades(test_pki, test_pki.rsa_1024, body, policy=weak_policy),
            "55",
            400,
            False,
        ),
    }
    for name, (header, code, status, retryable) in cases.items():
        answer = _send(signed_hub, body, header)
        assert (answer["error_code"], answer["http_status"]) == (code, status), (name, answer)
        assert answer["retryable"] is retryable, name
        assert answer["message"] and answer["message_en"], name
    assert _dossiers(signed_hub) == 0  # nothing stored before the signature is verified
    with signed_hub.hub.sessions() as db:
        refused = db.scalars(select(MessageSignature.status).order_by(MessageSignature.id)).all()
    # the verification of each refused signature is kept with its log row
    assert refused == ["invalid", "wrong_unit", "revoked", "expired", "weak"]
    good = _send(signed_hub, body, _cades(test_pki, agency, body))
    assert good["error_code"] == "0", good
    assert _dossiers(signed_hub) == 1


def test_jws_and_the_adapter_door_are_verified_alike(
    signed_hub: RunningHub, test_pki: TestPki
) -> None:
    signed_hub.hub.accounts.set_signature_mode("tinh_thanhhoa", "required")
    session = signed_hub.login()
    body = _push(session)
    signer = _signer(test_pki, test_pki.agency(UNIT))
    answer = _send(signed_hub, body, header_value("jws", sign_jws(body, signer)))
    assert answer["error_code"] == "0", answer
    # the provincial adapter's door: the bare array is what is signed
    token = signed_hub.client.post(
        "/lgsp/token",
        content=b"grant_type=client_credentials",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "authorization": "Basic "
            + base64.b64encode(f"tinh_thanhhoa:{PASSWORD}".encode()).decode(),
        },
    ).json()["access_token"]
    records = orjson.dumps([copy.deepcopy(dossiers(2)[1])])
    bearer = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    query = {"MaDinhDanhDV": UNIT, "isUpdating": "False"}
    unsigned = signed_hub.client.post(
        "/lgsp/DongBoHoSoMC", params=query, content=records, headers=bearer
    )
    assert unsigned.json()["error_code"] == "50", unsigned.text
    signed = signed_hub.client.post(
        "/lgsp/DongBoHoSoMC",
        params=query,
        content=records,
        headers={**bearer, HEADER: header_value("cades", sign_cades(records, signer))},
    )
    assert signed.json()["error_code"] == "0", signed.text


def test_a_signature_made_by_openssl_is_accepted(
    signed_hub: RunningHub, test_pki: TestPki, openssl: str, tmp_path: Path
) -> None:
    signed_hub.hub.accounts.set_signature_mode("tinh_thanhhoa", "required")
    body = _push(signed_hub.login())
    agency = test_pki.agency(UNIT)
    (tmp_path / "body.json").write_bytes(body)
    subprocess.run(
        [
            openssl, "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256",
            "-in", str(tmp_path / "body.json"), "-signer", str(agency.certificate_path),
            "-inkey", str(agency.key_path), "-certfile", str(test_pki.chain_path),
            "-out", str(tmp_path / "body.p7s"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    signature = (tmp_path / "body.p7s").read_bytes()
    answer = _send(signed_hub, body, header_value("cades", signature))
    assert answer["error_code"] == "0", answer


def test_an_unreachable_revocation_source_is_retryable(engine: Engine, test_pki: TestPki) -> None:
    """No OCSP answer stapled, fetching off: the status cannot be known, never silently valid."""
    settings = HubSettings(
        port=free_port(),
        trust_anchors=str(test_pki.root.certificate_path),
        signature_mode="required",
        signature_fetch=False,
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, settings) as running:
        body = _push(running.login())
        answer = _send(running, body, _cades(test_pki, test_pki.agency(UNIT), body))
    assert (answer["error_code"], answer["http_status"], answer["retryable"]) == ("56", 503, True)


def test_a_certificate_of_a_unit_above_may_sign_for_the_units_below(
    signed_hub: RunningHub, test_pki: TestPki
) -> None:
    session = signed_hub.login()
    body = _push(session, unit=DISTRICT)
    answer = _send(signed_hub, body, _cades(test_pki, test_pki.agency(UNIT), body))
    assert answer["error_code"] == "0", answer


def test_the_log_shows_a_signatures_report_in_both_languages(
    tmp_path: Path, test_pki: TestPki, pki_services: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from lienthong.cli.main import app
    from lienthong.store.db import make_engine

    monkeypatch.delenv("LIENTHONG_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = HubSettings(
        database_url=url, port=free_port(), trust_anchors=str(test_pki.root.certificate_path)
    )
    hub = Hub(settings, engine=make_engine(url))
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, settings) as running:
        body = _push(running.login())
        header = _cades(test_pki, test_pki.agency(UNIT), body)
        assert _send(running, body, header)["error_code"] == "0"
        refused = _send(running, _push(running.login(), 2), header)  # another body
        assert refused["error_code"] == "51"
    with hub.sessions() as db:
        taken, other = db.scalars(select(MessageSignature.log_id).order_by(MessageSignature.id))
    shown = CliRunner().invoke(app, ["log", "show", str(taken), "--database", url])
    assert shown.exit_code == 0, shown.output
    for text in ("KẾT QUẢ KIỂM TRA CHỮ KÝ SỐ", "HỢP LỆ", "Hiệu lực tại thời điểm ký", "VALID"):
        assert text in shown.output, text
    assert "000.00.00.H56" in shown.output and "OCSP" in shown.output
    shown = CliRunner().invoke(app, ["log", "show", str(other), "--database", url])
    assert "INVALID" in shown.output and "Integrity" in shown.output


@pytest.fixture(scope="module")
def unreachable_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestPki, int]:
    """A PKI whose OCSP and CRL addresses name a loopback port nobody serves (yet)."""
    from lienthong.security.pki import create_test_pki

    port = free_port()
    pki = create_test_pki(
        tmp_path_factory.mktemp("dark") / "pki",
        units=[UNIT],
        base_url=f"http://127.0.0.1:{port}",
    )
    return pki, port


@pytest.mark.parametrize("responder", ["down", "garbage"])
def test_a_revocation_service_down_or_answering_garbage_is_retryable(
    engine: Engine, unreachable_pki: tuple[TestPki, int], responder: str
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.servers import serve_in_thread

    pki, port = unreachable_pki
    settings = HubSettings(
        port=free_port(),
        trust_anchors=str(pki.root.certificate_path),
        signature_mode="required",
        signature_fetch_timeout_seconds=3,
    )
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])

    async def garbage(request: Any) -> Response:
        media = (
            "application/ocsp-response" if "ocsp" in request.url.path else "application/pkix-crl"
        )
        return Response(b"\x30\x03\x0a\x01\x09 not DER", media_type=media)

    app = Starlette(routes=[Route("/{path:path}", garbage, methods=["GET", "POST"])])
    with contextlib.ExitStack() as stack:
        if responder == "garbage":
            stack.enter_context(serve_in_thread(app, port))
        running = stack.enter_context(serve(hub, settings))
        body = _push(running.login())
        answer = _send(running, body, _cades(pki, pki.agency(UNIT), body))
        assert (answer["error_code"], answer["http_status"]) == ("56", 503), answer
        assert answer["retryable"] is True
        assert _dossiers(running) == 0


def test_a_signing_time_ahead_of_the_hubs_clock_is_refused(
    signed_hub: RunningHub, test_pki: TestPki
) -> None:
    import datetime as dt

    body = _push(signed_hub.login())
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    signature = sign_cades(body, _signer(test_pki, test_pki.agency(UNIT)), signing_time=ahead)
    answer = _send(signed_hub, body, header_value("cades", signature))
    assert (answer["error_code"], answer["http_status"]) == ("51", 400), answer
    assert "thời điểm ký" in answer["message"].lower() or "signing time" in answer["message_en"]


def test_a_stream_of_signed_pushes_is_verified_from_the_cache(
    signed_hub: RunningHub, test_pki: TestPki
) -> None:
    cache = signed_hub.hub.signatures.cache
    assert cache is not None
    cache.clear()
    session = signed_hub.login()
    body = _push(session, 1)
    assert (
        _send(signed_hub, body, _cades(test_pki, test_pki.agency(UNIT), body))["error_code"] == "0"
    )
    first = cache.stats()
    assert first.entries == 3  # the signer's and the intermediate's OCSP answers, the path
    for sequence in (2, 3, 4):
        body = _push(session, sequence)
        answer = _send(signed_hub, body, _cades(test_pki, test_pki.agency(UNIT), body))
        assert answer["error_code"] == "0", answer
    later = cache.stats()
    # no miss, so no request to the CA: each push found its validated path
    assert later.misses == first.misses and later.hits == first.hits + 3
    with signed_hub.hub.sessions() as db:
        results = db.scalars(select(MessageSignature.result).order_by(MessageSignature.id)).all()
    # each push still keeps the chain and the revocation answers that validated it
    assert len(results) == 4
    assert all(len(r["chain"]) == 3 and len(r["revocation"]) == 2 for r in results)
    # a refused signature leaves nothing of its own in the cache
    body = _push(session, 5)
    expired = _send(signed_hub, body, _cades(test_pki, test_pki.expired, body))
    assert expired["error_code"] == "54" and cache.stats().entries == later.entries
