"""RFC 3161 time-stamps: ask a time-stamp authority (TSA) over HTTP, and check a token offline.

The request and the check are rfc3161-client's (the time-stamp request, the TSA's signature,
its certificate's path to the given anchors, the critical id-kp-timeStamping usage, the
nonce); this module adds the HTTP exchange, bounded, and answers in the project's terms: a
:class:`TimestampError` with a stable code, Vietnamese and English, and whether a retry helps.

What is stamped is always the SHA-256 of some bytes (``data``): a Merkle root, a manifest.
The whole ``TimeStampResp`` is kept (DER), so ``openssl ts -verify -in FILE.tsr -data DATA``
checks it as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimeStampRequest,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

__all__ = [
    "MAX_RESPONSE_BYTES",
    "TIMESTAMP_QUERY",
    "TIMESTAMP_REPLY",
    "Timestamp",
    "TimestampError",
    "request_timestamp",
    "timestamp_request",
    "verify_timestamp",
]

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
#: A time-stamp answer is a few KB (the token and the TSA's chain); more is not one.
MAX_RESPONSE_BYTES = 256 * 1024


class TimestampError(Exception):
    """A time-stamp could not be had or does not hold: ``code`` (``timestamp.*``), both
    languages, and whether asking again may help (the TSA down or slow: yes; a token over
    other data: no)."""

    def __init__(self, code: str, vi: str, en: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.vi, self.en, self.retryable = code, vi, en, retryable


@dataclass(frozen=True)
class Timestamp:
    """A checked time-stamp: the TSA's whole answer (``TimeStampResp``, DER) and what it says."""

    #: The ``TimeStampResp`` as the TSA sent it (DER).
    response: bytes
    #: The time the TSA vouches for (``genTime``), aware UTC.
    time: dt.datetime
    #: SHA-256 of the stamped data, hex: what the token's message imprint holds.
    imprint: str
    serial: int
    #: The TSA certificate's subject (RFC 4514), when the token carries it.
    tsa: str


def _imprint(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _read(response: bytes) -> object:
    try:
        return decode_timestamp_response(response)
    except Exception:  # the Rust parser raises its own types on any malformed DER
        raise TimestampError(
            "timestamp.malformed",
            "câu trả lời của máy chủ dấu thời gian không đọc được (không phải TimeStampResp DER)",
            "the time-stamp answer cannot be read (not a DER TimeStampResp)",
        ) from None


def _described(parsed: object, data: bytes, response: bytes) -> Timestamp:
    info = parsed.tst_info  # type: ignore[attr-defined]
    if info.message_imprint.message != _imprint(data):
        raise TimestampError(
            "timestamp.imprint",
            "dấu thời gian được cấp cho dữ liệu khác (message imprint không khớp)",
            "the time-stamp was issued over other data (the message imprint differs)",
        )
    gen_time: dt.datetime = info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=dt.UTC)
    tsa = ""
    for der in parsed.signed_data.certificates:  # type: ignore[attr-defined]
        certificate = x509.load_der_x509_certificate(der)
        if ExtendedKeyUsageOID.TIME_STAMPING in _usages(certificate):
            tsa = certificate.subject.rfc4514_string()
    return Timestamp(
        response, gen_time.astimezone(dt.UTC), _imprint(data).hex(), info.serial_number, tsa
    )


def _usages(certificate: x509.Certificate) -> list[x509.ObjectIdentifier]:
    try:
        return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


def timestamp_request(data: bytes) -> TimeStampRequest:
    """The RFC 3161 request over SHA-256(``data``): with a nonce, asking for the TSA's
    certificates (so that the kept answer carries its chain)."""
    return (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )


