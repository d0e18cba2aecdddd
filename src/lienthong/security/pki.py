"""A test PKI, every name of which says "giả lập" (simulation): a root standing for the
government-service root of Ban Cơ yếu Chính phủ, an intermediate CA, one certificate per agency
(its unit code in the subject's OU, see :func:`~lienthong.security.certificates.unit_of`), the
hub's certificate, the certificates the negative tests need (revoked, expired, RSA-1024,
SHA-1-signed), and the certificates of the services :mod:`lienthong.security.services` runs
(OCSP responder, time-stamp authority, a TLS server on loopback).

It lives as files in one directory with an index, ``pki.json``, that says what each file is,
the unit of each agency certificate and the PKCS#12 passwords (docs/security.md). Keys are
files here because this is a test PKI, generated at test time and never committed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asn1crypto import algos  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from lienthong.security.certificates import (
    certificate_pem,
    fingerprint,
    load_certificate,
    load_private_key,
)
from lienthong.spec.identifiers import agency_registry, parse_agency_code

__all__ = [
    "DEFAULT_BASE_URL",
    "DEMO_UNITS",
    "INDEX_NAME",
    "PkiEntry",
    "PkiProblem",
    "Role",
    "TestPki",
    "build_crl",
    "create_test_pki",
    "load_test_pki",
    "write_crls",
]

INDEX_NAME = "pki.json"
INDEX_FORMAT = "lienthong-test-pki/1"
DEFAULT_BASE_URL = "http://127.0.0.1:8180"
#: The demo units (the hub's demo account, the demo dossiers, a second province).
DEMO_UNITS = ("000.00.00.H56", "000.00.00.H60", "000.00.13.H56")
#: The unit of the hub's certificate: the Government Office, which runs the national portal.
HUB_UNIT = "000.00.00.G22"
SIMULATION = "(giả lập)"
CA_ORGANIZATION = f"Ban Cơ yếu Chính phủ {SIMULATION}"
CRL_DAYS = 7
OCSP_NEXT_UPDATE = dt.timedelta(hours=1)


class PkiProblem(ValueError):
    """A test PKI that cannot be created or read, said in Vietnamese and English."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.vi, self.en = vi, en


class Role(StrEnum):
    """What a certificate of the test PKI is for."""

    ROOT = "root"
    INTERMEDIATE = "intermediate"
    AGENCY = "agency"
    HUB = "hub"
    REVOKED = "revoked"
    EXPIRED = "expired"
    RSA_1024 = "rsa-1024"
    SHA1 = "sha1"
    OCSP = "ocsp"
    TSA = "tsa"
    TLS = "tls"


