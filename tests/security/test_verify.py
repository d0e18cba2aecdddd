"""Verification of detached CAdES and JWS signatures against an openssl-made PKI: every status,
and bad bytes answered with a status, never an exception."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lienthong.security.policy import AlgorithmPolicy, SignaturePolicy
from lienthong.security.verify import (
    Status,
    Verification,
    VerifyContext,
    verify_cades,
    verify_jws,
)
from tests.security.openssl_pki import (
    OTHER_UNIT,
    UNIT,
    OpensslPki,
    b64url,
    build_cms,
    make_jws,
    openssl_pki,
    staple,
)

__all__ = ["openssl_pki"]  # the fixture, imported for pytest

BODY = b'{"service":"DongBoHoSoMC","madonvi":"000.00.00.H56","data":[{"MaHoSo":"H56.1"}]}'


def context(pki: OpensslPki, **settings: Any) -> VerifyContext:
    base: dict[str, Any] = {
        "trust_anchors": (pki.cert("root"),),
        "crls": pki.crls,
        "unit": UNIT,
    }
    return VerifyContext(**{**base, **settings})


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def check(result: Verification, status: Status, reason: str | None = None) -> None:
    assert result.status is status, (result.status, result.reason, result.en)
    if reason is not None:
        assert result.reason == reason, (result.reason, result.en)
    assert result.vi and result.en and result.vi != result.en
    json.dumps(result.as_dict())


# --- CAdES made by openssl cms -sign --------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "options", "scheme"),
    [
        ("rsa", {"pss": True}, "rsassa_pss"),
        ("rsa", {}, "rsassa_pkcs1v15"),
        ("ecdsa", {}, "ecdsa"),
        ("rsa", {"cades": False}, "rsassa_pkcs1v15"),
        ("rsa", {"pem": True, "digest": "sha384"}, "rsassa_pkcs1v15"),
    ],
)
def test_openssl_signatures_are_valid(
    openssl_pki: OpensslPki, leaf: str, options: dict[str, Any], scheme: str
) -> None:
    signature = openssl_pki.sign_cms(leaf, BODY, **options)
    result = verify_cades(BODY, signature, context(openssl_pki))
    check(result, Status.VALID, "valid")
    assert result.valid and not result.retryable and result.integrity is True
    assert result.scheme == scheme and result.digest == options.get("digest", "sha256")
    assert result.unit == UNIT and result.organisation == "UBND tỉnh Thử nghiệm"
    assert result.signer == f"Sở Thử nghiệm ({leaf})"
    assert result.issuer == "CA phục vụ các cơ quan (giả lập)"
    assert result.signing_time is not None and abs(result.signing_time - now()) < timedelta(
        minutes=5
    )
    # The chain runs from the signer to the anchor; the CRLs used are kept as evidence.
    assert len(result.chain) == 3
    assert x509.load_der_x509_certificate(result.chain[0]) == openssl_pki.cert(leaf)
    assert x509.load_der_x509_certificate(result.chain[-1]) == openssl_pki.cert("root")
    assert {(item.kind, item.origin) for item in result.revocation} == {("crl", "configured")}
    assert {item.der for item in result.revocation} == set(openssl_pki.crls)


def test_one_byte_flipped_in_the_body_is_invalid(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("rsa", BODY)
    tampered = BODY.replace(b"H56.1", b"H56.2")
    result = verify_cades(tampered, signature, context(openssl_pki))
    check(result, Status.INVALID, "signature.digest_mismatch")
    assert result.integrity is False and not result.retryable
    assert "toàn vẹn" in result.vi and "integrity" in result.en


def test_a_signature_over_another_body_is_invalid(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("ecdsa", b'{"another": "body"}')
    check(verify_cades(BODY, signature, context(openssl_pki)), Status.INVALID)


@pytest.fixture(scope="module")
def signed_pair(openssl_pki: OpensslPki) -> tuple[bytes, bytes]:
    return BODY, openssl_pki.sign_cms("rsa", BODY, pss=True)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_single_byte_change_is_never_valid(
    openssl_pki: OpensslPki, signed_pair: tuple[bytes, bytes], data: st.DataObject
) -> None:
    body, signature = signed_pair
    in_body = data.draw(st.booleans(), label="in_body")
    target = body if in_body else signature
    index = data.draw(st.integers(0, len(target) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != target[index]), label="value")
    changed = target[:index] + bytes([value]) + target[index + 1 :]
    if in_body:
        result = verify_cades(changed, signature, context(openssl_pki))
    else:
        result = verify_cades(body, changed, context(openssl_pki))
    assert result.status is not Status.VALID, (in_body, index, value)


def test_the_signer_identifier_must_name_the_certificate_byte_for_byte(
    openssl_pki: OpensslPki,
) -> None:
    """Names compare case-insensitively and Vietnamese letters differ from their capitals by one
    bit (ụ, Ụ): a changed case in the unsigned signer identifier must still be refused."""
    # Without -cades: no signing-certificate-v2 repeats the issuer after the identifier.
    signature = openssl_pki.sign_cms("rsa", BODY, cades=False)
    lower, upper = "phục".encode(), "phỤc".encode()
    at = signature.rfind(lower)  # the signer identifier comes after the certificates
    changed = signature[:at] + upper + signature[at + len(lower) :]
    check(
        verify_cades(BODY, changed, context(openssl_pki)),
        Status.INVALID,
        "signature.no_certificate",
    )


def test_the_unit_must_be_the_envelopes_or_above_it(openssl_pki: OpensslPki) -> None:
    other = openssl_pki.sign_cms("other_unit", BODY)
    result = verify_cades(BODY, other, context(openssl_pki))
    check(result, Status.WRONG_UNIT, "certificate.wrong_unit")
    assert result.unit == OTHER_UNIT and UNIT in result.en and not result.retryable
    # A unit under the certificate's own (000.00.13.H56 lies under 000.00.00.H56).
    own = openssl_pki.sign_cms("rsa", BODY)
    check(verify_cades(BODY, own, context(openssl_pki, unit="000.00.13.H56")), Status.VALID)
    # ... but not a unit above it or beside it.
    check(verify_cades(BODY, own, context(openssl_pki, unit="000.00.00.G22")), Status.WRONG_UNIT)
    # A configured mapping lets a certificate sign for more units.
    fingerprint = verify_cades(BODY, other, context(openssl_pki, unit=None)).fingerprint
    assert fingerprint is not None
    mapped = context(openssl_pki, unit_mapping={fingerprint: frozenset({UNIT})})
    check(verify_cades(BODY, other, mapped), Status.VALID)


def test_revoked_before_the_signing_time_is_revoked(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("revoked", BODY)
    result = verify_cades(BODY, signature, context(openssl_pki))
    check(result, Status.REVOKED, "certificate.revoked")
    assert not result.retryable and result.integrity is True
    assert result.revoked_at is not None and result.signing_time is not None
    assert result.revoked_at < result.signing_time
    assert "thu hồi" in result.vi


def _crl_revoking(
    pki: OpensslPki, certificate: x509.Certificate, revoked_at: datetime, issued_at: datetime
) -> bytes:
    key = pki.key("intermediate")
    assert isinstance(key, rsa.RSAPrivateKey)
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(certificate.serial_number)
        .revocation_date(revoked_at)
        .build()
    )
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.cert("intermediate").subject)
        .last_update(issued_at)
        .next_update(issued_at + timedelta(days=7))
        .add_revoked_certificate(entry)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_revoked_after_the_signing_time_was_valid_then_and_says_so(
    openssl_pki: OpensslPki,
) -> None:
    signed_at = now() - timedelta(hours=3)
    certificate = openssl_pki.cert("rsa")
    signature = build_cms(
        certificate,
        openssl_pki.key("rsa"),
        BODY,
        signing_time=signed_at,
        chain=(openssl_pki.cert("intermediate"),),
    )
    later = _crl_revoking(openssl_pki, certificate, signed_at + timedelta(hours=1), now())
    result = verify_cades(
        BODY, signature, context(openssl_pki, crls=(openssl_pki.crl("root"), later))
    )
    check(result, Status.VALID, "valid.revoked_later")
    assert result.revoked_at == signed_at + timedelta(hours=1)
    assert "sau đó" in result.vi and "revoked later" in result.en
    # The same CRL dated a revocation before the signing time: revoked.
    earlier = _crl_revoking(openssl_pki, certificate, signed_at - timedelta(hours=1), now())
    result = verify_cades(
        BODY, signature, context(openssl_pki, crls=(openssl_pki.crl("root"), earlier))
    )
    check(result, Status.REVOKED)


def test_expired_at_the_signing_time_is_expired(openssl_pki: OpensslPki) -> None:
    result = verify_cades(BODY, openssl_pki.sign_cms("expired", BODY), context(openssl_pki))
    check(result, Status.EXPIRED, "certificate.expired")
    assert result.not_after is not None and result.not_after.year == 2021
    assert not result.retryable


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda pki: pki.sign_cms("sha1", BODY), "algorithm.refused_in_path"),
        (lambda pki: pki.sign_cms("rsa", BODY, digest="sha1"), "algorithm.refused"),
        (lambda pki: pki.sign_cms("rsa1024", BODY), "algorithm.refused"),
        (
            lambda pki: build_cms(
                pki.cert("ed25519"),
                pki.key("ed25519"),
                BODY,
                signing_time=now(),
                chain=(pki.cert("intermediate"),),
                digest="sha512",
            ),
            "algorithm.refused",
        ),
    ],
    ids=["sha1-signed-certificate", "sha1-digest", "rsa-1024", "ed25519"],
)
def test_weak_algorithms_and_keys_are_refused(
    openssl_pki: OpensslPki, make: Any, reason: str
) -> None:
    result = verify_cades(BODY, make(openssl_pki), context(openssl_pki))
    check(result, Status.WEAK, reason)
    assert "15/2025" in result.vi or "không được phép" in result.vi
    assert not result.retryable


def test_a_stricter_policy_refuses_what_the_default_takes(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("rsa", BODY)
    strict = context(openssl_pki, algorithms=AlgorithmPolicy(rsa_pkcs1v15=False))
    check(verify_cades(BODY, signature, strict), Status.WEAK)


def test_an_unknown_root_is_untrusted(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("rsa", BODY)
    result = verify_cades(
        BODY, signature, context(openssl_pki, trust_anchors=(openssl_pki.cert("stranger"),))
    )
    check(result, Status.UNTRUSTED, "certificate.untrusted")
    assert result.integrity is True and result.chain  # the signer's certificate is kept
    check(verify_cades(BODY, signature, context(openssl_pki, trust_anchors=())), Status.UNTRUSTED)


def test_a_certificate_not_meant_for_signing_is_untrusted(openssl_pki: OpensslPki) -> None:
    result = verify_cades(BODY, openssl_pki.sign_cms("tls", BODY), context(openssl_pki))
    check(result, Status.UNTRUSTED, "certificate.usage")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: b"",
        lambda s: b"garbage",
        lambda s: s[: len(s) // 2],
        lambda s: s[:-1],
        lambda s: s + b"\x00",
        lambda s: b"-----BEGIN CMS-----\nbm90IGNtcw==\n-----END CMS-----\n",
        lambda s: bytes(range(256)) * 4,
        lambda s: s.replace(
            b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02", b"\x06\x09" + bytes(9), 1
        ),
    ],
    ids=[
        "empty",
        "garbage",
        "half",
        "truncated",
        "trailing",
        "pem-garbage",
        "noise",
        "not-signed-data",
    ],
)
def test_garbage_and_truncated_signatures_are_invalid_never_an_exception(
    openssl_pki: OpensslPki, mangle: Any
) -> None:
    result = verify_cades(BODY, mangle(openssl_pki.sign_cms("rsa", BODY)), context(openssl_pki))
    check(result, Status.INVALID)
    assert result.reason.startswith("signature.") and not result.retryable
    assert "định dạng" in result.vi or "toàn vẹn" in result.vi or "chứng thư" in result.vi


def test_no_revocation_data_without_fetching_is_indeterminate(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("rsa", BODY)
    result = verify_cades(BODY, signature, context(openssl_pki, crls=()))
    check(result, Status.INDETERMINATE, "revocation.unavailable")
    assert result.retryable and not result.valid
    assert "thử lại" in result.vi and "try again" in result.en


def test_an_unreachable_responder_is_indeterminate(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("rsa", BODY)
    result = verify_cades(
        BODY,
        signature,
        context(openssl_pki, crls=(), allow_fetching=True, fetch_timeout_seconds=2),
    )
    check(result, Status.INDETERMINATE)
    assert result.retryable


def test_a_stapled_ocsp_answer_stands_for_the_crl(openssl_pki: OpensslPki) -> None:
    root_crl_only = context(openssl_pki, crls=(openssl_pki.crl("root"),))
    good = staple(openssl_pki.sign_cms("rsa", BODY), openssl_pki.ocsp("rsa"))
    result = verify_cades(BODY, good, root_crl_only)
    check(result, Status.VALID)
    assert ("ocsp", "stapled") in {(item.kind, item.origin) for item in result.revocation}
    revoked = staple(openssl_pki.sign_cms("revoked", BODY), openssl_pki.ocsp("revoked"))
    check(verify_cades(BODY, revoked, root_crl_only), Status.REVOKED)
    # An OCSP answer about another certificate does not stand for this one.
    wrong = staple(openssl_pki.sign_cms("rsa", BODY), openssl_pki.ocsp("ecdsa"))
    check(verify_cades(BODY, wrong, root_crl_only), Status.INDETERMINATE)


def test_a_signing_time_beyond_the_clock_skew_is_refused(openssl_pki: OpensslPki) -> None:
    def signed_at(moment: datetime) -> bytes:
        return build_cms(
            openssl_pki.cert("rsa"),
            openssl_pki.key("rsa"),
            BODY,
            signing_time=moment,
            chain=(openssl_pki.cert("intermediate"),),
        )

    future = verify_cades(BODY, signed_at(now() + timedelta(hours=1)), context(openssl_pki))
    check(future, Status.INVALID, "signing_time.future")
    assert "tương lai" in future.vi
    check(
        verify_cades(BODY, signed_at(now() + timedelta(seconds=60)), context(openssl_pki)),
        Status.VALID,
    )
    old = signed_at(now() - timedelta(days=2))
    check(verify_cades(BODY, old, context(openssl_pki)), Status.VALID)
    bounded = context(openssl_pki, max_age_seconds=3600)
    check(verify_cades(BODY, old, bounded), Status.INVALID, "signing_time.too_old")


def test_a_context_follows_the_hubs_signature_policy(openssl_pki: OpensslPki) -> None:
    signature = openssl_pki.sign_cms("other_unit", BODY)
    policy = SignaturePolicy(bind_unit=False, clock_skew_seconds=5)
    unbound = VerifyContext.for_policy(
        policy, [openssl_pki.cert("root")], crls=openssl_pki.crls, unit=UNIT
    )
    assert unbound.unit is None and unbound.clock_skew_seconds == 5
    check(verify_cades(BODY, signature, unbound), Status.VALID)


# --- JWS (RFC 7515 detached, RFC 7797 unencoded payload), made with cryptography directly -----


@pytest.mark.parametrize(("leaf", "alg"), [("rsa", "PS256"), ("rsa", "RS384"), ("ecdsa", "ES256")])
def test_jws_signatures_are_valid(openssl_pki: OpensslPki, leaf: str, alg: str) -> None:
    result = verify_jws(BODY, make_jws(openssl_pki, leaf, BODY, alg), context(openssl_pki))
    check(result, Status.VALID)
    assert result.format == "jws" and result.unit == UNIT and len(result.chain) == 3


def test_jws_tampering_is_invalid(openssl_pki: OpensslPki) -> None:
    token = make_jws(openssl_pki, "ecdsa", BODY, "ES256")
    check(
        verify_jws(BODY + b" ", token, context(openssl_pki)), Status.INVALID, "signature.mismatch"
    )
    header, _, signature = token.split(".")
    short = f"{header}..{signature[:-4]}"
    check(verify_jws(BODY, short, context(openssl_pki)), Status.INVALID)


@pytest.mark.parametrize("alg", ["none", "HS256", "EdDSA", "RS1"])
def test_jws_algorithms_outside_the_list_are_refused(openssl_pki: OpensslPki, alg: str) -> None:
    token = make_jws(openssl_pki, "rsa", BODY, "RS256")
    header_b64, _, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=="))
    forged = b64url(json.dumps({**header, "alg": alg}).encode())
    check(verify_jws(BODY, f"{forged}..{signature}", context(openssl_pki)), Status.WEAK)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "not base64!..sig",
        "eyJhbGciOiJSUzI1NiJ9.cGF5bG9hZA.c2ln",  # attached payload
        b64url(b"[1,2]") + "..c2ln",
        b64url(b'{"alg":"RS256"}') + "..c2ln",  # b64/crit missing, no x5c
    ],
)
def test_malformed_jws_is_invalid(openssl_pki: OpensslPki, token: str) -> None:
    check(verify_jws(BODY, token, context(openssl_pki)), Status.INVALID)


def test_jws_header_rules(openssl_pki: OpensslPki) -> None:
    encoded = make_jws(openssl_pki, "rsa", BODY, "RS256", b64=True, crit=[])
    check(verify_jws(BODY, encoded, context(openssl_pki)), Status.INVALID, "signature.malformed")
    unknown_crit = make_jws(openssl_pki, "rsa", BODY, "RS256", crit=["b64", "exp"])
    check(verify_jws(BODY, unknown_crit, context(openssl_pki)), Status.INVALID)
    future = make_jws(openssl_pki, "rsa", BODY, "PS256", signing_time=now() + timedelta(hours=2))
    check(verify_jws(BODY, future, context(openssl_pki)), Status.INVALID, "signing_time.future")
    stranger = context(openssl_pki, trust_anchors=(openssl_pki.cert("stranger"),))
    check(verify_jws(BODY, make_jws(openssl_pki, "rsa", BODY, "PS256"), stranger), Status.UNTRUSTED)
    revoked = make_jws(openssl_pki, "revoked", BODY, "RS256")
    check(verify_jws(BODY, revoked, context(openssl_pki)), Status.REVOKED)
    other = make_jws(openssl_pki, "other_unit", BODY, "RS256")
    check(verify_jws(BODY, other, context(openssl_pki)), Status.WRONG_UNIT)


def test_the_synchronous_verification_works_inside_a_running_event_loop(
    openssl_pki: OpensslPki,
) -> None:
    """An app factory (uvicorn --factory) checks its keys at start inside the server's loop."""
    signature = openssl_pki.sign_cms("rsa", BODY, pss=True)

    async def inside_a_loop() -> Verification:
        return verify_cades(BODY, signature, context(openssl_pki))

    check(asyncio.run(inside_a_loop()), Status.VALID, "valid")
