"""Signers: keys in PEM and PKCS#12 files, on a SoftHSM2 token, at a remote service; each
refuses at construction what Circular 15/2025/TT-BKHCN refuses, and signs as it says."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from lienthong.security import signers
from lienthong.security.policy import AlgorithmPolicy, AlgorithmProblem
from lienthong.security.signers import (
    FileSigner,
    Pkcs11Signer,
    RemoteSigner,
    Signer,
    SignerError,
    pkcs11_module,
)
from tests.security.openssl_chain import (
    KEY_PASSWORD,
    P12_PASSWORD,
    TOKEN_LABEL,
    TOKEN_PIN,
    Chain,
    Leaf,
    openssl_chain,
    softhsm_token,
)

__all__ = ["openssl_chain", "softhsm_token"]

DATA = "Hồ sơ 000.00.00.H56-260302-0001".encode()


def private_key(leaf: Leaf) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(leaf.key.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def verifies(signer: Signer, signature: bytes, data: bytes = DATA) -> bool:
    """Whether ``signature`` is the signer's over ``data``, by cryptography's own verify."""
    key = signer.certificate.public_key()
    digest = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[signer.digest]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            scheme: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                if signer.scheme == "rsassa_pss"
                else padding.PKCS1v15()
            )
            key.verify(signature, data, scheme, digest)
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(signature, data, ec.ECDSA(digest))
    except InvalidSignature:
        return False
    return True


# -- files --------------------------------------------------------------------------------------


def test_a_pem_rsa_key_signs_with_pss_by_default_and_sends_its_chain(openssl_chain: Chain) -> None:
    signer = FileSigner.from_pem(openssl_chain.rsa.certificate, openssl_chain.rsa.key)
    assert isinstance(signer, Signer)
    assert (signer.scheme, signer.digest) == ("rsassa_pss", "sha256")
    intermediate = x509.load_pem_x509_certificate(openssl_chain.intermediate.read_bytes())
    assert signer.chain == (intermediate,)
    signature = signer.sign(DATA)
    assert len(signature) == 256 and verifies(signer, signature)
    assert not verifies(signer, signature, DATA + b" ")


def test_rsa_pkcs1v15_when_configured(openssl_chain: Chain) -> None:
    signer = FileSigner.from_pem(
        openssl_chain.rsa.certificate, openssl_chain.rsa.key, scheme="rsassa_pkcs1v15"
    )
    signature = signer.sign(DATA)
    assert signer.scheme == "rsassa_pkcs1v15" and verifies(signer, signature)
    assert signature == signer.sign(DATA), "PKCS#1 v1.5 is deterministic"


def test_an_ec_key_signs_ecdsa_in_der(openssl_chain: Chain) -> None:
    signer = FileSigner.from_pem(openssl_chain.ec.certificate, openssl_chain.ec.key)
    assert (signer.scheme, signer.digest) == ("ecdsa", "sha256")
    signature = signer.sign(DATA)
    utils.decode_dss_signature(signature)  # DER Ecdsa-Sig-Value
    assert verifies(signer, signature)


def test_pkcs12_and_encrypted_pem_need_their_passwords(openssl_chain: Chain) -> None:
    from_p12 = FileSigner.from_pkcs12(openssl_chain.rsa_p12, P12_PASSWORD)
    assert from_p12.certificate == openssl_chain.rsa.load() and len(from_p12.chain) == 1
    assert verifies(from_p12, from_p12.sign(DATA))
    encrypted = FileSigner.from_pem(
        openssl_chain.rsa.certificate, openssl_chain.rsa_encrypted_key, KEY_PASSWORD
    )
    assert verifies(encrypted, encrypted.sign(DATA))
    with pytest.raises(SignerError) as wrong:
        FileSigner.from_pkcs12(openssl_chain.rsa_p12, b"sai")
    assert wrong.value.code == "signer.key_unreadable" and "PKCS#12" in wrong.value.en
    with pytest.raises(SignerError) as missing:
        FileSigner.from_pem(openssl_chain.rsa.certificate, openssl_chain.rsa_encrypted_key)
    assert missing.value.code == "signer.key_unreadable"


@pytest.mark.parametrize(
    ("leaf", "options", "said"),
    [
        ("rsa1024", {}, "2048"),
        ("ed25519", {}, "ed25519"),
        ("rsa", {"digest": "sha1"}, "sha1"),
        ("rsa", {"digest": "md5"}, "md5"),
        ("ec", {"scheme": "rsassa_pss"}, "rsassa_pss"),
        ("rsa", {"scheme": "ecdsa"}, "ecdsa"),
        ("rsa", {"policy": AlgorithmPolicy(rsa_pss=False)}, "rsassa_pss"),
        ("ec", {"policy": AlgorithmPolicy(min_ec_bits=384)}, "384"),
    ],
)
def test_keys_and_algorithms_the_policy_refuses_are_refused_at_construction(
    openssl_chain: Chain, leaf: str, options: dict[str, Any], said: str
) -> None:
    material: Leaf = getattr(openssl_chain, leaf)
    with pytest.raises(AlgorithmProblem) as refused:
        FileSigner.from_pem(material.certificate, material.key, **options)
    assert said in refused.value.en and refused.value.vi


def test_a_key_of_another_certificate_is_refused(openssl_chain: Chain) -> None:
    with pytest.raises(SignerError) as refused:
        FileSigner(private_key(openssl_chain.rsa), openssl_chain.ec.load())
    assert refused.value.code == "signer.key_mismatch"


def test_unreadable_files_say_which(openssl_chain: Chain) -> None:
    with pytest.raises(SignerError) as missing:
        FileSigner.from_pem(openssl_chain.directory / "absent.pem", openssl_chain.rsa.key)
    assert missing.value.code == "signer.file_unreadable" and "absent.pem" in missing.value.en
    with pytest.raises(SignerError) as garbage:
        FileSigner.from_pem(openssl_chain.rsa.key, openssl_chain.rsa.key)
    assert garbage.value.code == "signer.certificate_unreadable"


def test_keys_in_files_warn_once_that_they_are_for_development(
    openssl_chain: Chain, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(signers, "_development_warning_given", False)
    with caplog.at_level(logging.WARNING, logger="lienthong.security.signers"):
        FileSigner.from_pem(openssl_chain.rsa.certificate, openssl_chain.rsa.key)
        FileSigner.from_pkcs12(openssl_chain.rsa_p12, P12_PASSWORD)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "development" in warnings[0] and "PKCS#11" in warnings[0]


# -- remote -------------------------------------------------------------------------------------


def test_a_remote_service_gets_the_digest_and_its_signature_is_checked(
    openssl_chain: Chain,
) -> None:
    key = private_key(openssl_chain.rsa)
    assert isinstance(key, rsa.RSAPrivateKey)
    asked: list[tuple[bytes, str]] = []

    def service(digest: bytes, name: str) -> bytes:  # a remote service signing PKCS#1 v1.5
        asked.append((digest, name))
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

    certificate = openssl_chain.rsa.load()
    signer = RemoteSigner(service, certificate, scheme="rsassa_pkcs1v15")
    assert verifies(signer, signer.sign(DATA))
    assert asked == [(hashlib.sha256(DATA).digest(), "sha256")]
    with pytest.raises(SignerError) as mismatch:
        RemoteSigner(service, certificate).sign(DATA)  # declared PSS, the service signs v1.5
    assert mismatch.value.code == "signature.mismatch" and "remote service" in mismatch.value.en


def test_a_remote_ecdsa_service_may_answer_r_and_s(openssl_chain: Chain) -> None:
    key = private_key(openssl_chain.ec)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def service(digest: bytes, name: str) -> bytes:
        r, s = utils.decode_dss_signature(
            key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        )
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    signer = RemoteSigner(service, openssl_chain.ec.load(), ecdsa_format="raw")
    assert verifies(signer, signer.sign(DATA))
    with pytest.raises(SignerError):
        RemoteSigner(service, openssl_chain.ec.load()).sign(DATA)  # said DER, got r || s


def test_a_remote_signer_refuses_weak_certificates_too(openssl_chain: Chain) -> None:
    with pytest.raises(AlgorithmProblem):
        RemoteSigner(lambda digest, name: b"", openssl_chain.rsa1024.load())


# -- PKCS#11 (SoftHSM2) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "scheme"),
    [
        ("agency-rsa", "rsassa_pss"),
        ("agency-rsa", "rsassa_pkcs1v15"),
        ("agency-ec", "ecdsa"),
    ],
)
def test_a_token_signs_with_its_key_and_certificate(
    softhsm_token: str, openssl_chain: Chain, label: str, scheme: str
) -> None:
    leaf: Leaf = openssl_chain.rsa if label == "agency-rsa" else openssl_chain.ec
    with Pkcs11Signer(softhsm_token, TOKEN_LABEL, TOKEN_PIN, label, scheme=scheme) as signer:
        assert signer.certificate == leaf.load(), "read from the token"
        assert signer.scheme == scheme
        assert verifies(signer, signer.sign(DATA))


@pytest.mark.parametrize(
    ("token", "pin", "label", "code"),
    [
        ("no-such-token", TOKEN_PIN, "agency-rsa", "pkcs11.no_token"),
        (TOKEN_LABEL, "000000", "agency-rsa", "pkcs11.pin"),
        (TOKEN_LABEL, TOKEN_PIN, "no-such-key", "pkcs11.no_key"),
    ],
)
def test_token_mistakes_are_said(
    softhsm_token: str, token: str, pin: str, label: str, code: str
) -> None:
    with pytest.raises(SignerError) as refused:
        Pkcs11Signer(softhsm_token, token, pin, label)
    assert refused.value.code == code and refused.value.vi


def test_a_token_key_with_another_certificate_is_refused_at_start(
    softhsm_token: str, openssl_chain: Chain
) -> None:
    other = x509.load_pem_x509_certificate(openssl_chain.rsa1024.certificate.read_bytes())
    with pytest.raises(AlgorithmProblem):
        Pkcs11Signer(softhsm_token, TOKEN_LABEL, TOKEN_PIN, "agency-rsa", certificate=other)
    from_p12 = FileSigner.from_pkcs12(openssl_chain.rsa_p12, P12_PASSWORD)
    rsa_intermediate = from_p12.chain[0]  # an RSA-2048 certificate of another key
    with pytest.raises(SignerError) as mismatch:
        Pkcs11Signer(
            softhsm_token, TOKEN_LABEL, TOKEN_PIN, "agency-rsa", certificate=rsa_intermediate
        )
    assert mismatch.value.code == "signature.mismatch"


def test_the_module_comes_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_PKCS11_MODULE", "/opt/vendor/libtoken.so")
    assert pkcs11_module() == "/opt/vendor/libtoken.so"
    assert pkcs11_module("/x.so") == "/x.so"
    monkeypatch.delenv("LIENTHONG_PKCS11_MODULE")
    assert pkcs11_module() == signers.DEFAULT_PKCS11_MODULE
    with pytest.raises(SignerError) as missing:
        Pkcs11Signer("/nonexistent/libpkcs11.so", TOKEN_LABEL, TOKEN_PIN, "agency-rsa")
    assert missing.value.code == "pkcs11.module"
