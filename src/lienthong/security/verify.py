"""Checking signatures: detached CAdES (CMS) and detached JWS over the exact body bytes, as
Circular 15/2025/TT-BKHCN, Appendix II asks a verifier to (docs/security.md, "Verification").

The order: the structure, the algorithms and keys (:class:`AlgorithmPolicy`), integrity (the
message digest over the body, the signature over the signed attributes or the JWS signing
input), the signing time against the verifier's clock, the certificate path to the configured
trust anchors at the signing time with revocation (pyhanko-certvalidator), the key usage, and
the unit the certificate belongs to. The first check that fails gives the status; nothing here
raises on bad input: every answer is a :class:`Verification`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from asn1crypto import algos, cms, core, keys, pem, tsp  # type: ignore[import-untyped]
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import parser as asn1_parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import AlgorithmUsageConstraint, AlgorithmUsagePolicy
from pyhanko_certvalidator.validate import validate_usage

from lienthong.security.policy import AlgorithmPolicy, AlgorithmProblem, SignaturePolicy, key_kind
from lienthong.security.revocation_cache import (
    CachedPath,
    CachingFetchers,
    RevocationCache,
    crl_next_update,
    ocsp_next_update,
)
from lienthong.spec.identifiers import parse_agency_code

__all__ = [
    "RETRYABLE",
    "RevocationData",
    "Status",
    "Verification",
    "VerifyContext",
    "averify_cades",
    "averify_jws",
    "unit_of_subject",
    "verify_cades",
    "verify_jws",
]

logger = logging.getLogger(__name__)


class Status(enum.StrEnum):
    """What a verification concluded (docs/security.md lists each with its meaning)."""

    VALID = "valid"
    INVALID = "invalid"
    """Integrity failed, or the signature is malformed or claims an impossible signing time."""
    UNTRUSTED = "untrusted"
    """No valid path to a configured anchor, or a certificate not meant for signing."""
    REVOKED = "revoked"
    """A certificate of the path was revoked before the signing time."""
    EXPIRED = "expired"
    """A certificate of the path was not valid at the signing time."""
    WEAK = "weak"
    """An algorithm or key the policy refuses (SHA-1, MD5, RSA-1024, Ed25519, ...)."""
    INDETERMINATE = "indeterminate"
    """Revocation could not be checked: a retry (a reachable OCSP responder, a CRL) can help."""
    WRONG_UNIT = "wrong_unit"
    """The certificate does not belong to the envelope's unit or a unit above it."""


RETRYABLE = frozenset({Status.INDETERMINATE})
"""The statuses a later retry of the same signed bytes can turn into ``valid``."""


@dataclass(frozen=True, slots=True)
class RevocationData:
    """One OCSP response or CRL the verification used, kept as evidence (DER)."""

    kind: Literal["ocsp", "crl"]
    der: bytes
    issued_at: datetime | None
    """The OCSP response's producedAt, or the CRL's thisUpdate."""
    origin: Literal["stapled", "configured", "fetched"]
    """Carried in the signature, given to the verifier, or fetched from the CA."""


def unit_of_subject(certificate: x509.Certificate) -> str | None:
    """The agency code a certificate names: the first organizationalUnitName of its subject that
    parses as an agency code (QCVN 102 or QĐ 20/2020), as the test PKI writes it."""
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        value = attribute.value
        if isinstance(value, str) and parse_agency_code(value.strip()) is not None:
            return value.strip()
    return None


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """What the verifier trusts and allows (the ``ValidationContext`` of this package)."""

    trust_anchors: tuple[x509.Certificate, ...]
    """The roots a path must end at (the national root, the government-service root): always
    configuration, never built in."""
    unit: str | None = None
    """The envelope's unit (``madonvi``); ``None``: no unit binding."""
    algorithms: AlgorithmPolicy = field(default_factory=AlgorithmPolicy)
    other_certs: tuple[x509.Certificate, ...] = ()
    """Intermediates known to the verifier besides those the signature carries."""
    crls: tuple[bytes, ...] = ()
    """CRLs (DER) the verifier holds."""
    ocsps: tuple[bytes, ...] = ()
    """OCSP responses (DER) the verifier holds, besides those stapled in the signature."""
    allow_fetching: bool = False
    """Fetch OCSP (first) and CRLs named in the certificates."""
    fetch_timeout_seconds: float = 10.0
    revocation_mode: Literal["soft-fail", "hard-fail", "require"] = "hard-fail"
    """pyhanko-certvalidator's modes: ``hard-fail`` asks revocation data of every certificate
    that names a source; ``require`` of every certificate but the anchor."""
    clock_skew_seconds: int = 300
    """How far the signing time may lie ahead of the verifier's clock."""
    max_age_seconds: int | None = None
    """How far it may lie behind (``None``: no bound). Without a time-stamp the signing time is
    the signer's claim: a bound stops a key revoked today from signing as of last year."""
    unit_mapping: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    """Certificate SHA-256 fingerprint (hex) -> the units it may sign for, besides its own."""
    unit_of: Callable[[x509.Certificate], str | None] = unit_of_subject
    now: datetime | None = None
    """The verifier's clock (``None``: the system's)."""
    revocation_cache: RevocationCache | None = None
    """Revocation answers and validated paths kept between verifications (the hub's); ``None``:
    every verification fetches what it needs."""

    @classmethod
    def for_policy(
        cls, policy: SignaturePolicy, trust_anchors: Iterable[x509.Certificate], **settings: Any
    ) -> VerifyContext:
        """A context with the algorithms and clock skew of the hub's :class:`SignaturePolicy`;
        without unit binding when the policy does not bind units."""
        context = cls(
            trust_anchors=tuple(trust_anchors),
            algorithms=policy.algorithms,
            clock_skew_seconds=policy.clock_skew_seconds,
            **settings,
        )
        if not policy.bind_unit:
            context = cls(**{**_fields_of(context), "unit": None})
        return context