def request_timestamp(
    url: str,
    data: bytes,
    *,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> Timestamp:
    """A time-stamp over SHA-256(``data``) from the TSA at ``url`` (one HTTP POST).

    The answer must be granted, over this imprint and carry this request's nonce; its signature
    is checked later, against anchors (:func:`verify_timestamp`), as the TSA's chain may be
    trusted only there. Raises :class:`TimestampError`: unreachable, slow, an HTTP error or a
    rejection are retryable; a malformed answer or one over other data are not.
    """
    request = timestamp_request(data)
    owned = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        with http.stream(
            "POST",
            url,
            content=request.as_bytes(),
            headers={"Content-Type": TIMESTAMP_QUERY, "Accept": TIMESTAMP_REPLY},
            timeout=timeout,
        ) as answer:
            body = bytearray()
            for chunk in answer.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_RESPONSE_BYTES:
                    raise TimestampError(
                        "timestamp.too_large",
                        f"máy chủ dấu thời gian trả lời quá {MAX_RESPONSE_BYTES} byte",
                        f"the time-stamp answer exceeds {MAX_RESPONSE_BYTES} bytes",
                    )
            status = answer.status_code
    except httpx.TimeoutException:
        raise TimestampError(
            "timestamp.timeout",
            f"máy chủ dấu thời gian {url} không trả lời trong {timeout:g} giây",
            f"the time-stamp authority {url} did not answer within {timeout:g} s",
            retryable=True,
        ) from None
    except httpx.HTTPError as exc:
        raise TimestampError(
            "timestamp.unreachable",
            f"không kết nối được máy chủ dấu thời gian {url}: {type(exc).__name__}",
            f"cannot reach the time-stamp authority {url}: {type(exc).__name__}",
            retryable=True,
        ) from None
    finally:
        if owned:
            http.close()
    if status != 200:
        raise TimestampError(
            "timestamp.http",
            f"máy chủ dấu thời gian trả lời HTTP {status}",
            f"the time-stamp authority answered HTTP {status}",
            retryable=True,
        )
    response = bytes(body)
    parsed = _read(response)
    if PKIStatus(parsed.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):  # type: ignore[attr-defined]
        raise TimestampError(
            "timestamp.rejected",
            f"máy chủ dấu thời gian từ chối (PKIStatus {parsed.status})",  # type: ignore[attr-defined]
            f"the time-stamp authority refused (PKIStatus {parsed.status})",  # type: ignore[attr-defined]
            retryable=True,
        )
    if parsed.tst_info.nonce != request.nonce:  # type: ignore[attr-defined]
        raise TimestampError(
            "timestamp.nonce",
            "dấu thời gian không mang nonce của yêu cầu (câu trả lời cho yêu cầu khác)",
            "the time-stamp does not carry the request's nonce (an answer to another request)",
        )
    return _described(parsed, data, response)


def verify_timestamp(
    response: bytes,
    data: bytes,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
) -> Timestamp:
    """Check offline a kept ``TimeStampResp`` over SHA-256(``data``): granted, the TSA's
    signature, its certificate a time-stamping one with a path to one of ``anchors`` (with the
    token's certificates and ``intermediates``), and the imprint. No network is used.
    Raises :class:`TimestampError` (never retryable: the bytes will not change)."""
    parsed = _read(response)
    if not anchors:
        raise TimestampError(
            "timestamp.no_anchor",
            "chưa có chứng thư gốc tin cậy để kiểm tra dấu thời gian",
            "no trust anchor to check the time-stamp against",
        )
    builder = VerifierBuilder()
    for anchor in anchors:
        builder = builder.add_root_certificate(anchor)
    # rfc3161-client hands roots and intermediates to OpenSSL as one trusted set: a self-issued
    # certificate among the intermediates (a root carried in a container, say) would become an
    # anchor the caller never chose. Only the anchors may end a path.
    for certificate in intermediates:
        if certificate.subject != certificate.issuer and certificate not in anchors:
            builder = builder.add_intermediate_certificate(certificate)
    try:
        builder.build().verify(parsed, _imprint(data))  # type: ignore[arg-type]
    except VerificationError as exc:
        reason = str(exc) or type(exc).__name__
        if "Mismatch between messages" in reason:
            raise TimestampError(
                "timestamp.imprint",
                "dấu thời gian được cấp cho dữ liệu khác (message imprint không khớp)",
                "the time-stamp was issued over other data (the message imprint differs)",
            ) from None
        raise TimestampError(
            "timestamp.invalid",
            f"dấu thời gian không hợp lệ: {reason}",
            f"the time-stamp is not valid: {reason}",
        ) from None
    except Exception as exc:  # a token the verifier cannot even walk (bad DER inside)
        raise TimestampError(
            "timestamp.invalid",
            f"dấu thời gian không hợp lệ: {type(exc).__name__}",
            f"the time-stamp is not valid: {type(exc).__name__}",
        ) from None
    return _described(parsed, data, response)
