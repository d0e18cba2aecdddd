"""The revocation cache (lienthong.security.revocation_cache) against the test PKI's real OCSP and
CRL services, counting the requests they get: a stream of signatures from one signer costs no
request after the first; an answer past its nextUpdate is not used, so a later revocation is
seen; revoked stays revoked; nothing is kept from a verification without conclusion."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from starlette.types import ASGIApp, Receive, Scope, Send

from lienthong.security.cades import sign_cades
from lienthong.security.pki import TestPki, create_test_pki
from lienthong.security.revocation_cache import RevocationCache, ocsp_next_update
from lienthong.security.services import PkiServices, create_app
from lienthong.security.signers import FileSigner
from lienthong.security.verify import Status, Verification, VerifyContext, verify_cades
from tests.servers import free_port, serve_in_thread

UNIT = "000.00.00.H56"
EC_UNIT = "000.00.00.H60"


class Counted:
    """The services' app, counting the HTTP requests it answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.requests = app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@dataclasses.dataclass
class Served:
    pki: TestPki
    counted: Counted
    clock: Clock
    """The services' clock."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A PKI of its own (a test here revokes a certificate), its services counting requests."""
    port = free_port()
    pki = create_test_pki(
        tmp_path_factory.mktemp("pki-cache") / "pki", base_url=f"http://127.0.0.1:{port}"
    )
    clock = Clock()
    counted = Counted(create_app(pki, clock))
    with serve_in_thread(counted, port):
        yield Served(pki, counted, clock)


def _signer(pki: TestPki, unit: str) -> FileSigner:
    entry = pki.agency(unit)
    return FileSigner(entry.private_key(), entry.certificate, pki.chain_of(entry))


def _verify(pki: TestPki, cache: RevocationCache | None, body: bytes, **sign: Any) -> Verification:
    context = VerifyContext(
        trust_anchors=(pki.root.certificate,), allow_fetching=True, revocation_cache=cache
    )
    return verify_cades(body, sign_cades(body, sign.pop("signer"), **sign), context)


def test_a_stream_of_signatures_costs_no_request_after_the_first(served: Served) -> None:
    cache = RevocationCache()
    signer = _signer(served.pki, UNIT)
    before = served.counted.requests
    first = _verify(served.pki, cache, b'{"n": 0}', signer=signer)
    assert first.status is Status.VALID, first.en
    assert served.counted.requests - before == 2  # the signer's and the intermediate's OCSP
    after_first = served.counted.requests
    for number in range(1, 6):
        result = _verify(served.pki, cache, b'{"n": %d}' % number, signer=signer)
        assert result.status is Status.VALID, result.en
        # the evidence kept with each message: the same chain and answers
        assert result.chain == first.chain and len(result.chain) == 3
        assert {item.der for item in result.revocation} == {item.der for item in first.revocation}
    assert served.counted.requests == after_first
    assert cache.stats().hits >= 5
    # without the cache, every message asks again
    _verify(served.pki, None, b"{}", signer=signer)
    assert served.counted.requests == after_first + 2


def test_the_signers_stapled_answer_spares_its_request(served: Served) -> None:
    signer = _signer(served.pki, EC_UNIT)
    probe = _verify(served.pki, RevocationCache(), b"{}", signer=signer)
    serial = signer.certificate.serial_number
    stapled = next(
        item.der
        for item in probe.revocation
        if item.kind == "ocsp" and ocsp_next_update(item.der, serial) is not None
    )
    cache = RevocationCache()
    before = served.counted.requests
    result = _verify(served.pki, cache, b'{"a": 1}', signer=signer, ocsp_response=stapled)
    assert result.status is Status.VALID, result.en
    assert served.counted.requests - before == 1  # the intermediate's only
    assert ("ocsp", "stapled") in {(item.kind, item.origin) for item in result.revocation}