def _fields_of(context: VerifyContext) -> dict[str, Any]:
    return {name: getattr(context, name) for name in VerifyContext.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of one verification, with what Circular 15/2025/TT-BKHCN asks to show and
    keep: the signer certificate and chain, the revocation data used, the result."""

    status: Status
    reason: str
    """A stable code finer than the status (``signature.digest_mismatch``, ...)."""
    vi: str
    en: str
    format: Literal["cades", "jws"]
    checked_at: datetime
    integrity: bool | None = None
    """The signature covers these exact bytes (``None``: not reached)."""
    signer: str | None = None
    issuer: str | None = None
    organisation: str | None = None
    unit: str | None = None
    fingerprint: str | None = None
    """SHA-256 of the signer's certificate, hex."""
    serial: str | None = None
    signing_time: datetime | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    digest: str | None = None
    scheme: str | None = None
    """``rsassa_pss``, ``rsassa_pkcs1v15``, ``ecdsa`` (or what was refused)."""
    chain: tuple[bytes, ...] = ()
    """The signer's certificate first, then the path up to the anchor (DER)."""
    revocation: tuple[RevocationData, ...] = ()
    revoked_at: datetime | None = None
    """When the signer's certificate was revoked, also when that was after the signing time."""

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form: times in ISO 8601, DER in base64."""

        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "status": self.status.value,
            "reason": self.reason,
            "retryable": self.retryable,
            "message": self.vi,
            "message_en": self.en,
            "format": self.format,
            "checked_at": when(self.checked_at),
            "integrity": self.integrity,
            "signer": self.signer,
            "issuer": self.issuer,
            "organisation": self.organisation,
            "unit": self.unit,
            "fingerprint": self.fingerprint,
            "serial": self.serial,
            "signing_time": when(self.signing_time),
            "not_before": when(self.not_before),
            "not_after": when(self.not_after),
            "digest": self.digest,
            "scheme": self.scheme,
            "revoked_at": when(self.revoked_at),
            "chain": [base64.b64encode(der).decode("ascii") for der in self.chain],
            "revocation": [
                {
                    "kind": item.kind,
                    "origin": item.origin,
                    "issued_at": when(item.issued_at),
                    "der": base64.b64encode(item.der).decode("ascii"),
                }
                for item in self.revocation
            ],
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Verification:
        """A result kept as :meth:`as_dict` made it, read back (a receipt's check, shown
        later); ValueError or KeyError when it is not such a result."""

        def when(text: Any) -> datetime | None:
            return datetime.fromisoformat(text) if isinstance(text, str) else None

        checked_at = when(value["checked_at"])
        if checked_at is None:
            raise ValueError("checked_at")
        return cls(
            status=Status(value["status"]),
            reason=str(value["reason"]),
            vi=str(value["message"]),
            en=str(value["message_en"]),
            format="jws" if value["format"] == "jws" else "cades",
            checked_at=checked_at,
            integrity=value.get("integrity"),
            signer=value.get("signer"),
            issuer=value.get("issuer"),
            organisation=value.get("organisation"),
            unit=value.get("unit"),
            fingerprint=value.get("fingerprint"),
            serial=value.get("serial"),
            signing_time=when(value.get("signing_time")),
            not_before=when(value.get("not_before")),
            not_after=when(value.get("not_after")),
            digest=value.get("digest"),
            scheme=value.get("scheme"),
            chain=tuple(base64.b64decode(der) for der in value.get("chain") or ()),
            revocation=tuple(
                RevocationData(
                    kind="crl" if item["kind"] == "crl" else "ocsp",
                    der=base64.b64decode(item["der"]),
                    issued_at=when(item.get("issued_at")),
                    origin=item["origin"],
                )
                for item in value.get("revocation") or ()
            ),
            revoked_at=when(value.get("revoked_at")),
        )


# ---------------------------------------------------------------------------------------------
# The facts gathered on the way, and the one way a step refuses.


class _Refusal(Exception):
    def __init__(self, status: Status, reason: str, vi: str, en: str) -> None:
        super().__init__(en)
        self.status, self.reason, self.vi, self.en = status, reason, vi, en


@dataclass(slots=True)
class _Facts:
    format: Literal["cades", "jws"]
    checked_at: datetime
    integrity: bool | None = None
    signer: str | None = None
    issuer: str | None = None
    organisation: str | None = None
    unit: str | None = None
    fingerprint: str | None = None
    serial: str | None = None
    signing_time: datetime | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    digest: str | None = None
    scheme: str | None = None
    chain: tuple[bytes, ...] = ()
    revocation: tuple[RevocationData, ...] = ()
    revoked_at: datetime | None = None

    def result(self, status: Status, reason: str, vi: str, en: str) -> Verification:
        return Verification(
            status=status,
            reason=reason,
            vi=vi,
            en=en,
            **{name: getattr(self, name) for name in _Facts.__slots__},
        )

    def learn_certificate(self, certificate: x509.Certificate, context: VerifyContext) -> None:
        self.signer = _name_part(certificate.subject, NameOID.COMMON_NAME)
        self.organisation = _name_part(certificate.subject, NameOID.ORGANIZATION_NAME)
        self.issuer = _name_part(certificate.issuer, NameOID.COMMON_NAME) or _name_part(
            certificate.issuer, NameOID.ORGANIZATION_NAME
        )
        self.unit = context.unit_of(certificate)
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.fingerprint = hashlib.sha256(der).hexdigest()
        self.serial = format(certificate.serial_number, "x")
        self.not_before = certificate.not_valid_before_utc
        self.not_after = certificate.not_valid_after_utc
        self.chain = (der,)


def _name_part(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = [a.value for a in name.get_attributes_for_oid(oid) if isinstance(a.value, str)]
    return ", ".join(values) if values else None


def _now(context: VerifyContext) -> datetime:
    return context.now if context.now is not None else datetime.now(UTC)


def _malformed(what_vi: str, what_en: str, reason: str = "signature.malformed") -> _Refusal:
    return _Refusal(
        Status.INVALID,
        reason,
        f"chữ ký không đúng định dạng: {what_vi}",
        f"malformed signature: {what_en}",
    )


# ---------------------------------------------------------------------------------------------
# Algorithms and keys.

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "md5": hashes.MD5,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha512_224": hashes.SHA512_224,
    "sha512_256": hashes.SHA512_256,
    "sha3_224": hashes.SHA3_224,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}


def _weak(problem: AlgorithmProblem) -> _Refusal:
    return _Refusal(
        Status.WEAK,
        "algorithm.refused",
        f"chữ ký dùng thuật toán hoặc khóa không được phép: {problem.vi}",
        f"the signature uses an algorithm or key that is not allowed: {problem.en}",
    )


def _check_digest(policy: AlgorithmPolicy, name: str) -> hashes.HashAlgorithm:
    try:
        policy.check_digest(name)
    except AlgorithmProblem as problem:
        raise _weak(problem) from None
    factory = _HASHES.get(name)
    if factory is None:  # allowed by a custom policy but unknown here
        raise _Refusal(
            Status.WEAK,
            "algorithm.unsupported",
            f"thuật toán băm {name} không được hỗ trợ",
            f"digest algorithm {name} is not supported",
        )
    return factory()


def _public_key(certificate: x509.Certificate) -> object:
    try:
        return certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise _malformed(
            "khóa công khai của chứng thư không đọc được", "unreadable certificate public key"
        ) from None


def _check_key_and_scheme(policy: AlgorithmPolicy, key: object, scheme: str) -> None:
    kind, bits = key_kind(key)
    try:
        policy.check_key(kind, bits)
    except AlgorithmProblem as problem:
        raise _weak(problem) from None
    allowed = {
        "rsassa_pss": policy.rsa_pss and kind == "rsa",
        "rsassa_pkcs1v15": policy.rsa_pkcs1v15 and kind == "rsa",
        "ecdsa": policy.ecdsa and kind == "ec",
    }
    if not allowed.get(scheme, False):
        raise _Refusal(
            Status.WEAK,
            "algorithm.refused",
            f"lược đồ chữ ký {scheme} với khóa {kind} không được phép (TT 15/2025/TT-BKHCN)",
            f"signature scheme {scheme} with a {kind} key is not allowed (Circular 15/2025)",
        )


class _PathAlgorithms(AlgorithmUsagePolicy):
    """The same :class:`AlgorithmPolicy` applied by pyhanko-certvalidator to every signature of
    the path and of the revocation data (a SHA-1-signed certificate is ``weak``)."""

    def __init__(self, policy: AlgorithmPolicy) -> None:
        self.policy = policy

    def digest_algorithm_allowed(
        self, algo: algos.DigestAlgorithm, moment: datetime | None
    ) -> AlgorithmUsageConstraint:
        try:
            self.policy.check_digest(str(algo["algorithm"].native))
        except AlgorithmProblem as problem:
            return AlgorithmUsageConstraint(False, failure_reason=problem.en)
        return AlgorithmUsageConstraint(True)

    def signature_algorithm_allowed(
        self,
        algo: algos.SignedDigestAlgorithm,
        moment: datetime | None,
        public_key: keys.PublicKeyInfo | None,
    ) -> AlgorithmUsageConstraint:
        try:
            name = algo.signature_algo
        except ValueError:
            name = str(algo["algorithm"].native)
        kind = {"rsassa_pkcs1v15": "rsa", "rsassa_pss": "rsa", "ecdsa": "ec"}.get(name, name)
        try:
            if public_key is not None:
                self.policy.check_key(kind, int(public_key.bit_size))
            elif kind not in ("rsa", "ec"):
                self.policy.check_key(kind, 0)
            try:
                digest = algo.hash_algo
            except ValueError:
                digest = None
            if digest is not None:
                self.policy.check_digest(digest)
        except AlgorithmProblem as problem:
            return AlgorithmUsageConstraint(False, failure_reason=problem.en)
        return AlgorithmUsageConstraint(True)


# ---------------------------------------------------------------------------------------------
# CAdES.


def _load_cms(signature: bytes) -> cms.SignedData:
    data = signature.strip() if signature.lstrip().startswith(b"-----BEGIN") else signature
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    info = cms.ContentInfo.load(data, strict=True)
    if info["content_type"].native != "signed_data":
        raise _malformed("không phải SignedData (CMS)", "not a CMS SignedData")
    signed: cms.SignedData = info["content"]
    # DER only (as the format says): a structure with one meaning has one encoding, so no byte
    # outside the signed parts can change unnoticed.
    if not _is_der(info):
        raise _malformed("không phải DER", "not DER-encoded")
    return signed


def _is_der(info: cms.ContentInfo) -> bool:
    """Whether a CMS ContentInfo is DER, checked part by part (parsing every part on the way).

    asn1crypto re-encodes a whole SignedData in time exponential in its depth (a value taking its
    default deep inside is re-encoded at every level above it: 200 ms a signature), so: the frames'
    headers are compared with their DER form first, the certificates go to cryptography's
    DER-only parser, the signed attributes are left to the signature (it covers their exact
    bytes), and every other part is re-encoded on its own."""
    signed = info["content"]
    signer_infos = signed["signer_infos"]
    frames = [info, signed, signed["certificates"], signer_infos, *signer_infos]
    frames += [s["signed_attrs"] for s in signer_infos if s["signed_attrs"] is not core.VOID]
    if not all(_der_header(frame) for frame in frames if frame is not core.VOID):
        return False
    for set_of in (signed["certificates"], signer_infos):  # DER: a SET OF in sorted order
        encodings = [item.dump() for item in set_of or ()]
        if encodings != sorted(encodings):
            return False
    parts: list[core.Asn1Value] = [
        signed[name] for name in ("version", "digest_algorithms", "encap_content_info", "crls")
    ]
    for signer_info in signer_infos:
        parts += [signer_info[name] for name in signer_info if name != "signed_attrs"]
    for choice in signed["certificates"] or ():
        if choice.name != "certificate":
            parts.append(choice)
            continue
        der = choice.chosen.dump()
        if ("certificate", der) in _DER_SEEN:
            continue
        try:
            x509.load_der_x509_certificate(der)
        except ValueError:
            return False
        _DER_SEEN.add(("certificate", der))
    for part in parts:
        original = part.dump()
        key = (type(part).__qualname__, original)
        if key in _DER_SEEN:  # the same bytes of the same part passed before (a stapled answer)
            continue
        if part.dump(force=True) != original:
            return False
        _DER_SEEN.add(key)
    return True


class _Seen:
    """A bounded, thread-safe set of (kind, bytes) already found DER: a province sends the same
    certificates and the same stapled OCSP answer for an hour, and re-encoding them is most of
    a verification's cost. Only successes are kept; the key is the exact bytes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict[tuple[str, bytes], None] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: tuple[str, bytes]) -> bool:
        with self._lock:
            return key in self._items

    def add(self, key: tuple[str, bytes]) -> None:
        with self._lock:
            self._items[key] = None
            while len(self._items) > self._size:
                del self._items[next(iter(self._items))]


_DER_SEEN = _Seen(4096)


def _der_header(value: core.Asn1Value) -> bool:
    """The value's header (and explicit tags) as DER writes them around its contents."""
    encoded = asn1_parser.emit(value.class_, value.method, value.tag, value.contents)
    for class_, tag in value.explicit or ():
        encoded = asn1_parser.emit(class_, 1, tag, encoded)
    return bool(encoded == value.dump())


def _check_cms_profile(signed: cms.SignedData, signer_info: cms.SignerInfo) -> None:
    """The fields the signature does not cover must say what RFC 5652 says they must."""
    sid_v3 = signer_info["sid"].name == "subject_key_identifier"
    if signer_info["version"].native != ("v3" if sid_v3 else "v1"):
        raise _malformed("phiên bản SignerInfo sai", "wrong SignerInfo version")
    has_other = any(c.name != "certificate" for c in signed["certificates"] or ()) or any(
        c.name == "other" for c in signed["crls"] or ()
    )
    expected = "v5" if has_other else "v3" if sid_v3 else "v1"
    if signed["version"].native != expected:
        raise _malformed(
            f"phiên bản SignedData sai (cần {expected})",
            f"wrong SignedData version ({expected} expected)",
        )
    if signed["encap_content_info"]["content_type"].native != "data":
        raise _malformed("eContentType không phải id-data", "eContentType is not id-data")
    digest = signer_info["digest_algorithm"]
    listed = [a["algorithm"].dotted for a in signed["digest_algorithms"]]
    if listed.count(digest["algorithm"].dotted) != 1 or len(listed) != 1:
        raise _malformed(
            "digestAlgorithms không khớp người ký", "digestAlgorithms does not match the signer"
        )
    for algorithm in (digest, *signed["digest_algorithms"]):
        if algorithm["parameters"].native is not None:
            raise _malformed("tham số thuật toán băm lạ", "unexpected digest parameters")
    signature_algorithm = signer_info["signature_algorithm"]
    if signature_algorithm.signature_algo == "rsassa_pss":
        if signature_algorithm["parameters"]["trailer_field"].native != "trailer_field_bc":
            raise _malformed("tham số PSS lạ", "unexpected PSS parameters")
    elif signature_algorithm["parameters"].native is not None:
        raise _malformed("tham số thuật toán ký lạ", "unexpected signature parameters")


def _cms_certificates(signed: cms.SignedData) -> list[asn1_x509.Certificate]:
    found = []
    for choice in signed["certificates"] or ():
        if choice.name == "certificate":
            certificate = choice.chosen
            key = ("names", certificate.dump())
            if key not in _DER_SEEN:
                # Names are compared by their prepared form: an unreadable one is malformed
                # here, not an error of the path validation later.
                certificate.subject.hashable  # noqa: B018
                certificate.issuer.hashable  # noqa: B018
                _DER_SEEN.add(key)
            found.append(certificate)
    return found


def _stapled_ocsps(signed: cms.SignedData) -> list[bytes]:
    """RFC 5940: OCSP responses carried in ``crls`` as id-ri-ocsp-response."""
    found = []
    for choice in signed["crls"] or ():
        if choice.name == "other" and choice.chosen["other_rev_info_format"].native == (
            "ocsp_response"
        ):
            found.append(choice.chosen["other_rev_info"].dump())
    return found


def _stapled_crls(signed: cms.SignedData) -> list[bytes]:
    return [choice.chosen.dump() for choice in signed["crls"] or () if choice.name == "crl"]


def _signer_certificate(
    signer_info: cms.SignerInfo, certificates: list[asn1_x509.Certificate]
) -> asn1_x509.Certificate:
    sid = signer_info["sid"]
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            # The very bytes: names compare case-insensitively, and a changed byte of this
            # unsigned field must not pass unnoticed.
            if (
                certificate.issuer.dump() == wanted["issuer"].dump()
                and certificate.serial_number == wanted["serial_number"].native
            ):
                return certificate
        elif certificate.key_identifier == sid.chosen.native:
            return certificate
    raise _Refusal(
        Status.INVALID,
        "signature.no_certificate",
        "chữ ký không kèm chứng thư của người ký",
        "the signature does not carry the signer's certificate",
    )


def _unique_attribute(attributes: cms.CMSAttributes, name: str) -> Any | None:
    found = [a for a in attributes if a["type"].native == name]
    if not found:
        return None
    if len(found) > 1 or len(found[0]["values"]) != 1:
        raise _malformed(f"thuộc tính {name} lặp lại", f"attribute {name} is repeated")
    return found[0]["values"][0]


def _check_signing_certificate_v2(
    attributes: cms.CMSAttributes, certificate: asn1_x509.Certificate, policy: AlgorithmPolicy
) -> None:
    """ESS signing-certificate-v2 (CAdES): when present, it must name the signer's certificate."""
    value = _unique_attribute(attributes, "signing_certificate_v2")
    if value is None:
        return
    cert_id = tsp.SigningCertificateV2.load(value.dump())["certs"][0]
    digest_name = cert_id["hash_algorithm"]["algorithm"].native
    digest = hashes.Hash(_check_digest(policy, digest_name))
    digest.update(certificate.dump())
    serial_ok = (
        cert_id["issuer_serial"].native is None
        or cert_id["issuer_serial"]["serial_number"].native == certificate.serial_number
    )
    if not hmac.compare_digest(digest.finalize(), cert_id["cert_hash"].native) or not serial_ok:
        raise _Refusal(
            Status.INVALID,
            "signature.certificate_mismatch",
            "thuộc tính signing-certificate-v2 không khớp chứng thư của người ký",
            "the signing-certificate-v2 attribute does not name the signer's certificate",
        )


def _signing_time_attribute(attributes: cms.CMSAttributes) -> datetime:
    value = _unique_attribute(attributes, "signing_time")
    if value is None:
        raise _Refusal(
            Status.INVALID,
            "signing_time.missing",
            "chữ ký không có thời điểm ký (thuộc tính signing-time)",
            "the signature has no signing time (signing-time attribute)",
        )
    moment = value.native
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise _malformed("thời điểm ký không đọc được", "unreadable signing time")
    return moment.astimezone(UTC)


def _cms_scheme(
    signer_info: cms.SignerInfo, digest_name: str
) -> tuple[str, str, algos.SignedDigestAlgorithm]:
    """(scheme, digest of the signature, algorithm) of a SignerInfo."""
    algorithm: algos.SignedDigestAlgorithm = signer_info["signature_algorithm"]
    try:
        scheme = algorithm.signature_algo
    except ValueError:
        scheme = str(algorithm["algorithm"].native)
    try:
        signature_digest = algorithm.hash_algo
    except ValueError:  # rsaEncryption, bare ecdsa: the SignerInfo's digest
        signature_digest = digest_name
    return scheme, signature_digest, algorithm


def _verify_raw(
    key: object,
    scheme: str,
    digest: hashes.HashAlgorithm,
    signature: bytes,
    data: bytes,
    *,
    pss_salt: int | None = None,
    mgf_digest: hashes.HashAlgorithm | None = None,
) -> None:
    """InvalidSignature unless ``signature`` is ``key``'s over ``data``."""
    if scheme == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
        key.verify(
            signature,
            data,
            padding.PSS(
                mgf=padding.MGF1(mgf_digest or digest),
                salt_length=pss_salt if pss_salt is not None else digest.digest_size,
            ),
            digest,
        )
    elif scheme == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), digest)
    elif scheme == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(digest))
    else:
        raise InvalidSignature(f"{scheme} does not fit the key")


