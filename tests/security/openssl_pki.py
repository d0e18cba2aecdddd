"""A small PKI made with the ``openssl`` command-line tool (not by lienthong), for the verifier's
tests: signatures made by ``openssl cms -sign`` are the interop test "a signature made by a tool
nobody here wrote is accepted".

Root -> intermediate -> leaves, issued with ``openssl ca``. Every certificate below the root
names a CRL distribution point and (leaves) an OCSP responder on 127.0.0.1 port 9, where
nothing answers: revocation data is given to the verifier as files, or stapled.

Import the fixture ``openssl_pki`` into a test module to use it; the PKI is built once per
session.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, cms
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

UNIT = "000.00.00.H56"
OTHER_UNIT = "000.00.00.H60"
DEAD_URL = "http://127.0.0.1:9"

_CA_CONFIG = """\
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
utf8 = yes
string_mask = utf8only
[ policy_any ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:{dead}/root.crl
[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:{dead}/intermediate.crl
authorityInfoAccess = OCSP;URI:{dead}/ocsp
[ tls ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:{dead}/intermediate.crl
"""

# name -> (key algorithm options for openssl genpkey, unit, extra `openssl ca` options)
_LEAVES: dict[str, tuple[list[str], str, list[str]]] = {
    "rsa": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], UNIT, []),
    "ecdsa": (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], UNIT, []),
    "other_unit": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], OTHER_UNIT, []),
    "revoked": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], UNIT, []),
    "expired": (
        ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        UNIT,
        ["-startdate", "20200101000000Z", "-enddate", "20210101000000Z"],
    ),
    "rsa1024": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], UNIT, []),
    "sha1": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], UNIT, ["-md", "sha1"]),
    "ed25519": (["-algorithm", "ED25519"], UNIT, []),
    "tls": (
        ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        UNIT,
        ["-extensions", "tls"],
    ),
}


def _openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["openssl", *map(str, args)], input=stdin, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))}: {done.stderr.decode()}")
    return done.stdout


@dataclass(frozen=True)
class OpensslPki:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.pem"

    def key_path(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def cert(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.path(name).read_bytes())

    def key(self, name: str) -> object:
        return serialization.load_pem_private_key(self.key_path(name).read_bytes(), None)

    def crl(self, ca: str) -> bytes:
        """The DER CRL of ``root`` or ``intermediate``, made by ``openssl ca -gencrl``."""
        return (self.directory / f"{ca}.crl").read_bytes()

    @property
    def crls(self) -> tuple[bytes, ...]:
        return (self.crl("root"), self.crl("intermediate"))

    def ocsp(self, name: str) -> bytes:
        """A DER OCSP response about leaf ``name`` made by ``openssl ocsp`` (the intermediate
        answers for itself, as a CA may)."""
        target = self.directory / f"{name}.ocsp"
        if not target.exists():
            _openssl(
                "ocsp",
                "-index",
                self.directory / "intermediate-ca" / "index.txt",
                "-rsigner",
                self.path("intermediate"),
                "-rkey",
                self.key_path("intermediate"),
                "-CA",
                self.path("intermediate"),
                "-issuer",
                self.path("intermediate"),
                "-cert",
                self.path(name),
                "-ndays",
                "7",
                "-respout",
                target,
            )
        return target.read_bytes()

    def sign_cms(
        self,
        name: str,
        body: bytes,
        *,
        pss: bool = False,
        digest: str = "sha256",
        cades: bool = True,
        pem: bool = False,
    ) -> bytes:
        """A detached CMS by ``openssl cms -sign`` over the exact ``body`` bytes."""
        work = self.directory / "work"
        work.mkdir(exist_ok=True)
        source = work / f"body-{time.monotonic_ns()}"
        source.write_bytes(body)
        args: list[str | Path] = [
            "cms",
            "-sign",
            "-binary",
            "-in",
            source,
            "-signer",
            self.path(name),
            "-inkey",
            self.key_path(name),
            "-certfile",
            self.path("intermediate"),
            "-outform",
            "PEM" if pem else "DER",
        ]
        if digest:
            args += ["-md", digest]
        if pss:
            args += ["-keyopt", "rsa_padding_mode:pss"]
        if cades:
            args.append("-cades")
        try:
            return _openssl(*args)
        finally:
            source.unlink()


def build_openssl_pki(directory: Path) -> OpensslPki:
    directory.mkdir(parents=True, exist_ok=True)

    def ca_dir(name: str) -> Path:
        home = directory / f"{name}-ca"
        (home / "newcerts").mkdir(parents=True)
        (home / "index.txt").write_text("")
        (home / "serial").write_text("1000\n" if name == "root" else "2000\n")
        (home / "crlnumber").write_text("01\n")
        config = home / "openssl.cnf"
        config.write_text(_CA_CONFIG.format(dir=home, dead=DEAD_URL))
        return config

    root_config, int_config = ca_dir("root"), ca_dir("intermediate")
    # Valid from two days ago, so that tests can sign in the past.
    start = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y%m%d%H%M%SZ")
    _openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        directory / "root.key",
    )
    _openssl(
        "req", "-new", "-utf8", "-key", directory / "root.key", "-out", directory / "root.csr",
        "-subj", "/C=VN/O=Ban Cơ yếu Chính phủ (giả lập)/CN=Root CA chuyên dùng (giả lập)",
    )  # fmt: skip
    _openssl(
        "ca", "-batch", "-notext", "-utf8", "-selfsign", "-config", root_config,
        "-keyfile", directory / "root.key", "-in", directory / "root.csr",
        "-out", directory / "root.pem", "-extensions", "root", "-startdate", start, "-days", "3650",
    )  # fmt: skip

    def issue(
        name: str, config: Path, ca: str, subject: str, key_args: list[str], extra: list[str]
    ) -> None:
        key, csr = directory / f"{name}.key", directory / f"{name}.csr"
        _openssl("genpkey", *key_args, "-out", key)
        _openssl("req", "-new", "-utf8", "-key", key, "-subj", subject, "-out", csr)
        extensions = [] if "-extensions" in extra else ["-extensions", "leaf"]
        if "-startdate" not in extra:
            extensions += ["-startdate", start]
        _openssl(
            "ca", "-batch", "-notext", "-utf8", "-config", config,
            "-cert", directory / f"{ca}.pem", "-keyfile", directory / f"{ca}.key",
            "-in", csr, "-out", directory / f"{name}.pem", *extensions, *extra,
        )  # fmt: skip

    issue(
        "intermediate",
        root_config,
        "root",
        "/C=VN/O=Ban Cơ yếu Chính phủ (giả lập)/CN=CA phục vụ các cơ quan (giả lập)",
        ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ["-extensions", "intermediate", "-days", "3000"],
    )
    for name, (key_args, unit, extra) in _LEAVES.items():
        issue(
            name,
            int_config,
            "intermediate",
            f"/C=VN/O=UBND tỉnh Thử nghiệm/OU={unit}/CN=Sở Thử nghiệm ({name})",
            key_args,
            extra,
        )
    _openssl(
        "ca", "-batch", "-config", int_config, "-revoke", directory / "revoked.pem",
        "-cert", directory / "intermediate.pem", "-keyfile", directory / "intermediate.key",
        "-crl_reason", "keyCompromise",
    )  # fmt: skip
    for ca, config in (("root", root_config), ("intermediate", int_config)):
        pem_crl = directory / f"{ca}.crl.pem"
        _openssl(
            "ca", "-batch", "-gencrl", "-config", config, "-out", pem_crl,
            "-cert", directory / f"{ca}.pem", "-keyfile", directory / f"{ca}.key",
        )  # fmt: skip
        _openssl("crl", "-in", pem_crl, "-outform", "DER", "-out", directory / f"{ca}.crl")
    # A second root nobody configured as an anchor.
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
        "-keyout", directory / "stranger.key", "-out", directory / "stranger.pem",
        "-subj", "/C=VN/O=Stranger/CN=Stranger Root",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    # The revocation lies a whole second before any signature made after this returns.
    time.sleep(1.1)
    return OpensslPki(directory)


_BUILT: dict[str, OpensslPki] = {}


@pytest.fixture(scope="session")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> OpensslPki:
    """The PKI, built once per session (skipped without openssl, failing on CI)."""
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is not installed (make system-packages)")
        pytest.skip("openssl is not installed (make system-packages)")
    if "pki" not in _BUILT:
        _BUILT["pki"] = build_openssl_pki(tmp_path_factory.mktemp("openssl-pki"))
    return _BUILT["pki"]


def build_cms(
    certificate: x509.Certificate,
    key: object,
    body: bytes,
    *,
    signing_time: datetime,
    chain: tuple[x509.Certificate, ...] = (),
    digest: str = "sha256",
) -> bytes:
    """A detached CMS with the signing time chosen by the test (openssl always writes now),
    built with asn1crypto's structures and signed with cryptography: PKCS#1 v1.5, ECDSA, or
    Ed25519 (which openssl 3.0's ``cms`` cannot make)."""
    digests = {"sha256": hashes.SHA256(), "sha512": hashes.SHA512(), "sha1": hashes.SHA1()}
    hasher = hashes.Hash(digests[digest])
    hasher.update(body)
    signer = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    attributes = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hasher.finalize()]}),
            cms.CMSAttribute(
                {"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]}
            ),
        ]
    )
    to_sign = attributes.dump()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), digests[digest])
        algorithm = f"{digest}_rsa"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(digests[digest]))
        algorithm = f"{digest}_ecdsa"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(to_sign)
        algorithm = "ed25519"
    else:
        raise TypeError(type(key))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": signer.issuer, "serial_number": signer.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
            "signed_attrs": attributes,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": algorithm}),
            "signature": signature,
        }
    )
    certificates = [signer] + [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain
    ]
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
            "encap_content_info": {"content_type": "data"},
            "certificates": certificates,
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def staple(signature: bytes, ocsp_der: bytes) -> bytes:
    """``signature`` with an OCSP response in its ``crls`` as RFC 5940 id-ri-ocsp-response (the
    unsigned part: the signature stays valid)."""
    info = cms.ContentInfo.load(signature)
    info["content"]["version"] = "v5"  # RFC 5652: "other" revocation information present
    info["content"]["crls"] = cms.RevocationInfoChoices(
        [
            cms.RevocationInfoChoice(
                name="other",
                value=cms.OtherRevocationInfoFormat(
                    {
                        "other_rev_info_format": "ocsp_response",
                        "other_rev_info": asn1_ocsp.OCSPResponse.load(ocsp_der),
                    }
                ),
            )
        ]
    )
    return info.dump()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jws(
    pki: OpensslPki,
    leaf: str,
    body: bytes,
    alg: str,
    *,
    signing_time: datetime | None = None,
    **header: Any,
) -> str:
    """A compact detached JWS (RFC 7797, ``b64: false``) made with cryptography directly: a
    second JOSE implementation beside lienthong's."""
    chain = [pki.cert(leaf), pki.cert("intermediate")]
    protected = {
        "alg": alg,
        "b64": False,
        "crit": ["b64"],
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
        ],
        "sigT": (signing_time or datetime.now(UTC).replace(microsecond=0))
        .isoformat()
        .replace("+00:00", "Z"),
        **header,
    }
    header_b64 = b64url(json.dumps(protected).encode())
    signing_input = header_b64.encode() + b"." + body
    key = pki.key(leaf)
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if alg.startswith("PS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        signature = key.sign(signing_input, pss, digest)
    elif alg.startswith("RS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        signature = key.sign(signing_input, padding.PKCS1v15(), digest)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{header_b64}..{b64url(signature)}"
