"""CAdES-B-B detached signatures: verified by ``openssl cms -verify`` against the openssl-made
root, for every kind of signer, with the attributes the circular and ETSI EN 319 122 name."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, tsp
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lienthong.security.cades import sign_cades
from lienthong.security.signers import FileSigner, Pkcs11Signer, Signer, SignerError
from tests.security.interop import openssl_cms, openssl_print
from tests.security.openssl_chain import (
    TOKEN_LABEL,
    TOKEN_PIN,
    Chain,
    Leaf,
    openssl,
    openssl_chain,
    softhsm_token,
)

__all__ = ["openssl_chain", "softhsm_token"]

BODY = (
    '{"service":"DongBoHoSoMC","madonvi":"000.00.00.H56",'
    '"data":[{"MaHoSo":"000.00.00.H56-260302-0001","ChuHoSo":"Nguyễn Văn An"}]}'
).encode()
MOMENT = dt.datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=dt.UTC)


def file_signer(leaf: str, scheme: str | None = None) -> Callable[[Chain, str | None], Signer]:
    def make(chain: Chain, module: str | None) -> Signer:
        material: Leaf = getattr(chain, leaf)
        return FileSigner.from_pem(material.certificate, material.key, scheme=scheme)

    return make


def token_signer(label: str) -> Callable[[Chain, str | None], Signer]:
    def make(chain: Chain, module: str | None) -> Signer:
        return Pkcs11Signer(
            module, TOKEN_LABEL, TOKEN_PIN, label, chain=[chain.intermediate_certificate()]
        )

    return make


SIGNERS = {
    "file-rsa-pss": file_signer("rsa"),
    "file-rsa-pkcs1v15": file_signer("rsa", "rsassa_pkcs1v15"),
    "file-ecdsa": file_signer("ec"),
    "pkcs11-rsa-pss": token_signer("agency-rsa"),
    "pkcs11-ecdsa": token_signer("agency-ec"),
}


@pytest.fixture(params=sorted(SIGNERS))
def signer(request: pytest.FixtureRequest, openssl_chain: Chain) -> Iterator[Signer]:
    module = (
        request.getfixturevalue("softhsm_token") if request.param.startswith("pkcs11") else None
    )
    made = SIGNERS[request.param](openssl_chain, module)
    yield made
    if isinstance(made, Pkcs11Signer):
        made.close()


def signed_attributes(signature: bytes) -> dict[str, Any]:
    signed_data = cms.ContentInfo.load(signature)["content"]
    attributes = signed_data["signer_infos"][0]["signed_attrs"]
    return {a["type"].native: a["values"][0] for a in attributes}


def test_openssl_verifies_it_against_the_root(
    signer: Signer, openssl_chain: Chain, tmp_path: Path
) -> None:
    signature = sign_cades(BODY, signer, signing_time=MOMENT)
    done = openssl_cms(signature, BODY, openssl_chain.root, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr
    printed = openssl_print(signature, tmp_path)
    for attribute in ("signingTime", "messageDigest", "signingCertificateV2", "contentType"):
        assert attribute in printed
    assert "eContent: <ABSENT>" in printed, "detached"
    tampered = bytearray(BODY)
    tampered[10] ^= 1
    refused = openssl_cms(signature, bytes(tampered), openssl_chain.root, tmp_path / "t")
    assert refused.returncode != 0 and "content verify error" in refused.stderr


def test_openssl_refuses_it_against_another_root(openssl_chain: Chain, tmp_path: Path) -> None:
    signer = FileSigner.from_pem(openssl_chain.ec.certificate, openssl_chain.ec.key)
    other = tmp_path / "other-root"
    other.mkdir()
    openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k", cwd=other
    )
    openssl(
        "req", "-new", "-x509", "-key", "k", "-out", "root.pem", "-subj", "/CN=Other", cwd=other
    )
    done = openssl_cms(sign_cades(BODY, signer), BODY, other / "root.pem", tmp_path / "v")
    assert done.returncode != 0 and "certificate verify error" in done.stderr


def test_the_structure_is_cades_b_b(openssl_chain: Chain) -> None:
    signer = FileSigner.from_pem(openssl_chain.rsa.certificate, openssl_chain.rsa.key)
    signature = sign_cades(BODY, signer, signing_time=MOMENT)
    info = cms.ContentInfo.load(signature)
    assert info.dump(force=True) == signature, "DER"
    signed_data = info["content"]
    assert signed_data["version"].native == "v1"
    assert signed_data["encap_content_info"]["content"].native is None
    assert signed_data["encap_content_info"]["content_type"].native == "data"
    leaf = signer.certificate.public_bytes(Encoding.DER)
    certificates = [c.chosen.dump() for c in signed_data["certificates"]]
    assert sorted(certificates) == sorted(
        [leaf, openssl_chain.intermediate_certificate().public_bytes(Encoding.DER)]
    )
    signer_info = signed_data["signer_infos"][0]
    assert signer_info["signature_algorithm"].signature_algo == "rsassa_pss"
    assert signer_info["signature_algorithm"]["parameters"]["salt_length"].native == 32
    attributes = signed_attributes(signature)
    assert list(attributes) == [
        "content_type",
        "signing_time",
        "message_digest",
        "signing_certificate_v2",
    ]
    assert attributes["content_type"].native == "data"
    assert attributes["signing_time"].native == MOMENT.replace(microsecond=0)
    assert attributes["message_digest"].native == hashlib.sha256(BODY).digest()
    cert_id = attributes["signing_certificate_v2"]["certs"][0]
    assert isinstance(cert_id, tsp.ESSCertIDv2)
    assert cert_id["hash_algorithm"]["algorithm"].native == "sha256"
    assert cert_id["cert_hash"].native == hashlib.sha256(leaf).digest()
    assert cert_id["issuer_serial"]["serial_number"].native == signer.certificate.serial_number


def test_signing_times_out_of_utctime_range_and_naive_ones(openssl_chain: Chain) -> None:
    signer = FileSigner.from_pem(openssl_chain.ec.certificate, openssl_chain.ec.key)
    late = dt.datetime(2051, 1, 1, tzinfo=dt.UTC)
    assert (
        signed_attributes(sign_cades(BODY, signer, signing_time=late))["signing_time"].name
        == "generalized_time"
    )
    with pytest.raises(ValueError, match="timezone"):
        sign_cades(BODY, signer, signing_time=dt.datetime(2026, 1, 1))


# -- stapled OCSP -------------------------------------------------------------------------------


def ocsp_response(chain: Chain, leaf: Leaf, work: Path) -> bytes:
    """A real OCSP answer about ``leaf``, made by ``openssl ocsp`` as its CA's responder."""
    work.mkdir(parents=True, exist_ok=True)
    serial = format(leaf.load().serial_number, "X")
    (work / "index.txt").write_text(f"V\t351231000000Z\t\t{serial}\tunknown\t/CN=agency\n")
    openssl(
        "ocsp", "-issuer", chain.intermediate, "-cert", leaf.certificate, "-no_nonce",
        "-reqout", "request.der", cwd=work,
    )  # fmt: skip
    openssl(
        "ocsp", "-index", "index.txt", "-rsigner", chain.intermediate,
        "-rkey", chain.directory / "intermediate.key", "-CA", chain.intermediate,
        "-reqin", "request.der", "-respout", "response.der", cwd=work,
    )  # fmt: skip
    return (work / "response.der").read_bytes()