def _integrity_failed(reason: str, vi: str, en: str) -> _Refusal:
    return _Refusal(Status.INVALID, reason, vi, en)


async def averify_cades(body: bytes, signature: bytes, context: VerifyContext) -> Verification:
    """Verify a detached CAdES/CMS ``signature`` (DER or PEM) over the exact ``body`` bytes."""
    facts = _Facts(format="cades", checked_at=_now(context))
    try:
        try:
            signed = _load_cms(signature)
            signer_infos = signed["signer_infos"]
            if len(signer_infos) != 1:
                raise _malformed("cần đúng một người ký", "exactly one signer is expected")
            signer_info: cms.SignerInfo = signer_infos[0]
            if signed["encap_content_info"]["content"].native is not None:
                raise _malformed(
                    "nội dung nằm trong chữ ký, cần chữ ký tách rời",
                    "the content is inside the signature; a detached signature is expected",
                )
            certificates = _cms_certificates(signed)
            signer = _signer_certificate(signer_info, certificates)
            certificate = x509.load_der_x509_certificate(signer.dump())
            facts.learn_certificate(certificate, context)
            attributes = signer_info["signed_attrs"]
            if not isinstance(attributes, cms.CMSAttributes) or not len(attributes):
                raise _malformed(
                    "thiếu các thuộc tính được ký (CAdES)", "no signed attributes (CAdES)"
                )
            digest_name = str(signer_info["digest_algorithm"]["algorithm"].native)
            scheme, signature_digest, algorithm = _cms_scheme(signer_info, digest_name)
            _check_cms_profile(signed, signer_info)
            facts.digest, facts.scheme = digest_name, scheme
            content_type = _unique_attribute(attributes, "content_type")
            claimed = _unique_attribute(attributes, "message_digest")
            if content_type is None or content_type.native != "data" or claimed is None:
                raise _malformed(
                    "thiếu content-type (id-data) hoặc message-digest",
                    "content-type (id-data) or message-digest missing",
                )
            signing_time = _signing_time_attribute(attributes)
            facts.signing_time = signing_time
            signed_bytes = attributes.untag().dump()
            raw_signature = signer_info["signature"].native
            pss_salt = mgf_digest_name = None
            if scheme == "rsassa_pss":
                parameters = algorithm["parameters"]
                pss_salt = parameters["salt_length"].native
                mgf_digest_name = parameters["mask_gen_algorithm"]["parameters"]["algorithm"].native
        except _Refusal:
            raise
        except Exception as exc:  # asn1crypto parses lazily: hostile bytes raise many types
            raise _malformed(
                "không đọc được cấu trúc CMS", f"unreadable CMS structure ({exc})"
            ) from None

        # The algorithms before any use of them.
        policy = context.algorithms
        digest = _check_digest(policy, digest_name)
        sig_digest = _check_digest(policy, signature_digest)
        mgf_digest = _check_digest(policy, mgf_digest_name) if mgf_digest_name else None
        key = _public_key(certificate)
        _check_key_and_scheme(policy, key, scheme)

        # Integrity: the body, then the signed attributes.
        hasher = hashes.Hash(digest)
        hasher.update(body)
        if not hmac.compare_digest(hasher.finalize(), bytes(claimed.native)):
            facts.integrity = False
            raise _integrity_failed(
                "signature.digest_mismatch",
                "nội dung đã bị thay đổi: mã băm không khớp chữ ký (mất tính toàn vẹn)",
                "the content was changed: its digest does not match the signature (integrity lost)",
            )
        try:
            _verify_raw(
                key,
                scheme,
                sig_digest,
                raw_signature,
                signed_bytes,
                pss_salt=pss_salt,
                mgf_digest=mgf_digest,
            )
        except (InvalidSignature, UnsupportedAlgorithm, ValueError):
            facts.integrity = False
            raise _integrity_failed(
                "signature.mismatch",
                "chữ ký không khớp khóa công khai của chứng thư (mất tính toàn vẹn)",
                "the signature does not verify with the certificate's public key (integrity lost)",
            ) from None
        try:
            _check_signing_certificate_v2(attributes, signer, policy)
        except _Refusal:
            raise
        except Exception as exc:  # parsed lazily, here: hostile bytes raise many types
            raise _malformed(
                "thuộc tính signing-certificate-v2 không đọc được",
                f"unreadable signing-certificate-v2 attribute ({exc})",
            ) from None
        facts.integrity = True

        others = [c for c in certificates if c is not signer]
        return await _trust(
            facts,
            signer,
            others,
            stapled_ocsps=_stapled_ocsps(signed),
            stapled_crls=_stapled_crls(signed),
            context=context,
        )
    except _Refusal as refusal:
        return facts.result(refusal.status, refusal.reason, refusal.vi, refusal.en)