def test_an_answer_past_its_next_update_is_not_used_and_revoked_stays_revoked(
    served: Served,
) -> None:
    clock = served.clock  # the CA's and the cache's
    cache = RevocationCache(max_age_seconds=10 * 86_400, clock=clock)
    signer = _signer(served.pki, EC_UNIT)
    assert _verify(served.pki, cache, b"{}", signer=signer).status is Status.VALID
    name = f"agency-{EC_UNIT}"
    entries = served.pki.entries
    assert isinstance(entries, dict)
    original = entries[name]
    # the CA revokes the certificate after its answer was cached
    entries[name] = dataclasses.replace(
        original, revoked_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    try:
        requests = served.counted.requests
        cached = _verify(served.pki, cache, b'{"b": 1}', signer=signer)
        # until its nextUpdate, the cached answer stands (as the CA said it would)
        assert cached.status is Status.VALID and served.counted.requests == requests
        clock.now += dt.timedelta(days=1, minutes=1)  # past the answer's nextUpdate
        revoked = _verify(served.pki, cache, b'{"b": 2}', signer=signer)
        assert revoked.status is Status.REVOKED, revoked.en
        assert served.counted.requests > requests
        requests = served.counted.requests
        again = _verify(served.pki, cache, b'{"b": 3}', signer=signer)
        assert again.status is Status.REVOKED and served.counted.requests == requests
    finally:
        entries[name] = original
        clock.now = dt.datetime.now(dt.UTC)


def test_a_verification_without_conclusion_keeps_nothing(tmp_path: Path) -> None:
    port = free_port()
    pki = create_test_pki(tmp_path / "pki", base_url=f"http://127.0.0.1:{port}")
    cache = RevocationCache()
    signer = _signer(pki, UNIT)
    # nothing answers at the PKI's address yet
    down = _verify(pki, cache, b"{}", signer=signer)
    assert down.status is Status.INDETERMINATE and down.retryable, down.en
    assert cache.stats().entries == 0
    with serve_in_thread(create_app(pki), port):
        up = _verify(pki, cache, b"{}", signer=signer)
    assert up.status is Status.VALID, up.en
    assert cache.stats().entries == 3  # two answers and the path


# -- the cache alone ---------------------------------------------------------------------------


def _answer(pki: TestPki, name: str, clock: Clock) -> tuple[asn1_x509.Certificate, bytes]:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(
            pki.entries[name].certificate, pki.intermediate.certificate, hashes.SHA256()
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    status, der = PkiServices(pki, clock).ocsp_answer(request)
    assert status == 200
    return asn1_x509.Certificate.load(pki.entries[name].der), der


def test_answers_are_kept_until_next_update_and_within_the_bounds(served: Served) -> None:
    clock = Clock()
    pki = served.pki
    certificate, der = _answer(pki, f"agency-{UNIT}", clock)
    next_update = ocsp_next_update(der)
    assert next_update is not None and next_update > clock.now
    cache = RevocationCache(max_age_seconds=10 * 86_400, clock=clock)
    assert cache.store_ocsp(certificate, der) and cache.ocsp(certificate) == der
    clock.now = next_update  # an answer is not used at or past its nextUpdate
    assert cache.ocsp(certificate) is None and cache.stats().entries == 0
    # the maximum age bounds an answer whose nextUpdate lies further
    clock.now = dt.datetime.now(dt.UTC)
    short = RevocationCache(max_age_seconds=60, clock=clock)
    assert short.store_ocsp(certificate, der)
    clock.now += dt.timedelta(seconds=61)
    assert short.ocsp(certificate) is None
    # and the count: the least recently used goes first
    clock.now = dt.datetime.now(dt.UTC)
    small = RevocationCache(max_entries=2, clock=clock)
    answers = [_answer(pki, name, clock) for name in (f"agency-{UNIT}", "hub", "revoked")]
    for cert, data in answers:
        assert small.store_ocsp(cert, data)
    assert small.ocsp(answers[0][0]) is None and small.ocsp(answers[2][0]) == answers[2][1]
    assert small.stats().entries == 2 and small.stats().evicted == 1


def test_an_unsuccessful_or_stale_answer_is_never_kept(served: Served) -> None:
    clock = Clock()
    certificate, der = _answer(served.pki, f"agency-{UNIT}", clock)
    cache = RevocationCache(clock=clock)
    refused = ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.TRY_LATER
    ).public_bytes(serialization.Encoding.DER)
    assert not cache.store_ocsp(certificate, refused)
    assert not cache.store_ocsp(certificate, b"garbage")
    other, _ = _answer(served.pki, "hub", clock)
    assert not cache.store_ocsp(other, der)  # an answer about another certificate
    clock.now += dt.timedelta(days=2)  # past its nextUpdate already
    assert not cache.store_ocsp(certificate, der)
    assert cache.stats().entries == 0
    with pytest.raises(ValueError):
        RevocationCache(max_entries=0)
    assert isinstance(x509.load_der_x509_certificate(served.pki.hub.der), x509.Certificate)