@dataclass(frozen=True, slots=True)
class PkiEntry:
    """One certificate of the test PKI with the file of its key."""

    name: str
    role: Role
    certificate: x509.Certificate
    certificate_path: Path
    key_path: Path
    issuer: str | None
    """The entry name of the issuing CA; None for the self-signed root."""
    unit: str | None = None
    pkcs12_path: Path | None = None
    pkcs12_password: str | None = None
    revoked_at: dt.datetime | None = None

    def private_key(self) -> PrivateKeyTypes:
        return load_private_key(self.key_path)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class TestPki:
    """A test PKI as created by :func:`create_test_pki` or read by :func:`load_test_pki`."""

    __test__ = False  # not a pytest test class, whatever its name

    directory: Path
    base_url: str
    created: dt.datetime
    entries: Mapping[str, PkiEntry] = field(repr=False)

    def _role(self, role: Role) -> PkiEntry:
        for entry in self.entries.values():
            if entry.role is role:
                return entry
        raise KeyError(role.value)

    @property
    def root(self) -> PkiEntry:
        return self._role(Role.ROOT)

    @property
    def intermediate(self) -> PkiEntry:
        return self._role(Role.INTERMEDIATE)

    @property
    def hub(self) -> PkiEntry:
        return self._role(Role.HUB)

    @property
    def revoked(self) -> PkiEntry:
        return self._role(Role.REVOKED)

    @property
    def expired(self) -> PkiEntry:
        return self._role(Role.EXPIRED)

    @property
    def rsa_1024(self) -> PkiEntry:
        return self._role(Role.RSA_1024)

    @property
    def sha1(self) -> PkiEntry:
        return self._role(Role.SHA1)

    @property
    def ocsp(self) -> PkiEntry:
        return self._role(Role.OCSP)

    @property
    def tsa(self) -> PkiEntry:
        return self._role(Role.TSA)

    @property
    def tls(self) -> PkiEntry:
        return self._role(Role.TLS)

    @property
    def agencies(self) -> dict[str, PkiEntry]:
        """The agency certificates by unit code."""
        return {
            entry.unit: entry
            for entry in self.entries.values()
            if entry.role is Role.AGENCY and entry.unit is not None
        }

    def agency(self, unit: str) -> PkiEntry:
        return self.agencies[unit]

    def issuer_of(self, entry: PkiEntry) -> PkiEntry:
        """The CA that issued ``entry`` (the root for the root itself)."""
        return self.entries[entry.issuer] if entry.issuer else entry

    def chain_of(self, entry: PkiEntry, *, with_root: bool = False) -> tuple[x509.Certificate, ...]:
        """The CA certificates above ``entry``, nearest first, the root only if asked."""
        chain: list[x509.Certificate] = []
        current = entry
        while current.issuer:
            current = self.entries[current.issuer]
            if current.role is not Role.ROOT or with_root:
                chain.append(current.certificate)
        return tuple(chain)

    def revocations(self, issuer: str) -> dict[int, dt.datetime]:
        """Revocation times by serial number of the certificates ``issuer`` issued."""
        return {
            entry.certificate.serial_number: entry.revoked_at
            for entry in self.entries.values()
            if entry.issuer == issuer and entry.revoked_at is not None
        }

    @property
    def cas(self) -> tuple[PkiEntry, ...]:
        return tuple(e for e in self.entries.values() if e.role in (Role.ROOT, Role.INTERMEDIATE))

    @property
    def chain_path(self) -> Path:
        """PEM bundle: the intermediate, then the root."""
        return self.directory / "certs" / "chain.pem"

    def crl_path(self, ca: str) -> Path:
        return self.directory / "crl" / f"{ca}.crl"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/tsa"

    def crl_url(self, ca: str) -> str:
        return f"{self.base_url}/crl/{ca}.crl"

    def ca_issuers_url(self, ca: str) -> str:
        return f"{self.base_url}/certs/{ca}.cer"


# -- creation -----------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise PkiProblem(
            f"địa chỉ gốc {base_url!r} không hợp lệ (cần http://máy:cổng)",
            f"invalid base URL {base_url!r} (expected http://host:port)",
        )
    return base_url.rstrip("/")


def _check_units(units: Iterable[str]) -> tuple[str, ...]:
    checked: list[str] = []
    for unit in units:
        if parse_agency_code(unit) is None:
            raise PkiProblem(
                f"mã đơn vị {unit!r} không hợp lệ (QCVN 102 hoặc QĐ 20/2020)",
                f"invalid unit code {unit!r} (QCVN 102 or QĐ 20/2020)",
            )
        if unit not in checked:
            checked.append(unit)
    if not checked:
        raise PkiProblem("cần ít nhất một đơn vị", "at least one unit is needed")
    return tuple(checked)


def _organization_of(unit: str) -> str:
    code = parse_agency_code(unit)
    agency = agency_registry().level1(code.level1) if code is not None else None
    name = agency.vi if agency is not None else f"Cơ quan {unit}"
    return f"{name} {SIMULATION}"