# ---------------------------------------------------------------------------------------------
# JWS (RFC 7515, detached with RFC 7797's unencoded payload).

_JWS_ALGORITHMS: dict[str, tuple[str, str]] = {
    "PS256": ("rsassa_pss", "sha256"),
    "PS384": ("rsassa_pss", "sha384"),
    "PS512": ("rsassa_pss", "sha512"),
    "RS256": ("rsassa_pkcs1v15", "sha256"),
    "RS384": ("rsassa_pkcs1v15", "sha384"),
    "RS512": ("rsassa_pkcs1v15", "sha512"),
    "ES256": ("ecdsa", "sha256"),
    "ES384": ("ecdsa", "sha384"),
    "ES512": ("ecdsa", "sha512"),
}
_ES_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_UNDERSTOOD_CRIT = frozenset({"b64", "sigT"})


def _b64url(text: str) -> bytes:
    if not text or any(c not in _B64URL_ALPHABET for c in text):
        raise ValueError("not base64url")
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Canonical only: the unused bits of the last character would let two texts carry the same
    # bytes, and a changed character pass unnoticed.
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode("ascii") != text:
        raise ValueError("not canonical base64url")
    return decoded


_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _jws_header(compact: str) -> tuple[str, dict[str, Any], bytes]:
    parts = compact.strip().split(".")
    if len(parts) != 3:
        raise _malformed("JWS dạng gọn cần ba phần", "a compact JWS has three parts")
    header_b64, payload, signature_b64 = parts
    if payload:
        raise _malformed(
            "JWS cần tách rời (phần nội dung rỗng)",
            "a detached JWS is expected (empty payload part)",
        )
    try:
        header = json.loads(_b64url(header_b64))
        signature = _b64url(signature_b64)
    except (ValueError, UnicodeDecodeError):
        raise _malformed(
            "phần đầu hoặc chữ ký JWS không đọc được", "unreadable JWS parts"
        ) from None
    if not isinstance(header, dict):
        raise _malformed(
            "phần đầu JWS không phải đối tượng JSON", "the JWS header is not an object"
        )
    return header_b64, header, signature


