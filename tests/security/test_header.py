"""The X-Lienthong-Signature header: what is written is read back; truncated, garbage and
oversized values are refused with a code before any cryptography runs."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lienthong.security.cades import sign_cades
from lienthong.security.header import (
    MAX_HEADER_LENGTH,
    SignatureHeaderError,
    header_value,
    parse_header,
)
from lienthong.security.jws import sign_jws
from lienthong.security.signers import FileSigner
from tests.security.openssl_chain import Chain, openssl_chain

__all__ = ["openssl_chain"]

BODY = b'{"service":"DongBoHoSoMC","data":[]}'


@pytest.fixture(scope="module")
def cades_value(openssl_chain: Chain) -> str:
    signer = FileSigner.from_pem(openssl_chain.rsa.certificate, openssl_chain.rsa.key)
    return header_value("cades", sign_cades(BODY, signer))


@pytest.fixture(scope="module")
def jws_value(openssl_chain: Chain) -> str:
    signer = FileSigner.from_pem(openssl_chain.ec.certificate, openssl_chain.ec.key)
    return header_value("jws", sign_jws(BODY, signer))


def test_what_is_written_is_read_back(cades_value: str, jws_value: str) -> None:
    carried = parse_header(cades_value)
    assert carried.format == "cades" and carried.jws is None
    assert carried.cades == base64.b64decode(cades_value.removeprefix("cades; "))
    carried = parse_header(jws_value)
    assert carried.format == "jws" and carried.cades is None
    assert carried.jws == jws_value.removeprefix("jws; ")
    spaced = "  CADES;" + cades_value.removeprefix("cades;") + " "
    assert parse_header(spaced) == parse_header(cades_value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "signature_header.malformed"),
        ("cades", "signature_header.malformed"),
        ("cades;", "signature_header.malformed"),
        ("cades; abc def", "signature_header.malformed"),
        ("MIIB", "signature_header.malformed"),
        ("xades; MIIB", "signature_header.format"),
        ("cades; !!!!", "signature_header.cades"),
        ("cades; MIIB", "signature_header.cades"),
        ("cades; " + base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "signature_header.cades"),
        ("jws; a.b.c", "signature_header.jws"),
        ("jws; a..", "signature_header.jws"),
        ("jws; e30..c2ln", "signature_header.jws"),
        ("jws; bm90IGpzb24..c2ln", "signature_header.jws"),
        ("cades; " + "A" * MAX_HEADER_LENGTH, "signature_header.too_long"),
    ],
)
def test_garbage_is_refused_with_its_code(value: str, code: str) -> None:
    with pytest.raises(SignatureHeaderError) as refused:
        parse_header(value)
    assert refused.value.code == code and refused.value.vi and refused.value.en
    assert refused.value.retryable is False


def test_cms_that_is_not_signed_data_is_refused(openssl_chain: Chain) -> None:
    certificate = openssl_chain.rsa.load().public_bytes(Encoding.DER)  # a SEQUENCE, not CMS
    with pytest.raises(SignatureHeaderError) as refused:
        parse_header(header_value("cades", certificate))
    assert refused.value.code == "signature_header.cades"


def test_the_wrong_type_for_a_format_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        header_value("cades", "text")
    with pytest.raises(TypeError):
        header_value("jws", b"der")


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1))
def test_every_truncation_of_a_cades_header_is_refused(cades_value: str, cut: int) -> None:
    keep = len("cades; ") + cut % (len(cades_value) - len("cades; "))
    with pytest.raises(SignatureHeaderError):
        parse_header(cades_value[:keep])


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1))
def test_every_truncation_of_an_ecdsa_jws_header_is_refused(jws_value: str, cut: int) -> None:
    keep = len("jws; ") + cut % (len(jws_value) - len("jws; "))
    with pytest.raises(SignatureHeaderError):
        parse_header(jws_value[:keep])