def _name(common_name: str, organization: str, unit: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_usage(
    *,
    signature: bool = True,
    non_repudiation: bool = False,
    key_encipherment: bool = False,
    ca: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=non_repudiation,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class _Plan:
    """One certificate to issue."""

    name: str
    role: Role
    subject: x509.Name
    issuer: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    key_usage: x509.KeyUsage
    extended: tuple[x509.ObjectIdentifier, ...] = ()
    extended_critical: bool = False
    unit: str | None = None
    key: str = "rsa-2048"
    digest: str = "sha256"
    extra: tuple[x509.ExtensionType, ...] = ()
    pkcs12: bool = False
    revoked_at: dt.datetime | None = None


def _new_key(kind: str) -> CertificateIssuerPrivateKeyTypes:
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    bits = int(kind.removeprefix("rsa-"))
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _plans(units: tuple[str, ...], now: dt.datetime) -> list[_Plan]:
    day, year = dt.timedelta(days=1), dt.timedelta(days=365)
    start, end = now - 30 * day, now + 2 * year
    signing = _key_usage(non_repudiation=True)
    # emailProtection lets `openssl cms -verify` (purpose smimesign) take the agencies'
    # signatures; clientAuth lets the same certificate authenticate over mutual TLS.
    signer_uses = (ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH)
    first = units[0]
    plans = [
        _Plan(
            "root",
            Role.ROOT,
            _name(f"RootCA chuyên dùng Chính phủ {SIMULATION}", CA_ORGANIZATION),
            None,
            now - 5 * year,
            now + 20 * year,
            _key_usage(ca=True),
        ),
        _Plan(
            "intermediate",
            Role.INTERMEDIATE,
            _name(f"CA phục vụ các cơ quan Nhà nước {SIMULATION}", CA_ORGANIZATION),
            "root",
            now - 4 * year,
            now + 10 * year,
            _key_usage(ca=True),
        ),
    ]
    for index, unit in enumerate(units):
        plans.append(
            _Plan(
                f"agency-{unit}",
                Role.AGENCY,
                _name(f"Đơn vị {unit} {SIMULATION}", _organization_of(unit), unit),
                "intermediate",
                start,
                end,
                signing,
                signer_uses,
                unit=unit,
                key="ec-p256" if index % 2 else "rsa-2048",  # both kinds exist
                pkcs12=True,
            )
        )
    negative: dict[Role, tuple[str, dict[str, Any]]] = {
        Role.REVOKED: ("Chứng thư bị thu hồi", {"revoked_at": now - day}),
        Role.EXPIRED: (
            "Chứng thư hết hạn",
            {"not_before": now - 2 * year, "not_after": now - year},
        ),
        Role.RSA_1024: ("Khóa RSA 1024 bit", {"key": "rsa-1024"}),
        Role.SHA1: ("Ký bằng SHA-1", {"digest": "sha1"}),
    }
    for role, (label, overrides) in negative.items():
        plan = _Plan(
            role.value,
            role,
            _name(f"{label} {first} {SIMULATION}", _organization_of(first), first),
            "intermediate",
            start,
            end,
            signing,
            signer_uses,
            unit=first,
        )
        for attribute, value in overrides.items():
            setattr(plan, attribute, value)
        plans.append(plan)
    plans += [
        _Plan(
            "hub",
            Role.HUB,
            _name(f"lienthong hub {SIMULATION}", f"Văn phòng Chính phủ {SIMULATION}", HUB_UNIT),
            "intermediate",
            start,
            end,
            signing,
            signer_uses,
            unit=HUB_UNIT,
        ),
        _Plan(
            "ocsp",
            Role.OCSP,
            _name(f"OCSP lienthong {SIMULATION}", CA_ORGANIZATION),
            "intermediate",
            start,
            end,
            _key_usage(),
            (ExtendedKeyUsageOID.OCSP_SIGNING,),
            extra=(x509.OCSPNoCheck(),),
        ),
        _Plan(
            "tsa",
            Role.TSA,
            _name(f"TSA lienthong {SIMULATION}", CA_ORGANIZATION),
            "intermediate",
            start,
            end,
            signing,
            (ExtendedKeyUsageOID.TIME_STAMPING,),
            extended_critical=True,  # RFC 3161 2.3: the only purpose, critical
        ),
        _Plan(
            "tls",
            Role.TLS,
            _name("localhost", f"lienthong {SIMULATION}"),
            "intermediate",
            start,
            end,
            _key_usage(key_encipherment=True),
            (ExtendedKeyUsageOID.SERVER_AUTH,),
            extra=(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
            ),
        ),
    ]
    return plans


def _issue(
    plan: _Plan,
    key: CertificateIssuerPrivateKeyTypes,
    issuer: tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes] | None,
    base_url: str,
) -> x509.Certificate:
    public = key.public_key()
    issuer_name = issuer[0].subject if issuer else plan.subject
    signing_key = issuer[1] if issuer else key
    is_ca = plan.role in (Role.ROOT, Role.INTERMEDIATE)
    builder = (
        x509.CertificateBuilder()
        .subject_name(plan.subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(plan.not_before)
        .not_valid_after(plan.not_after)
        .add_extension(
            x509.BasicConstraints(
                ca=is_ca, path_length=0 if plan.role is Role.INTERMEDIATE else None
            ),
            critical=True,
        )
        .add_extension(plan.key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if plan.extended:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(plan.extended)), critical=plan.extended_critical
        )
    if issuer is not None and plan.issuer is not None:
        builder = (
            builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(f"{base_url}/ocsp"),
                        ),
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(f"{base_url}/certs/{plan.issuer}.cer"),
                        ),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(f"{base_url}/crl/{plan.issuer}.crl")],
                            None,
                            None,
                            None,
                        )
                    ]
                ),
                critical=False,
            )
        )
    for extension in plan.extra:
        builder = builder.add_extension(extension, critical=False)
    certificate = builder.sign(signing_key, hashes.SHA256())
    if plan.digest == "sha1":
        certificate = _resigned_with_sha1(certificate, signing_key)
    return certificate