def _jws_certificates(header: dict[str, Any]) -> list[x509.Certificate]:
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
        raise _Refusal(
            Status.INVALID,
            "signature.no_certificate",
            "JWS không kèm chuỗi chứng thư (x5c)",
            "the JWS carries no certificate chain (x5c)",
        )
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain]
    except (ValueError, binascii.Error):
        raise _malformed("x5c không đọc được", "unreadable x5c certificates") from None


def _asn1_certificates(certificates: list[x509.Certificate]) -> list[asn1_x509.Certificate]:
    try:
        loaded = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in certificates
        ]
        for certificate in loaded:
            certificate.subject.hashable  # noqa: B018 - see _cms_certificates
            certificate.issuer.hashable  # noqa: B018
    except ValueError:
        raise _malformed(
            "chứng thư trong x5c không đọc được", "unreadable x5c certificates"
        ) from None
    return loaded


def _jws_signing_time(header: dict[str, Any]) -> datetime:
    value = header.get("sigT")
    if not isinstance(value, str):
        raise _Refusal(
            Status.INVALID,
            "signing_time.missing",
            "JWS không có thời điểm ký (sigT)",
            "the JWS has no signing time (sigT)",
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _malformed(
            "sigT không phải thời điểm RFC 3339", "sigT is not an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        raise _malformed("sigT thiếu múi giờ", "sigT has no time zone")
    return moment.astimezone(UTC)


async def averify_jws(
    body: bytes, compact_jws: str | bytes, context: VerifyContext
) -> Verification:
    """Verify a compact detached JWS with an unencoded payload (RFC 7797) over ``body``."""
    facts = _Facts(format="jws", checked_at=_now(context))
    try:
        try:
            text = compact_jws.decode("ascii") if isinstance(compact_jws, bytes) else compact_jws
        except UnicodeDecodeError:
            raise _malformed("JWS không phải ASCII", "the JWS is not ASCII") from None
        header_b64, header, raw_signature = _jws_header(text)
        certificates = _jws_certificates(header)
        certificate = certificates[0]
        facts.learn_certificate(certificate, context)
        alg = header.get("alg")
        crit = header.get("crit")
        if header.get("b64") is not False or not isinstance(crit, list) or "b64" not in crit:
            raise _malformed(
                'cần "b64": false và "crit": ["b64"] (RFC 7797)',
                'expected "b64": false and "crit": ["b64"] (RFC 7797)',
            )
        unknown = [name for name in crit if name not in _UNDERSTOOD_CRIT]
        if unknown:
            raise _malformed(f"crit lạ {unknown}", f"unknown crit parameters {unknown}")
        facts.signing_time = _jws_signing_time(header)
        if not isinstance(alg, str) or alg not in _JWS_ALGORITHMS:
            facts.scheme = str(alg)
            raise _Refusal(
                Status.WEAK,
                "algorithm.refused",
                f"thuật toán JWS {alg} không được phép (TT 15/2025/TT-BKHCN: PS*, RS*, ES*)",
                f"JWS algorithm {alg} is not allowed (Circular 15/2025: PS*, RS*, ES*)",
            )
        scheme, digest_name = _JWS_ALGORITHMS[alg]
        facts.scheme, facts.digest = scheme, digest_name
        digest = _check_digest(context.algorithms, digest_name)
        key = _public_key(certificate)
        _check_key_and_scheme(context.algorithms, key, scheme)
        if scheme == "ecdsa":
            assert isinstance(key, ec.EllipticCurvePublicKey)
            if key.curve.name != _ES_CURVES[alg]:
                raise _malformed(
                    f"{alg} không hợp với đường cong {key.curve.name}",
                    f"{alg} does not fit the curve {key.curve.name}",
                )
            half = (key.curve.key_size + 7) // 8
            if len(raw_signature) != 2 * half:
                raw_signature = b""  # a wrong length can never verify
            else:
                raw_signature = encode_dss_signature(
                    int.from_bytes(raw_signature[:half], "big"),
                    int.from_bytes(raw_signature[half:], "big"),
                )
        try:
            _verify_raw(
                key, scheme, digest, raw_signature, header_b64.encode("ascii") + b"." + body
            )
        except (InvalidSignature, ValueError):
            facts.integrity = False
            raise _integrity_failed(
                "signature.mismatch",
                "chữ ký JWS không khớp nội dung (mất tính toàn vẹn)",
                "the JWS signature does not match the content (integrity lost)",
            ) from None
        facts.integrity = True
        asn1_certs = _asn1_certificates(certificates)
        return await _trust(
            facts, asn1_certs[0], asn1_certs[1:], stapled_ocsps=[], stapled_crls=[], context=context
        )
    except _Refusal as refusal:
        return facts.result(refusal.status, refusal.reason, refusal.vi, refusal.en)


# ---------------------------------------------------------------------------------------------
# Time, path, revocation, unit: shared by both formats.


def _check_signing_time(moment: datetime, context: VerifyContext) -> None:
    now = _now(context)
    if moment > now + timedelta(seconds=context.clock_skew_seconds):
        raise _Refusal(
            Status.INVALID,
            "signing_time.future",
            f"thời điểm ký {moment.isoformat()} ở tương lai, quá độ lệch đồng hồ cho phép "
            f"({context.clock_skew_seconds} giây)",
            f"signing time {moment.isoformat()} lies in the future beyond the allowed clock "
            f"skew ({context.clock_skew_seconds} s)",
        )
    if context.max_age_seconds is not None and moment < now - timedelta(
        seconds=context.max_age_seconds
    ):
        raise _Refusal(
            Status.INVALID,
            "signing_time.too_old",
            f"thời điểm ký {moment.isoformat()} cũ hơn {context.max_age_seconds} giây cho phép",
            f"signing time {moment.isoformat()} is older than the allowed "
            f"{context.max_age_seconds} s",
        )


def _path_refusal(exc: Exception) -> _Refusal:
    """pyhanko-certvalidator's exceptions -> a status (the most specific class first)."""
    detail = str(exc)
    if isinstance(exc, RevokedError):
        whose_vi = "của người ký" if exc.is_ee_cert else "của tổ chức cấp trong chuỗi"
        whose_en = "the signer's certificate" if exc.is_ee_cert else "a CA certificate of the path"
        return _Refusal(
            Status.REVOKED,
            "certificate.revoked" if exc.is_ee_cert else "certificate.ca_revoked",
            f"chứng thư {whose_vi} đã bị thu hồi lúc {exc.revocation_dt.isoformat()}, "
            "trước thời điểm ký",
            f"{whose_en} was revoked at {exc.revocation_dt.isoformat()}, before the signing time",
        )
    if isinstance(exc, ExpiredError | NotYetValidError):
        return _Refusal(
            Status.EXPIRED,
            "certificate.expired" if isinstance(exc, ExpiredError) else "certificate.not_yet_valid",
            "chứng thư không còn (hoặc chưa) hiệu lực tại thời điểm ký",
            f"a certificate was not valid at the signing time: {detail}",
        )
    if isinstance(exc, DisallowedAlgorithmError):
        return _Refusal(
            Status.WEAK,
            "algorithm.refused_in_path",
            "chuỗi chứng thư dùng thuật toán hoặc khóa không được phép (TT 15/2025/TT-BKHCN)",
            f"the certificate path uses an algorithm or key that is not allowed: {detail}",
        )
    if isinstance(exc, InsufficientRevinfoError):
        return _Refusal(
            Status.INDETERMINATE,
            "revocation.unavailable",
            "không kiểm tra được tình trạng thu hồi (OCSP/CRL) của chứng thư: chưa thể kết luận, "
            "thử lại sau",
            f"the revocation status (OCSP/CRL) could not be checked: no conclusion, try again "
            f"later ({detail})",
        )
    if isinstance(exc, PathBuildingError):
        return _Refusal(
            Status.UNTRUSTED,
            "certificate.untrusted",
            "không dựng được chuỗi chứng thư tới một chứng thư gốc tin cậy đã cấu hình",
            f"no certificate path to a configured trust anchor ({detail})",
        )
    if isinstance(exc, InvalidCertificateError):
        return _Refusal(
            Status.UNTRUSTED,
            "certificate.usage",
            "chứng thư không dùng để ký (key usage)",
            f"the certificate is not meant for signing ({detail})",
        )
    if isinstance(exc, PathValidationError | ValidationError):
        return _Refusal(
            Status.UNTRUSTED,
            "certificate.path_invalid",
            "chuỗi chứng thư không hợp lệ",
            f"the certificate path is not valid ({detail})",
        )
    logger.warning("certificate validation failed unexpectedly", exc_info=exc)
    return _Refusal(
        Status.INDETERMINATE,
        "validation.error",
        "lỗi khi kiểm tra chuỗi chứng thư: chưa thể kết luận, thử lại sau",
        f"the certificate path could not be checked: no conclusion, try again later ({detail})",
    )


async def _trust(
    facts: _Facts,
    signer: asn1_x509.Certificate,
    others: list[asn1_x509.Certificate],
    *,
    stapled_ocsps: list[bytes],
    stapled_crls: list[bytes],
    context: VerifyContext,
) -> Verification:
    assert facts.signing_time is not None
    _check_signing_time(facts.signing_time, context)
    if not context.trust_anchors:
        raise _Refusal(
            Status.UNTRUSTED,
            "certificate.no_anchor",
            "chưa cấu hình chứng thư gốc tin cậy nào",
            "no trust anchor is configured",
        )
    configured_crls = [*context.crls, *stapled_crls]
    configured_ocsps = [*stapled_ocsps, *context.ocsps]
    cache = context.revocation_cache
    path_key = _path_key(signer, others, context) if cache is not None else None
    if cache is not None and path_key is not None and not stapled_crls:
        cached = cache.path(path_key, facts.signing_time)
        if cached is not None and not _stapled_revoked(stapled_ocsps, signer):
            facts.chain, facts.revocation = cached.chain, tuple(cached.revocation)
            return _conclude(facts, signer, context)
    network = (
        AIOHttpFetcherBackend(per_request_timeout=context.fetch_timeout_seconds)
        if context.allow_fetching
        else None
    )
    backend = (
        CachingFetchers(cache, network, stapled_ocsps)
        if network is not None and cache is not None
        else network
    )
    path: ValidationPath | None = None
    try:
        validation = _validation_context(
            facts.signing_time,
            context,
            others=others,
            backend=backend,
            crls=configured_crls,
            ocsps=configured_ocsps,
        )
        validator = CertificateValidator(signer, validation_context=validation)
        try:
            path = await validator.async_validate_path()
            _validate_signing_usage(signer)
        finally:
            _record_revocation(
                facts, validation, [signer, *others], stapled_ocsps, configured_crls, context
            )
    except _Refusal:
        raise
    except Exception as exc:
        if isinstance(backend, CachingFetchers):
            if isinstance(exc, RevokedError):
                backend.keep()  # revoked stays revoked
            elif isinstance(exc, InsufficientRevinfoError) or not isinstance(
                exc, ValidationError | PathValidationError | PathBuildingError
            ):
                backend.forget()  # never keep what left a verification without conclusion
        path = path or getattr(exc, "original_path", None)
        _record_chain(facts, path)
        if isinstance(exc, RevokedError) and exc.is_ee_cert:
            facts.revoked_at = exc.revocation_dt
        raise _path_refusal(exc) from None
    finally:
        if backend is not None:
            await backend.close()
    if isinstance(backend, CachingFetchers):
        backend.keep()
    _record_chain(facts, path)
    result = _conclude(facts, signer, context)
    if cache is not None and path_key is not None and result.reason == "valid":
        remembered = _cacheable_path(facts)
        if remembered is not None:
            cache.store_path(path_key, remembered)
    return result


def _conclude(facts: _Facts, signer: asn1_x509.Certificate, context: VerifyContext) -> Verification:
    """The result once the path validated: the unit, then whether it was revoked later."""
    _check_unit(facts, context)
    revoked_later = _revoked_later(facts, signer)
    if revoked_later is not None:
        facts.revoked_at = revoked_later
        return facts.result(
            Status.VALID,
            "valid.revoked_later",
            "chữ ký hợp lệ tại thời điểm ký; chứng thư bị thu hồi sau đó, lúc "
            f"{revoked_later.isoformat()}",
            "the signature was valid at the signing time; the certificate was revoked later, "
            f"at {revoked_later.isoformat()}",
        )
    return facts.result(
        Status.VALID,
        "valid",
        "chữ ký hợp lệ: toàn vẹn, chứng thư tin cậy và còn hiệu lực tại thời điểm ký",
        "the signature is valid: intact, and the certificate trusted and valid at the signing time",
    )


def _path_key(
    signer: asn1_x509.Certificate, others: list[asn1_x509.Certificate], context: VerifyContext
) -> bytes:
    """What a validated path depends on besides the signing time: the certificates carried,
    and the verifier's anchors, certificates, revocation data and policy."""
    digest = hashlib.sha256(signer.dump())
    for der in sorted(c.dump() for c in others):
        digest.update(hashlib.sha256(der).digest())
    for group in (context.trust_anchors, context.other_certs):
        digest.update(b"".join(c.fingerprint(hashes.SHA256()) for c in group) + b"|")
    for data in (context.crls, context.ocsps):
        digest.update(b"".join(hashlib.sha256(item).digest() for item in data) + b"|")
    digest.update(repr((context.algorithms, context.revocation_mode)).encode("utf-8"))
    return digest.digest()


def _stapled_revoked(stapled_ocsps: list[bytes], signer: asn1_x509.Certificate) -> bool:
    """A stapled answer says the signer is revoked: never answered from a cached path."""
    for der in stapled_ocsps:
        try:
            responses = asn1_ocsp.OCSPResponse.load(der).basic_ocsp_response["tbs_response_data"][
                "responses"
            ]
            for single in responses:
                if (
                    single["cert_id"]["serial_number"].native == signer.serial_number
                    and single["cert_status"].name != "good"
                ):
                    return True
        except (ValueError, TypeError, KeyError, AttributeError):
            return True
    return False


def _cacheable_path(facts: _Facts) -> CachedPath | None:
    """The path just validated, as the cache keeps it: only for a signer never revoked, and
    only while every certificate is valid and every revocation answer current."""
    if facts.revoked_at is not None or not facts.chain:
        return None
    certificates = [x509.load_der_x509_certificate(der) for der in facts.chain]
    until = [c.not_valid_after_utc for c in certificates]
    for item in facts.revocation:
        update = ocsp_next_update(item.der) if item.kind == "ocsp" else crl_next_update(item.der)
        if update is None:
            return None
        until.append(update)
    return CachedPath(
        chain=facts.chain,
        revocation=facts.revocation,
        valid_from=max(c.not_valid_before_utc for c in certificates),
        valid_until=min(until),
    )


def _validation_context(
    moment: datetime,
    context: VerifyContext,
    *,
    others: list[asn1_x509.Certificate],
    backend: AIOHttpFetcherBackend | CachingFetchers | None,
    crls: list[bytes],
    ocsps: list[bytes],
) -> ValidationContext:
    def der(certificate: x509.Certificate) -> bytes:
        return certificate.public_bytes(serialization.Encoding.DER)

    try:
        return ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(der(c)) for c in context.trust_anchors],
            other_certs=[
                *others,
                *(asn1_x509.Certificate.load(der(c)) for c in context.other_certs),
            ],
            moment=moment,
            allow_fetching=context.allow_fetching,
            fetcher_backend=backend,
            crls=[asn1_crl.CertificateList.load(c) for c in crls],
            ocsps=[asn1_ocsp.OCSPResponse.load(o) for o in ocsps],
            revocation_mode=context.revocation_mode,
            # A CRL or OCSP answer issued after the signing time still tells whether the
            # certificate was revoked before it (the revocation date is compared to it).
            retroactive_revinfo=True,
            algorithm_usage_policy=_PathAlgorithms(context.algorithms),
        )
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto, lazily, on hostile bytes
        raise _malformed(
            "chứng thư hoặc dữ liệu thu hồi kèm theo không đọc được",
            f"unreadable certificates or revocation data ({exc})",
        ) from None


