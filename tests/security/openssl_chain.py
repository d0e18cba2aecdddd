"""A certificate chain made by the ``openssl`` command (a tool nobody here wrote), and a SoftHSM2
token holding two of its keys: the signing tests' material.

``openssl_chain``: a root, an intermediate, an RSA-2048 and an ECDSA P-256 agency certificate
(digitalSignature and nonRepudiation, the unit code in the subject's organizationalUnitName),
an RSA-1024 and an Ed25519 one for refusals, a PKCS#12 and an encrypted PEM key.
``softhsm_token``: a token in a temporary directory (``SOFTHSM2_CONF``) with the RSA and EC
agency keys and certificates. Without openssl or SoftHSM2 the tests are skipped locally and fail
on CI (``CI=true``). Import the fixtures into a test module to use them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from lienthong.security.softhsm import TokenKey, make_token, softhsm_available

UNIT = "000.00.00.H56"
P12_PASSWORD = b"mat-khau-p12"
KEY_PASSWORD = b"mat-khau-pem"
TOKEN_LABEL = "lienthong-test"
TOKEN_PIN = "123456"
SOFTHSM_MODULE = os.environ.get("LIENTHONG_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")

LEAF_EXTENSIONS = (
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,nonRepudiation\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid\n"
)
CA_EXTENSIONS = (
    "basicConstraints=critical,CA:TRUE{path}\n"
    "keyUsage=critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid\n"
)


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"signing tests need this on CI: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Leaf:
    certificate: Path
    """PEM: the leaf, then the intermediate."""
    key: Path
    """PEM PKCS#8, unencrypted."""

    def load(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.certificate.read_bytes())[0]


@dataclass(frozen=True)
class Chain:
    directory: Path
    root: Path
    intermediate: Path
    rsa: Leaf
    ec: Leaf
    rsa1024: Leaf
    ed25519: Leaf
    rsa_p12: Path
    """The RSA leaf's key, certificate and intermediate, under :data:`P12_PASSWORD`."""
    rsa_encrypted_key: Path
    """The RSA leaf's key, PEM encrypted under :data:`KEY_PASSWORD`."""

    def intermediate_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.intermediate.read_bytes())


def openssl(*args: str | Path, cwd: Path) -> None:
    done = subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))}: {done.stderr}")


def _key(directory: Path, name: str, *algorithm: str) -> Path:
    path = directory / f"{name}.key"
    openssl("genpkey", "-out", path, *algorithm, cwd=directory)
    return path


def _issue(
    directory: Path,
    name: str,
    key: Path,
    subject: str,
    extensions: str,
    issuer: tuple[Path, Path] | None,
) -> Path:
    """A certificate for ``key``: self-signed when ``issuer`` (certificate, key) is None."""
    cert, ext = directory / f"{name}.pem", directory / f"{name}.ext"
    ext.write_text(extensions)
    if issuer is None:
        openssl(
            "req", "-new", "-x509", "-key", key, "-out", cert, "-subj", subject, "-utf8",
            "-days", "3650", "-sha256", "-extensions", "v3", "-config", _req_config(directory, ext),
            cwd=directory,
        )  # fmt: skip
        return cert
    csr = directory / f"{name}.csr"
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", subject, "-utf8", cwd=directory)
    openssl(
        "x509", "-req", "-in", csr, "-CA", issuer[0], "-CAkey", issuer[1], "-CAcreateserial",
        "-out", cert, "-days", "825", "-sha256", "-extfile", ext, cwd=directory,
    )  # fmt: skip
    return cert


def _req_config(directory: Path, ext: Path) -> Path:
    config = directory / f"{ext.stem}.cnf"
    config.write_text(
        "[req]\ndistinguished_name=dn\n[dn]\n[v3]\n"
        + ext.read_text().replace("authorityKeyIdentifier=keyid", "")
    )
    return config


def build_chain(directory: Path) -> Chain:
    directory.mkdir(parents=True, exist_ok=True)
    rsa2048 = ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    root_key = _key(directory, "root", *rsa2048)
    root = _issue(
        directory,
        "root",
        root_key,
        "/C=VN/O=Ban Cơ yếu Chính phủ (giả lập)/CN=Root CA chuyên dùng Chính phủ giả lập",
        CA_EXTENSIONS.format(path=""),
        None,
    )
    inter_key = _key(directory, "intermediate", *rsa2048)
    intermediate = _issue(
        directory,
        "intermediate",
        inter_key,
        "/C=VN/O=Ban Cơ yếu Chính phủ (giả lập)/CN=CA phục vụ các cơ quan nhà nước giả lập",
        CA_EXTENSIONS.format(path=",pathlen:0"),
        (root, root_key),
    )

    def leaf(name: str, *algorithm: str) -> Leaf:
        key = _key(directory, name, *algorithm)
        subject = f"/C=VN/O=Văn phòng UBND tỉnh giả lập/OU={UNIT}/CN=Bộ phận một cửa {name}"
        cert = _issue(directory, name, key, subject, LEAF_EXTENSIONS, (intermediate, inter_key))
        cert.write_bytes(cert.read_bytes() + intermediate.read_bytes())
        return Leaf(cert, key)

    rsa = leaf("agency-rsa", *rsa2048)
    ec = leaf("agency-ec", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    rsa1024 = leaf("agency-rsa1024", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
    ed25519 = leaf("agency-ed25519", "-algorithm", "ED25519")
    p12 = directory / "agency-rsa.p12"
    openssl(
        "pkcs12", "-export", "-inkey", rsa.key, "-in", rsa.certificate, "-out", p12,
        "-passout", f"pass:{P12_PASSWORD.decode()}", cwd=directory,
    )  # fmt: skip
    encrypted = directory / "agency-rsa.enc.key"
    openssl(
        "pkey", "-in", rsa.key, "-out", encrypted, "-aes256",
        "-passout", f"pass:{KEY_PASSWORD.decode()}", cwd=directory,
    )  # fmt: skip
    return Chain(directory, root, intermediate, rsa, ec, rsa1024, ed25519, p12, encrypted)


@pytest.fixture(scope="session")
def openssl_chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    if shutil.which("openssl") is None:
        unavailable("the openssl command is missing; `make test` installs it")
    return build_chain(tmp_path_factory.mktemp("openssl-chain"))


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory, openssl_chain: Chain) -> Iterator[str]:
    """The PKCS#11 module path, with a token :data:`TOKEN_LABEL` (PIN :data:`TOKEN_PIN`) holding
    ``agency-rsa`` and ``agency-ec``: keys and certificates under those labels."""
    if not softhsm_available(SOFTHSM_MODULE):
        unavailable("SoftHSM2 is missing (softhsm2-util, libsofthsm2.so); `make test` installs it")
    directory = tmp_path_factory.mktemp("softhsm")
    previous = os.environ.get("SOFTHSM2_CONF")
    leaves = (openssl_chain.rsa, openssl_chain.ec)
    make_token(
        directory,
        TOKEN_LABEL,
        TOKEN_PIN,
        [TokenKey(leaf.key.stem, leaf.key, leaf.load()) for leaf in leaves],
        SOFTHSM_MODULE,
    )
    try:
        yield SOFTHSM_MODULE
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
