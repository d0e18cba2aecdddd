"""The HTTP carriage of a signature: ``X-Lienthong-Signature: cades; <base64 DER>`` or
``X-Lienthong-Signature: jws; <compact detached JWS>``.

The body stays exactly as it was signed, so a receiver that knows nothing of signatures reads
the envelope unchanged. Parsing is strict and bounded: a header too long, truncated, of an
unknown format or not decodable is a :class:`SignatureHeaderError` with a stable code, before
any cryptography runs. docs/security.md, "Signing".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Literal

from asn1crypto import cms  # type: ignore[import-untyped]

__all__ = [
    "HEADER",
    "MAX_HEADER_LENGTH",
    "CarriedSignature",
    "SignatureHeaderError",
    "header_value",
    "parse_header",
]

HEADER = "X-Lienthong-Signature"
MAX_HEADER_LENGTH = 32_768
"""Characters of a header value: a CAdES signature with a three-certificate chain and a stapled
OCSP response is about 8 KiB of base64; a longer value is refused before it is decoded."""

SignatureFormat = Literal["cades", "jws"]

_FORM = re.compile(r"([A-Za-z]+)[ \t]*;[ \t]*(\S+)")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class SignatureHeaderError(ValueError):
    """A signature header that cannot be read; never retryable (the sender must fix it)."""

    retryable = False

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.code, self.vi, self.en = code, vi, en


@dataclass(frozen=True, slots=True)
class CarriedSignature:
    """A signature read from the header: ``cades`` (DER bytes) or ``jws`` (compact text)."""

    format: SignatureFormat
    cades: bytes | None = None
    jws: str | None = None


def header_value(format: SignatureFormat, signature: bytes | str) -> str:
    """The header value carrying a CAdES signature (DER bytes) or a compact JWS (text)."""
    if format == "cades" and isinstance(signature, bytes):
        return f"cades; {base64.b64encode(signature).decode('ascii')}"
    if format == "jws" and isinstance(signature, str):
        return f"jws; {signature}"
    raise TypeError("cades takes DER bytes, jws its compact text")


def parse_header(value: str) -> CarriedSignature:
    """The signature a header value carries, or :class:`SignatureHeaderError`."""
    if len(value) > MAX_HEADER_LENGTH:
        raise SignatureHeaderError(
            "signature_header.too_long",
            f"tiêu đề {HEADER} dài {len(value)} ký tự, tối đa {MAX_HEADER_LENGTH}",
            f"the {HEADER} header is {len(value)} characters, at most {MAX_HEADER_LENGTH}",
        )
    form = _FORM.fullmatch(value.strip())
    if form is None:
        raise SignatureHeaderError(
            "signature_header.malformed",
            f"tiêu đề {HEADER} phải có dạng 'cades; <base64>' hoặc 'jws; <JWS compact>'",
            f"the {HEADER} header must read 'cades; <base64>' or 'jws; <compact JWS>'",
        )
    kind, data = form.group(1).lower(), form.group(2)
    if kind == "cades":
        return CarriedSignature("cades", cades=_cades(data))
    if kind == "jws":
        return CarriedSignature("jws", jws=_jws(data))
    raise SignatureHeaderError(
        "signature_header.format",
        f"định dạng chữ ký {form.group(1)!r} không được hỗ trợ (cades, jws)",
        f"signature format {form.group(1)!r} is not supported (cades, jws)",
    )


def _cades(data: str) -> bytes:
    der = b""
    if _BASE64.fullmatch(data) and len(data) % 4 == 0:
        der = base64.b64decode(data, validate=True)
    try:
        if not der:
            raise ValueError("not base64")
        content_info = cms.ContentInfo.load(der, strict=True)
        if content_info["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
    except ValueError as exc:
        raise SignatureHeaderError(
            "signature_header.cades",
            f"chữ ký CAdES trong tiêu đề bị cắt cụt hoặc không phải CMS SignedData base64 ({exc})",
            f"the CAdES signature in the header is truncated or not base64 CMS SignedData ({exc})",
        ) from None
    return der


def _jws(data: str) -> str:
    parts = data.split(".")
    problem = None
    if len(parts) != 3 or parts[1] != "":
        problem = "not header..signature"
    elif not (_BASE64URL.fullmatch(parts[0]) and _BASE64URL.fullmatch(parts[2])):
        problem = "not base64url"
    else:
        try:
            header = json.loads(_unpadded(parts[0]))
            if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
                problem = "the protected header is not a JSON object with alg"
            elif not _whole(header["alg"], len(_unpadded(parts[2]))):
                problem = f"a signature of {header['alg']} cannot be this long"
        except (binascii.Error, UnicodeDecodeError, ValueError):
            problem = "the protected header or the signature is not base64url"
    if problem is not None:
        raise SignatureHeaderError(
            "signature_header.jws",
            f"JWS trong tiêu đề bị cắt cụt hoặc sai dạng compact tách rời ({problem})",
            f"the JWS in the header is truncated or not a detached compact JWS ({problem})",
        )
    return data


def _unpadded(text: str) -> bytes:
    if len(text) % 4 == 1:
        raise ValueError("a base64url text cannot be this long")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: Signature lengths: ES* exactly two coordinates (RFC 7518, 3.4); RS/PS* at least the smallest
#: modulus the policy allows. A cut signature is caught here; a cut RSA one of a larger key, by
#: the verification.
_ES_LENGTHS = {"ES256": 64, "ES384": 96, "ES512": 132}


def _whole(alg: str, length: int) -> bool:
    if alg in _ES_LENGTHS:
        return length == _ES_LENGTHS[alg]
    if alg[:2] in ("RS", "PS"):
        return length >= 256
    return length > 0
