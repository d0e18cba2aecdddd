"""Detached JWS with an unencoded payload: verified by a second implementation written from
RFC 7515/7797 on cryptography alone, and by joserfc, for every kind of signer."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.errors import BadSignatureError

from lienthong.security.jws import sign_jws
from lienthong.security.signers import FileSigner, Pkcs11Signer, Signer, SignerError
from tests.security.interop import verify_jws, verify_jws_with_joserfc
from tests.security.openssl_chain import (
    TOKEN_LABEL,
    TOKEN_PIN,
    Chain,
    openssl_chain,
    softhsm_token,
)

__all__ = ["openssl_chain", "softhsm_token"]

BODY = '{"service":"DongBoHoSoMC","data":[{"ChuHoSo":"Trần Thị Bình"}]}'.encode()
MOMENT = dt.datetime(2026, 3, 2, 15, 30, 15, 500000, tzinfo=dt.timezone(dt.timedelta(hours=7)))

KINDS = {
    "file-rsa-pss": ("rsa", None, "PS256"),
    "file-rsa-pkcs1v15": ("rsa", "rsassa_pkcs1v15", "RS256"),
    "file-ecdsa": ("ec", None, "ES256"),
    "pkcs11-rsa-pss": ("agency-rsa", None, "PS256"),
    "pkcs11-ecdsa": ("agency-ec", None, "ES256"),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest, openssl_chain: Chain) -> Iterator[tuple[Signer, str]]:
    name, scheme, alg = KINDS[request.param]
    if request.param.startswith("pkcs11"):
        module = request.getfixturevalue("softhsm_token")
        chain = [openssl_chain.intermediate_certificate()]
        with Pkcs11Signer(module, TOKEN_LABEL, TOKEN_PIN, name, chain=chain) as token:
            yield token, alg
        return
    leaf = getattr(openssl_chain, name)
    yield FileSigner.from_pem(leaf.certificate, leaf.key, scheme=scheme), alg


def test_a_second_implementation_verifies_it(kind: tuple[Signer, str]) -> None:
    signer, alg = kind
    compact = sign_jws(BODY, signer, signing_time=MOMENT)
    header = verify_jws(compact, BODY)
    assert header["alg"] == alg
    assert header["sigT"] == "2026-03-02T08:30:15Z"
    x5c = [base64.b64decode(c) for c in header["x5c"]]
    assert x5c == [c.public_bytes(Encoding.DER) for c in (signer.certificate, *signer.chain)]
    assert set(header) == {"alg", "b64", "crit", "x5c", "sigT"}
    verify_jws_with_joserfc(compact, BODY)
    tampered = BODY.replace(b"Tr", b"Tv")
    with pytest.raises(InvalidSignature):
        verify_jws(compact, tampered)
    with pytest.raises(BadSignatureError):
        verify_jws_with_joserfc(compact, tampered)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=2048), index=st.integers(min_value=0))
def test_any_body_verifies_and_any_changed_byte_does_not(
    openssl_chain: Chain, body: bytes, index: int
) -> None:
    signer = FileSigner.from_pem(openssl_chain.ec.certificate, openssl_chain.ec.key)
    compact = sign_jws(body, signer)
    verify_jws(compact, body)
    if body:
        changed = bytearray(body)
        changed[index % len(body)] ^= 0x01
        with pytest.raises(InvalidSignature):
            verify_jws(compact, bytes(changed))


def test_digests_jws_cannot_name_are_refused(openssl_chain: Chain) -> None:
    for leaf, digest in ((openssl_chain.rsa, "sha3_256"), (openssl_chain.ec, "sha384")):
        signer = FileSigner.from_pem(leaf.certificate, leaf.key, digest=digest)
        with pytest.raises(SignerError) as refused:
            sign_jws(BODY, signer)
        assert refused.value.code == "jws.algorithm"


def test_a_naive_signing_time_is_refused(openssl_chain: Chain) -> None:
    signer = FileSigner.from_pem(openssl_chain.ec.certificate, openssl_chain.ec.key)
    with pytest.raises(ValueError, match="timezone"):
        sign_jws(BODY, signer, signing_time=dt.datetime(2026, 1, 1))