def _validate_signing_usage(signer: asn1_x509.Certificate) -> None:
    """Key usage: digitalSignature or nonRepudiation (an absent extension allows both)."""
    try:
        validate_usage(signer, {"digital_signature"}, set(), True)
    except InvalidCertificateError:
        validate_usage(signer, {"non_repudiation"}, set(), True)


def _record_chain(facts: _Facts, path: ValidationPath | None) -> None:
    if path is None:
        return
    chain = [c.dump() for c in path.iter_certs(include_root=True)]
    # The path runs from the anchor down; the result keeps the signer first.
    facts.chain = tuple(reversed(chain)) if chain else facts.chain


def _record_revocation(
    facts: _Facts,
    validation: ValidationContext,
    certificates: list[asn1_x509.Certificate],
    stapled_ocsps: list[bytes],
    configured_crls: list[bytes],
    context: VerifyContext,
) -> None:
    """Keep the CRLs and OCSP responses about certificates of this signature (a verifier may
    hold the CRLs of many CAs: only those of this signature's issuers are its evidence)."""
    stapled, configured = set(stapled_ocsps), {*context.ocsps, *configured_crls}
    issuers = [c.issuer for c in certificates]
    serials = {c.serial_number for c in certificates}
    kept: list[RevocationData] = []
    for response in validation.ocsps:
        data = response.dump()
        basic = response.basic_ocsp_response
        if basic is None or not any(
            single["cert_id"]["serial_number"].native in serials
            for single in basic["tbs_response_data"]["responses"]
        ):
            continue
        produced = basic["tbs_response_data"]["produced_at"].native
        origin: Literal["stapled", "configured", "fetched"] = (
            "stapled" if data in stapled else "configured" if data in configured else "fetched"
        )
        kept.append(RevocationData("ocsp", data, produced, origin))
    for certificate_list in validation.crls:
        data = certificate_list.dump()
        if certificate_list["tbs_cert_list"]["issuer"] not in issuers:
            continue
        this_update = certificate_list["tbs_cert_list"]["this_update"].native
        origin = "configured" if data in configured else "fetched"
        kept.append(RevocationData("crl", data, this_update, origin))
    facts.revocation = tuple(kept)


