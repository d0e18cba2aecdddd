"""Certificates for the TLS tests, made by the ``openssl`` command-line tool once per session.

A CA; a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1 and DNS:localhost)
signed by it; two client certificates signed by it (A and B); and an unrelated CA that signed
nothing the servers use. Keys are ECDSA P-256 (Circular 15/2025/TT-BKHCN allows ECDSA of 256
bits and more), unencrypted PEM.

Import the ``tls`` fixture into a test module to use it.
"""

from __future__ import annotations

import secrets
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["TLSMaterial", "client_context", "make_material", "tls"]

_CA_CONFIG = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
"""

_CLIENT_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""

_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class TLSMaterial:
    """Paths of the PEM files (``*_key``: the private keys)."""

    ca: Path
    ca_key: Path
    server: Path
    server_key: Path
    client_a: Path
    client_a_key: Path
    client_b: Path
    client_b_key: Path
    other_ca: Path
    other_ca_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _ca(folder: Path, name: str, subject: str) -> tuple[Path, Path]:
    config = folder / "ca.cnf"
    config.write_text(_CA_CONFIG, "ascii")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl(
        "req", "-x509", "-new", *_CURVE, "-keyout", key, "-out", cert, "-days", "30",
        "-subj", subject, "-config", config, "-extensions", "ca", cwd=folder,
    )  # fmt: skip
    return cert, key


def _leaf(
    folder: Path, name: str, subject: str, extensions: str, ca: tuple[Path, Path]
) -> tuple[Path, Path]:
    request, cert, key = folder / f"{name}.csr", folder / f"{name}.pem", folder / f"{name}.key"
    ext = folder / f"{name}.ext"
    ext.write_text(extensions, "ascii")
    _openssl("req", "-new", *_CURVE, "-keyout", key, "-out", request, "-subj", subject, cwd=folder)
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1], "-out", cert,
        "-days", "30", "-set_serial", str(secrets.randbits(63)), "-extfile", ext, cwd=folder,
    )  # fmt: skip
    return cert, key


def make_material(folder: Path) -> TLSMaterial:
    """Make every file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, "ca", "/C=VN/O=lienthong test/CN=lienthong test CA (gia lap)")
    other = _ca(folder, "other-ca", "/C=VN/O=somebody else/CN=unrelated CA")
    server = _leaf(folder, "server", "/C=VN/O=lienthong test/CN=127.0.0.1", _SERVER_EXTENSIONS, ca)
    a = _leaf(folder, "client-a", "/C=VN/O=tinh A/CN=mot cua A", _CLIENT_EXTENSIONS, ca)
    b = _leaf(folder, "client-b", "/C=VN/O=tinh B/CN=mot cua B", _CLIENT_EXTENSIONS, ca)
    return TLSMaterial(
        ca=ca[0],
        ca_key=ca[1],
        server=server[0],
        server_key=server[1],
        client_a=a[0],
        client_a_key=a[1],
        client_b=b[0],
        client_b_key=b[1],
        other_ca=other[0],
        other_ca_key=other[1],
    )


def client_context(
    material: TLSMaterial, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A client context trusting ``material.ca``, presenting ``cert`` when given."""
    context = ssl.create_default_context(cafile=str(material.ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    """The session's certificates (see the module)."""
    return make_material(tmp_path_factory.mktemp("tls"))
