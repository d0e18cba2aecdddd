"""Certificates and keys from files: PEM or DER certificates, PEM keys, PKCS#12 bundles; the
agency a certificate names (:func:`unit_of`) and SHA-256 fingerprints.

The unit rule (docs/security.md): an agency certificate names its unit's code (QCVN 102 or
QĐ 20/2020 form) as an organizationalUnitName (OU) of its subject. The test PKI writes it
there; a real CA's certificates that name the unit elsewhere are bound by a configured mapping
instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from lienthong.security.policy import key_kind
from lienthong.spec.identifiers import parse_agency_code

__all__ = [
    "CertificateProblem",
    "KeyBundle",
    "certificate_pem",
    "fingerprint",
    "key_description",
    "load_certificate",
    "load_certificates",
    "load_pkcs12",
    "load_private_key",
    "subject_attribute",
    "unit_of",
]

#: Larger files are no certificate, key or PKCS#12 bundle of ours: refused before parsing.
MAX_FILE_BYTES = 1024 * 1024


class CertificateProblem(ValueError):
    """A certificate, key or bundle that cannot be read, said in Vietnamese and English."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.vi, self.en = vi, en


@dataclass(frozen=True, slots=True)
class KeyBundle:
    """A private key with its certificate and the rest of the chain (signer excluded)."""

    key: PrivateKeyTypes
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]


def _read(source: Path | bytes, what_vi: str, what_en: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        try:
            with source.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise CertificateProblem(
                f"không đọc được {what_vi} {source}: {exc.strerror}",
                f"cannot read the {what_en} {source}: {exc.strerror}",
            ) from None
    if len(data) > MAX_FILE_BYTES:
        raise CertificateProblem(
            f"{what_vi} lớn hơn {MAX_FILE_BYTES} byte",
            f"{what_en} larger than {MAX_FILE_BYTES} bytes",
        )
    return data


def load_certificates(source: Path | bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, or the one certificate of a DER file."""
    data = _read(source, "tệp chứng thư", "certificate file")
    try:
        if b"-----BEGIN" in data:
            found = x509.load_pem_x509_certificates(data)
        else:
            found = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise CertificateProblem(
            "không phải chứng thư số X.509 (PEM hoặc DER)",
            "not an X.509 certificate (PEM or DER)",
        ) from None
    return found


def load_anchors(files: Iterable[str | Path]) -> tuple[x509.Certificate, ...]:
    """The certificates of the trust-anchor files named (PEM bundles or DER files), in order;
    :class:`CertificateProblem` naming the file that cannot be read."""
    anchors: list[x509.Certificate] = []
    for name in files:
        anchors += load_certificates(Path(name))
    return tuple(anchors)


def load_certificate(source: Path | bytes) -> x509.Certificate:
    """The first certificate of a PEM or DER file (or bytes)."""
    return load_certificates(source)[0]


def load_private_key(source: Path | bytes, password: str | bytes | None = None) -> PrivateKeyTypes:
    """A PEM or DER (PKCS#8 or traditional) private key, encrypted or not."""
    data = _read(source, "tệp khóa", "key file")
    secret = password.encode("utf-8") if isinstance(password, str) else password
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, secret)
        return serialization.load_der_private_key(data, secret)
    except (ValueError, TypeError):
        raise CertificateProblem(
            "không đọc được khóa bí mật (sai định dạng hoặc sai mật khẩu)",
            "cannot read the private key (wrong format or wrong password)",
        ) from None


def load_pkcs12(source: Path | bytes, password: str | bytes | None) -> KeyBundle:
    """The key, certificate and chain of a PKCS#12 (.p12 / .pfx) bundle."""
    data = _read(source, "tệp PKCS#12", "PKCS#12 file")
    secret = password.encode("utf-8") if isinstance(password, str) else password
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError):
        raise CertificateProblem(
            "không đọc được tệp PKCS#12 (sai định dạng hoặc sai mật khẩu)",
            "cannot read the PKCS#12 file (wrong format or wrong password)",
        ) from None
    if key is None or certificate is None:
        raise CertificateProblem(
            "tệp PKCS#12 không chứa cả khóa bí mật và chứng thư",
            "the PKCS#12 file does not hold both a private key and its certificate",
        )
    return KeyBundle(key, certificate, tuple(chain))


def certificate_pem(*certificates: x509.Certificate) -> bytes:
    """The certificates as one PEM bundle."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex without separators."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def subject_attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """The first value of one attribute of the subject (``NameOID.COMMON_NAME`` ...)."""
    for attribute in certificate.subject.get_attributes_for_oid(oid):
        value = attribute.value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def unit_of(certificate: x509.Certificate) -> str | None:
    """The agency code the certificate names: the first organizationalUnitName of its subject
    that is an agency code (QCVN 102 ``000.00.00.H56`` or QĐ 20/2020 ``H56.13``); None when
    there is none."""
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        value = attribute.value
        if isinstance(value, str) and parse_agency_code(value.strip()) is not None:
            return value.strip()
    return None


def key_description(certificate: x509.Certificate) -> tuple[str, int]:
    """The kind and size in bits of the certificate's public key, as
    :meth:`AlgorithmPolicy.check_key` takes them."""
    return key_kind(certificate.public_key())