def test_a_stapled_ocsp_response_travels_in_crls_as_rfc_5940_says(
    openssl_chain: Chain, tmp_path: Path
) -> None:
    response = ocsp_response(openssl_chain, openssl_chain.rsa, tmp_path / "ocsp")
    signer = FileSigner.from_pem(openssl_chain.rsa.certificate, openssl_chain.rsa.key)
    signature = sign_cades(BODY, signer, ocsp_response=response)
    signed_data = cms.ContentInfo.load(signature)["content"]
    assert signed_data["version"].native == "v5"
    (stapled,) = signed_data["crls"]
    assert stapled.name == "other"
    assert stapled.chosen["other_rev_info_format"].native == "ocsp_response"
    assert stapled.chosen["other_rev_info"].dump() == response
    done = openssl_cms(signature, BODY, openssl_chain.root, tmp_path / "v")
    assert done.returncode == 0, done.stderr


def test_an_ocsp_response_that_is_garbage_or_about_another_certificate_is_refused(
    openssl_chain: Chain, tmp_path: Path
) -> None:
    signer = FileSigner.from_pem(openssl_chain.rsa.certificate, openssl_chain.rsa.key)
    with pytest.raises(SignerError) as garbage:
        sign_cades(BODY, signer, ocsp_response=b"\x30\x03\x0a\x01")
    assert garbage.value.code == "ocsp_response.malformed"
    about_ec = ocsp_response(openssl_chain, openssl_chain.ec, tmp_path / "ocsp")
    with pytest.raises(SignerError) as other:
        sign_cades(BODY, signer, ocsp_response=about_ec)
    assert other.value.code == "ocsp_response.other_certificate"


# -- property -----------------------------------------------------------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=4096))
def test_any_body_gives_a_cms_whose_digest_is_the_bodys(openssl_chain: Chain, body: bytes) -> None:
    signer = FileSigner.from_pem(openssl_chain.ec.certificate, openssl_chain.ec.key)
    signature = sign_cades(body, signer)
    info = cms.ContentInfo.load(signature, strict=True)
    assert info["content_type"].native == "signed_data"
    assert signed_attributes(signature)["message_digest"].native == hashlib.sha256(body).digest()
