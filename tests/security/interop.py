"""Checks of our signatures by code we did not write for signing: the ``openssl cms`` command,
and a JWS verifier written from RFC 7515/7797 on ``cryptography`` alone (with joserfc beside
it), so that a mistake shared by the signer and its own reading cannot pass."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

_JWS_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def openssl_cms(
    signature: bytes, body: bytes, root: Path, work: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``openssl cms -verify`` of a detached DER signature of ``body`` against ``root``."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "body").write_bytes(body)
    (work / "body.p7s").write_bytes(signature)
    return subprocess.run(
        [
            "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "body.p7s",
            "-content", "body", "-CAfile", str(root), "-purpose", "any", "-out", "/dev/null",
            *extra,
        ],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip


def openssl_ts_verify(
    response: bytes, data: bytes, root: Path, untrusted: bytes, work: Path
) -> subprocess.CompletedProcess[str]:
    """``openssl ts -verify`` of a ``TimeStampResp`` over ``data`` against ``root``, the TSA's
    certificate and chain (PEM) given as ``untrusted``."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").write_bytes(data)
    (work / "answer.tsr").write_bytes(response)
    (work / "untrusted.pem").write_bytes(untrusted)
    return subprocess.run(
        [
            "openssl", "ts", "-verify", "-in", "answer.tsr", "-data", "data",
            "-CAfile", str(root), "-untrusted", "untrusted.pem",
        ],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip


def openssl_print(signature: bytes, work: Path) -> str:
    """``openssl cms -cmsout -print`` of a DER signature."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "printed.p7s").write_bytes(signature)
    done = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", "printed.p7s"],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jws(compact: str, body: bytes) -> dict[str, Any]:
    """The protected header of a detached unencoded-payload JWS of ``body``, verified against
    its ``x5c`` leaf; AssertionError or InvalidSignature otherwise."""
    encoded_header, payload, encoded_signature = compact.split(".")
    assert payload == "", "a detached JWS has an empty payload part"
    header: dict[str, Any] = json.loads(_b64url_decode(encoded_header))
    assert header["b64"] is False and header["crit"] == ["b64"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    signing_input = encoded_header.encode("ascii") + b"." + body
    signature = _b64url_decode(encoded_signature)
    family, bits = header["alg"][:2], header["alg"][2:]
    digest = _JWS_HASHES[bits]()
    key = leaf.public_key()
    if family == "ES":
        assert isinstance(key, ec.EllipticCurvePublicKey)
        half = len(signature) // 2
        assert half == (key.curve.key_size + 7) // 8
        der = utils.encode_dss_signature(
            int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        )
        key.verify(der, signing_input, ec.ECDSA(digest))
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        scheme: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if family == "PS"
            else padding.PKCS1v15()
        )
        key.verify(signature, signing_input, scheme, digest)
    return header


def verify_jws_with_joserfc(compact: str, body: bytes) -> None:
    """The same JWS through joserfc, a JOSE library nobody here wrote."""
    from joserfc import jws
    from joserfc.jwk import ECKey, RSAKey

    header = json.loads(_b64url_decode(compact.split(".")[0]))
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    public = leaf.public_key()
    key = ECKey.import_key(public) if isinstance(public, ec.EllipticCurvePublicKey) else None
    key = key or RSAKey.import_key(public)  # type: ignore[arg-type]
    # joserfc's defaults stop at 512-byte headers and unknown parameters; x5c and sigT are more.
    registry = jws.JWSRegistry(algorithms=[header["alg"]], strict_check_header=False)
    registry.max_header_length = 16_384
    jws.deserialize_compact(compact, key, registry=registry, payload=body)
