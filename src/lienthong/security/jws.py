"""Detached JWS (RFC 7515) with an unencoded payload (RFC 7797) over the exact bytes of a body.

The protected header is ``{"alg", "b64": false, "crit": ["b64"], "x5c", "sigT"}``: ``x5c`` the
signer's certificate then its chain (standard base64 DER, RFC 7515 4.1.6), ``sigT`` the signing
time (RFC 3339, UTC, as JAdES names it). The signing input is ``ASCII(BASE64URL(header)) || '.'
|| body``; the compact form leaves the payload part empty (RFC 7515 Appendix F), so the body
travels unchanged beside it.

Written on cryptography (through the :class:`~lienthong.security.signers.Signer`) rather than
joserfc: a JOSE library signs with a key object, and keys on tokens or at a remote service give
signatures, not key objects.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from lienthong.security.signers import Signer, SignerError

__all__ = ["b64url", "jws_algorithm", "sign_jws"]

_ALGORITHMS = {
    ("rsassa_pss", "sha256"): "PS256",
    ("rsassa_pss", "sha384"): "PS384",
    ("rsassa_pss", "sha512"): "PS512",
    ("rsassa_pkcs1v15", "sha256"): "RS256",
    ("rsassa_pkcs1v15", "sha384"): "RS384",
    ("rsassa_pkcs1v15", "sha512"): "RS512",
    ("ecdsa", "sha256"): "ES256",
    ("ecdsa", "sha384"): "ES384",
    ("ecdsa", "sha512"): "ES512",
}
#: RFC 7518, 3.4: each ES algorithm names one curve.
_ES_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515, 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jws_algorithm(signer: Signer) -> str:
    """The JWS ``alg`` of a signer's scheme, digest and curve (RFC 7518, 3.1)."""
    alg = _ALGORITHMS.get((signer.scheme, signer.digest))
    public_key = signer.certificate.public_key()
    if (
        alg is not None
        and isinstance(public_key, ec.EllipticCurvePublicKey)
        and _ES_CURVES[alg] != public_key.curve.name
    ):
        alg = None
    if alg is None:
        raise SignerError(
            "jws.algorithm",
            f"JWS không có thuật toán cho {signer.scheme} với {signer.digest} trên khóa này; "
            "dùng CAdES hoặc SHA-256/384/512",
            f"JWS has no algorithm for {signer.scheme} with {signer.digest} on this key; "
            "use CAdES or SHA-256/384/512",
        )
    return alg


def sign_jws(body: bytes, signer: Signer, *, signing_time: dt.datetime | None = None) -> str:
    """The compact detached JWS of ``body`` by ``signer``: ``header..signature``."""
    alg = jws_algorithm(signer)
    if signing_time is None:
        signing_time = dt.datetime.now(dt.UTC)
    elif signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    moment = signing_time.astimezone(dt.UTC).replace(microsecond=0)
    header = {
        "alg": alg,
        "b64": False,
        "crit": ["b64"],
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for c in (signer.certificate, *signer.chain)
        ],
        "sigT": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    encoded_header = b64url(json.dumps(header, separators=(",", ":")).encode("ascii"))
    signature = signer.sign(encoded_header.encode("ascii") + b"." + body)
    if signer.scheme == "ecdsa":
        # JWS carries R || S, each as long as the curve's order (RFC 7518, 3.4).
        public_key = signer.certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        size = (public_key.curve.key_size + 7) // 8
        r, s = utils.decode_dss_signature(signature)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{encoded_header}..{b64url(signature)}"
