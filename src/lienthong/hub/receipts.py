"""Signed receipts (issue 12; docs/security.md, "Receipts").

Every answer to a push (an answer with per-record ``records``) carries the hub's signature
over a receipt: the SHA-256 of the exact request bytes, the per-record outcomes, the answer's
code and the time. The sender can show it later as proof of what the hub received and said.
The receipt travels in two answer headers, so the body stays what clients already read:

- ``X-Lienthong-Receipt``: the receipt's exact bytes (JSON), base64;
- ``X-Lienthong-Receipt-Signature``: ``cades; <base64 DER>`` or ``jws; <compact>``, over those
  bytes (the form of ``X-Lienthong-Signature``).

Receipts are signed only when a receipt key is set (``LIENTHONG_RECEIPT_*``); the format is
:mod:`lienthong.security.receipts`. With trust anchors set (``LIENTHONG_TRUST_ANCHORS``) the hub
checks its own certificate at start and every ``LIENTHONG_RECEIPT_CHECK_INTERVAL_SECONDS``
(:class:`~lienthong.security.selfcheck.SigningSelfCheck`) and staples the answers it fetched to
every CAdES receipt, so a third party can check the receipt offline, hard-fail; a revoked or
expired key signs no receipt (:class:`ReceiptKeyBlocked`): the push is answered without one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from lienthong.hub.settings import HubSettings, SettingsError
from lienthong.hub.signatures import trust_anchors
from lienthong.security.certificates import fingerprint
from lienthong.security.header import header_value
from lienthong.security.jws import sign_jws
from lienthong.security.policy import AlgorithmProblem
from lienthong.security.receipts import (
    MAX_LISTED_BYTES,
    RECEIPT_HEADER,
    RECEIPT_SIGNATURE_HEADER,
    RECEIPT_VERSION,
    receipt_records,
    records_sha256,
    rfc3339,
)
from lienthong.security.selfcheck import BLOCKING, SigningSelfCheck, Stapled
from lienthong.security.signers import FileSigner, Pkcs11Signer, Signer, SignerError, pkcs11_module
from lienthong.security.verify import VerifyContext

__all__ = [
    "Issued",
    "ReceiptKeyBlocked",
    "ReceiptSigner",
    "check_receipt_key",
    "open_receipt_signer",
    "receipt_self_check",
]

logger = logging.getLogger("lienthong.hub.receipts")


def _first_line(path: str, setting: str) -> str:
    try:
        return Path(path).read_text("utf-8").splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "empty"
        raise SettingsError(
            f"{setting}: không đọc được {path}: {reason}",
            f"{setting}: cannot read {path}: {reason}",
        ) from None


def open_receipt_signer(settings: HubSettings) -> Signer | None:
    """The hub's receipt key the settings name, None when none is set, or a bilingual
    :class:`SettingsError` (an unreadable file, a wrong password, a key the policy refuses)."""
    if not settings.receipts:
        return None
    if settings.receipt_format not in ("cades", "jws"):
        raise SettingsError(
            f"LIENTHONG_RECEIPT_FORMAT: {settings.receipt_format!r}, chọn cades hoặc jws",
            f"LIENTHONG_RECEIPT_FORMAT: {settings.receipt_format!r}, choose cades or jws",
        )
    chosen = [
        bool(settings.receipt_pkcs12),
        bool(settings.receipt_cert_file or settings.receipt_key_file),
        bool(settings.receipt_pkcs11_token),
    ]
    complete = (not settings.receipt_cert_file or settings.receipt_key_file) and (
        not settings.receipt_pkcs11_token or settings.receipt_pkcs11_key_label
    )
    if sum(chosen) != 1 or not complete:
        raise SettingsError(
            "khóa ký biên nhận: chọn đúng một: LIENTHONG_RECEIPT_PKCS12, hoặc "
            "LIENTHONG_RECEIPT_CERT_FILE với LIENTHONG_RECEIPT_KEY_FILE, hoặc "
            "LIENTHONG_RECEIPT_PKCS11_TOKEN với LIENTHONG_RECEIPT_PKCS11_KEY_LABEL",
            "the receipt key: choose exactly one: LIENTHONG_RECEIPT_PKCS12, or "
            "LIENTHONG_RECEIPT_CERT_FILE with LIENTHONG_RECEIPT_KEY_FILE, or "
            "LIENTHONG_RECEIPT_PKCS11_TOKEN with LIENTHONG_RECEIPT_PKCS11_KEY_LABEL",
        )
    password = (
        _first_line(settings.receipt_password_file, "LIENTHONG_RECEIPT_PASSWORD_FILE").encode()
        if settings.receipt_password_file
        else None
    )
    try:
        if settings.receipt_pkcs11_token:
            pin = (
                _first_line(settings.receipt_pin_file, "LIENTHONG_RECEIPT_PIN_FILE")
                if settings.receipt_pin_file
                else ""
            )
            return Pkcs11Signer(
                pkcs11_module(),
                settings.receipt_pkcs11_token,
                pin,
                settings.receipt_pkcs11_key_label,
            )
        if settings.receipt_pkcs12:
            return FileSigner.from_pkcs12(Path(settings.receipt_pkcs12), password)
        return FileSigner.from_pem(
            Path(settings.receipt_cert_file), Path(settings.receipt_key_file), password
        )
    except (SignerError, AlgorithmProblem) as problem:
        raise SettingsError(
            f"khóa ký biên nhận: {problem.vi}", f"the receipt key: {problem.en}"
        ) from None


def check_receipt_key(settings: HubSettings) -> None:
    """Open and close the receipt key once (``lienthong hub``, before anything starts):
    :class:`SettingsError` when it cannot sign."""
    signer = open_receipt_signer(settings)
    if isinstance(signer, Pkcs11Signer):
        signer.close()


def receipt_self_check(signer: Signer, settings: HubSettings) -> SigningSelfCheck | None:
    """The self-check of the hub's key ``signer`` against ``LIENTHONG_TRUST_ANCHORS``, made once
    now; None (and a warning) without anchors: its signatures then carry no OCSP answer, and a
    verifier offline can check them only soft-fail."""
    anchors = trust_anchors(settings.trust_anchors)
    if not anchors:
        logger.warning(
            "LIENTHONG_TRUST_ANCHORS is not set: the hub cannot check its own key (%s) nor staple "
            "its OCSP answer; its receipts will not verify offline hard-fail",
            signer.certificate.subject.rfc4514_string(),
        )
        return None
    check = SigningSelfCheck(
        signer,
        VerifyContext(
            trust_anchors=anchors,
            allow_fetching=True,
            fetch_timeout_seconds=settings.signature_fetch_timeout_seconds,
        ),
        settings.receipt_check_interval_seconds,
        logger=logger,
    )
    check.check()
    return check


class ReceiptKeyBlocked(Exception):
    """The hub's receipt key may not sign now (revoked, expired, untrusted, weak): the push is
    answered without a receipt rather than with one nobody can trust."""

    def __init__(self, status: str, vi: str, en: str) -> None:
        super().__init__(f"receipt key blocked ({status}): {en}")
        self.status, self.vi, self.en = status, vi, en


@dataclass(frozen=True, slots=True)
class Issued:
    """A signed receipt: its bytes, its signature (DER, or the compact JWS's ASCII) and the
    answer headers carrying both."""

    receipt: bytes
    signature: bytes
    headers: dict[str, str]


class ReceiptSigner:
    """Builds and signs the receipts of one hub (thread-safe: the signers and the self-check
    are)."""

    def __init__(
        self, signer: Signer, format: str = "cades", self_check: SigningSelfCheck | None = None
    ) -> None:
        self.signer = signer
        self.format = format
        self.self_check = self_check
        """Checks the hub's own certificate (None: no anchors, nothing checked or stapled)."""
        self.hub = fingerprint(signer.certificate)
        """SHA-256 (hex) of the hub's certificate, named in every receipt."""

    @property
    def state(self) -> str:
        """``ok``, ``blocked`` (no receipts now) or ``unchecked`` (no anchors, or the CA could
        not be reached: receipts signed without an OCSP answer)."""
        return "unchecked" if self.self_check is None else self.self_check.state

    @property
    def signing_ok(self) -> bool:
        return self.state != "blocked"

    def receipt(
        self,
        *,
        service: str | None,
        unit: str | None,
        account: str | None,
        request: bytes,
        received_at: dt.datetime,
        body: Mapping[str, Any],
    ) -> bytes:
        """The receipt's exact bytes for an answer ``body`` to the request ``request``."""
        listed = receipt_records(body.get("records") or [])
        value: dict[str, Any] = {
            "version": RECEIPT_VERSION,
            "service": service,
            "madonvi": unit,
            "account": account,
            "request_sha256": hashlib.sha256(request).hexdigest(),
            "received_at": rfc3339(received_at),
            "error_code": body.get("error_code"),
            "records": listed,
            "hub": self.hub,
        }
        data = orjson.dumps(value)
        if len(data) > MAX_LISTED_BYTES:
            del value["records"]
            value["records_count"] = len(listed)
            value["records_sha256"] = records_sha256(listed)
            data = orjson.dumps(value)
        return data

    def issue(self, receipt: bytes) -> Issued:
        """Sign ``receipt`` (CAdES: with the self-check's OCSP answers); the headers of the
        answer that carries it. :class:`ReceiptKeyBlocked` when the key may not sign now."""
        stapled = Stapled()
        if self.self_check is not None:
            verification, stapled = self.self_check.current()
            if verification.status in BLOCKING:
                raise ReceiptKeyBlocked(verification.status.value, verification.vi, verification.en)
        if self.format == "jws":
            compact = sign_jws(receipt, self.signer)
            signature, carried = compact.encode("ascii"), header_value("jws", compact)
        else:
            signature = stapled.sign(receipt, self.signer)
            carried = header_value("cades", signature)
        return Issued(
            receipt,
            signature,
            {
                RECEIPT_HEADER: base64.b64encode(receipt).decode("ascii"),
                RECEIPT_SIGNATURE_HEADER: carried,
            },
        )