def _resigned_with_sha1(
    certificate: x509.Certificate, key: CertificateIssuerPrivateKeyTypes
) -> x509.Certificate:
    """The same certificate signed with sha1WithRSAEncryption: cryptography no longer builds
    SHA-1 certificates, and the negative tests need a real one."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("a SHA-1 certificate needs an RSA issuer")
    parsed = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha1_rsa"})
    tbs["signature"] = algorithm
    signature = key.sign(tbs.dump(force=True), padding.PKCS1v15(), hashes.SHA1())
    resigned = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
    )
    return x509.load_der_x509_certificate(resigned.dump())


def _write_private(path: Path, data: bytes) -> None:
    """A key or PKCS#12 file, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


def create_test_pki(
    directory: Path,
    units: Iterable[str] = DEMO_UNITS,
    *,
    base_url: str = DEFAULT_BASE_URL,
    now: dt.datetime | None = None,
) -> TestPki:
    """Create the test PKI in ``directory`` (made if missing; refused if it holds one already).

    Every certificate but the root carries the OCSP and CA-issuers URLs and the CRL
    distribution point of the services at ``base_url``. Agency keys alternate RSA-2048 and
    ECDSA P-256 (the second unit's is ECDSA), so both kinds exist.
    """
    directory = Path(directory)
    base_url = _check_base_url(base_url)
    checked = _check_units(units)
    if (directory / INDEX_NAME).exists():
        raise PkiProblem(
            f"{directory} đã có một PKI thử nghiệm ({INDEX_NAME})",
            f"{directory} already holds a test PKI ({INDEX_NAME})",
        )
    now = (now or _now()).astimezone(dt.UTC).replace(microsecond=0)
    for part in ("certs", "keys", "p12", "crl"):
        (directory / part).mkdir(parents=True, exist_ok=True)
    issued: dict[str, tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]] = {}
    index: dict[str, Any] = {}
    for plan in _plans(checked, now):
        key = _new_key(plan.key)
        certificate = _issue(plan, key, issued[plan.issuer] if plan.issuer else None, base_url)
        issued[plan.name] = (certificate, key)
        cert_file, key_file = f"certs/{plan.name}.pem", f"keys/{plan.name}.key"
        (directory / cert_file).write_bytes(certificate_pem(certificate))
        _write_private(
            directory / key_file,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        record: dict[str, Any] = {
            "role": plan.role.value,
            "issuer": plan.issuer,
            "certificate": cert_file,
            "key": key_file,
            "unit": plan.unit,
            "key_type": plan.key,
            "signature_digest": plan.digest,
            "serial": format(certificate.serial_number, "x"),
            "sha256": fingerprint(certificate),
            "not_before": _iso(plan.not_before),
            "not_after": _iso(plan.not_after),
        }
        if plan.pkcs12:
            password = secrets.token_urlsafe(12)
            chain = [issued[name][0] for name in ("intermediate", "root")]
            bundle = pkcs12.serialize_key_and_certificates(
                plan.name.encode("utf-8"),
                key,  # type: ignore[arg-type]  # RSA or EC: both serializable
                certificate,
                chain,
                serialization.BestAvailableEncryption(password.encode("utf-8")),
            )
            record["pkcs12"] = f"p12/{plan.name}.p12"
            record["pkcs12_password"] = password
            _write_private(directory / record["pkcs12"], bundle)
        if plan.revoked_at is not None:
            record["revoked_at"] = _iso(plan.revoked_at)
            record["revocation_reason"] = x509.ReasonFlags.key_compromise.value
        index[plan.name] = record
    (directory / "certs" / "chain.pem").write_bytes(
        certificate_pem(issued["intermediate"][0], issued["root"][0])
    )
    document = {
        "format": INDEX_FORMAT,
        "note": "PKI giả lập cho thử nghiệm, không có giá trị pháp lý / a simulated test PKI "
        "with no legal value",
        "created": _iso(now),
        "base_url": base_url,
        "chain": "certs/chain.pem",
        "crls": {name: f"crl/{name}.crl" for name in ("root", "intermediate")},
        "entries": index,
    }
    (directory / INDEX_NAME).write_text(
        json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8"
    )
    pki = load_test_pki(directory)
    write_crls(pki, now)
    return pki


# -- reading ------------------------------------------------------------------------------------


def _moment(value: object) -> dt.datetime | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def load_test_pki(directory: Path) -> TestPki:
    """Read the test PKI that :func:`create_test_pki` wrote in ``directory``."""
    directory = Path(directory)
    path = directory / INDEX_NAME
    try:
        document = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise PkiProblem(
            f"không có PKI thử nghiệm trong {directory} (thiếu {INDEX_NAME}); "
            "tạo bằng `lienthong pki init`",
            f"no test PKI in {directory} ({INDEX_NAME} missing); create one with "
            "`lienthong pki init`",
        ) from None
    except (OSError, ValueError) as exc:
        raise PkiProblem(f"không đọc được {path}: {exc}", f"cannot read {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != INDEX_FORMAT:
        raise PkiProblem(
            f"{path} không phải chỉ mục PKI thử nghiệm ({INDEX_FORMAT})",
            f"{path} is not a test PKI index ({INDEX_FORMAT})",
        )
    entries: dict[str, PkiEntry] = {}
    try:
        for name, record in document["entries"].items():
            entries[name] = PkiEntry(
                name=name,
                role=Role(record["role"]),
                certificate=load_certificate(directory / record["certificate"]),
                certificate_path=directory / record["certificate"],
                key_path=directory / record["key"],
                issuer=record.get("issuer"),
                unit=record.get("unit"),
                pkcs12_path=directory / record["pkcs12"] if record.get("pkcs12") else None,
                pkcs12_password=record.get("pkcs12_password"),
                revoked_at=_moment(record.get("revoked_at")),
            )
        pki = TestPki(
            directory=directory,
            base_url=str(document["base_url"]),
            created=_moment(document["created"]) or _now(),
            entries=entries,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PkiProblem(
            f"chỉ mục {path} không đầy đủ: {exc!r}", f"the index {path} is incomplete: {exc!r}"
        ) from None
    return pki


# -- CRLs ---------------------------------------------------------------------------------------


def build_crl(pki: TestPki, ca: str, now: dt.datetime | None = None) -> bytes:
    """The DER CRL of one CA: its revoked certificates (reason keyCompromise), next update a
    week ahead."""
    now = now or _now()
    issuer = pki.entries[ca]
    key = issuer.private_key()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=CRL_DAYS))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.certificate.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    for serial, revoked_at in sorted(pki.revocations(ca).items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(revoked_at)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def write_crls(pki: TestPki, now: dt.datetime | None = None) -> dict[str, bytes]:
    """Build the CRL of every CA, write it in the PKI's directory, return them by CA name."""
    crls = {ca.name: build_crl(pki, ca.name, now) for ca in pki.cas}
    for name, der in crls.items():
        pki.crl_path(name).parent.mkdir(parents=True, exist_ok=True)
        pki.crl_path(name).write_bytes(der)
    return crls