def _revoked_later(facts: _Facts, signer: asn1_x509.Certificate) -> datetime | None:
    """The signer's revocation time in the data used, when any (it lies after the signing time
    since the path validated)."""
    for item in facts.revocation:
        if item.kind == "crl":
            certificate_list = asn1_crl.CertificateList.load(item.der)
            if certificate_list["tbs_cert_list"]["issuer"] != signer.issuer:
                continue
            for entry in certificate_list["tbs_cert_list"]["revoked_certificates"]:
                if entry["user_certificate"].native == signer.serial_number:
                    when: datetime = entry["revocation_date"].native
                    return when
        else:
            response = asn1_ocsp.OCSPResponse.load(item.der)
            for single in response.basic_ocsp_response["tbs_response_data"]["responses"]:
                status = single["cert_status"]
                if (
                    single["cert_id"]["serial_number"].native == signer.serial_number
                    and status.name == "revoked"
                ):
                    revoked: datetime = status.chosen["revocation_time"].native
                    return revoked
    return None


def _check_unit(facts: _Facts, context: VerifyContext) -> None:
    if context.unit is None:
        return
    envelope = parse_agency_code(context.unit)
    allowed: set[str] = set()
    if facts.unit:
        allowed.add(facts.unit)
    if facts.fingerprint:
        allowed.update(context.unit_mapping.get(facts.fingerprint, ()))
    for unit in allowed:
        parsed = parse_agency_code(unit)
        if envelope is not None and parsed is not None and envelope.is_within(parsed):
            return
        if unit == context.unit:
            return
    raise _Refusal(
        Status.WRONG_UNIT,
        "certificate.wrong_unit",
        f"chứng thư thuộc đơn vị {facts.unit or '(không ghi)'}, không phải đơn vị "
        f"{context.unit} của gói tin hay đơn vị cấp trên của nó",
        f"the certificate belongs to unit {facts.unit or '(none named)'}, not to the "
        f"envelope's unit {context.unit} or a unit above it",
    )


# ---------------------------------------------------------------------------------------------
# Synchronous entry points (the command line, tests); the hub awaits the async ones.


def _run_to_end(work: Callable[[], Coroutine[Any, Any, Verification]]) -> Verification:
    """Run a verification to its end from synchronous code. Where this thread already runs an
    event loop (an app factory called by uvicorn, a check at start), the work gets a loop of its
    own in another thread: ``asyncio.run`` cannot nest, and the caller waits either way."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lienthong-verify") as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


def verify_cades(body: bytes, signature: bytes, context: VerifyContext) -> Verification:
    """:func:`averify_cades` from synchronous code (outside or inside an event loop)."""
    return _run_to_end(lambda: averify_cades(body, signature, context))


def verify_jws(body: bytes, compact_jws: str | bytes, context: VerifyContext) -> Verification:
    """:func:`averify_jws` from synchronous code (outside or inside an event loop)."""
    return _run_to_end(lambda: averify_jws(body, compact_jws, context))
