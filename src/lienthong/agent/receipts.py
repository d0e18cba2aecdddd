"""The hub's signed receipts, checked by the agent (issue 12; docs/agent.md, "Receipts").

When a push answer carries a receipt (``X-Lienthong-Receipt`` and
``X-Lienthong-Receipt-Signature``), the agent checks, in this order: the signature over the
receipt's exact bytes against the configured anchors (``portal.receipt_anchors``, else
``signing.trust_anchors``), that the receipt names the certificate that signed it, that its
``request_sha256`` is the digest of the exact bytes sent, that it speaks of the envelope sent
(service, unit), and that its code and per-record outcomes are the answer's. The first check
that fails makes the receipt invalid. An invalid receipt is loud (logged at ERROR, counted,
shown in the status and in the rows' last error) but changes nothing of what the answer
means: the point is evidence, and records are neither lost nor sent again because of it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from cryptography import x509

from lienthong.agent.portal import PortalAnswer
from lienthong.agent.settings import AgentSettings, SettingsError
from lienthong.security.certificates import CertificateProblem, load_anchors
from lienthong.security.header import SignatureHeaderError, parse_header
from lienthong.security.receipts import RECEIPT_VERSION, receipt_records, records_sha256
from lienthong.security.verify import Verification, VerifyContext, verify_cades, verify_jws

__all__ = ["ReceiptCheck", "ReceiptChecker"]

logger = logging.getLogger("lienthong.agent.receipts")

#: Characters of a receipt header: the hub lists outcomes up to 48 KiB, base64 grows it by 4/3.
MAX_RECEIPT_HEADER = 96 * 1024

ReceiptStatus = Literal["valid", "invalid", "missing"]


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """What the agent found of one answer's receipt."""

    status: ReceiptStatus
    reason: str
    """``receipt.valid``, ``receipt.missing``, ``receipt.malformed``, ``receipt.signature``,
    ``receipt.hub``, ``receipt.digest``, ``receipt.envelope``, ``receipt.records``."""
    vi: str
    en: str
    receipt: bytes | None = None
    signature: bytes | None = None
    """DER (``cades``) or the compact JWS's ASCII (``jws``)."""
    format: str | None = None
    request_sha256: str | None = None
    """The digest of the bytes the agent sent."""
    verification: Verification | None = None

    @property
    def kept(self) -> bool:
        """Whether the check is kept as a receipt row: a receipt came, or one was due."""
        return self.receipt is not None or self.status == "invalid"

    def result(self) -> dict[str, Any]:
        """The check as kept with the receipt (``agent_receipts.result``)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "message": self.vi,
            "message_en": self.en,
            "verification": self.verification.as_dict() if self.verification else None,
        }


def _anchors(files: tuple[str, ...]) -> tuple[x509.Certificate, ...]:
    try:
        return load_anchors(files)
    except CertificateProblem as problem:
        raise SettingsError(f"portal.receipt_anchors: {problem.en}") from None


class ReceiptChecker:
    """Checks the receipts of one agent's push answers."""

    def __init__(self, settings: AgentSettings) -> None:
        self.required = settings.portal.require_receipts
        self.context = VerifyContext(
            trust_anchors=_anchors(settings.receipt_anchors),
            allow_fetching=True,
            fetch_timeout_seconds=settings.signing.fetch_timeout_seconds,
        )

    def check(self, answer: PortalAnswer, service: str, unit: str) -> ReceiptCheck:
        """The check of ``answer``'s receipt, for an envelope of ``service`` for ``unit``."""
        found = self._check(answer, service, unit)
        if found.status == "invalid":
            logger.error(
                "INVALID RECEIPT of the hub for %s (%s): %s (%s)",
                service,
                unit,
                found.en,
                found.reason,
            )
        return found

    def _check(self, answer: PortalAnswer, service: str, unit: str) -> ReceiptCheck:
        sent = answer.sent_sha256
        if answer.receipt is None and answer.receipt_signature is None:
            if self.required:
                return ReceiptCheck(
                    "invalid",
                    "receipt.missing",
                    "câu trả lời không kèm biên nhận có chữ ký, mà cấu hình yêu cầu",
                    "the answer carries no signed receipt, and one is required",
                    request_sha256=sent,
                )
            return ReceiptCheck(
                "missing",
                "receipt.missing",
                "không có biên nhận",
                "no receipt",
                request_sha256=sent,
            )
        facts: dict[str, Any] = {"request_sha256": sent}

        def refused(reason: str, vi: str, en: str) -> ReceiptCheck:
            return ReceiptCheck("invalid", reason, vi, en, **facts)

        receipt = _decoded(answer.receipt)
        if receipt is None or not answer.receipt_signature:
            return refused(
                "receipt.malformed",
                "biên nhận thiếu hoặc không đọc được (base64)",
                "the receipt is missing or unreadable (base64)",
            )
        facts["receipt"] = receipt
        try:
            carried = parse_header(answer.receipt_signature)
        except SignatureHeaderError as problem:
            return refused("receipt.malformed", problem.vi, problem.en)
        if carried.cades is not None:
            facts.update(signature=carried.cades, format="cades")
            verification = verify_cades(receipt, carried.cades, self.context)
        else:
            assert carried.jws is not None
            facts.update(signature=carried.jws.encode("ascii"), format="jws")
            verification = verify_jws(receipt, carried.jws, self.context)
        facts["verification"] = verification
        if not verification.valid:
            return refused(
                "receipt.signature",
                f"chữ ký của biên nhận: {verification.vi}",
                f"the receipt's signature: {verification.en}",
            )
        try:
            value = orjson.loads(receipt)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict) or value.get("version") != RECEIPT_VERSION:
            return refused(
                "receipt.malformed",
                f"biên nhận không phải đối tượng JSON phiên bản {RECEIPT_VERSION}",
                f"the receipt is not a version {RECEIPT_VERSION} JSON object",
            )
        if value.get("hub") != verification.fingerprint:
            return refused(
                "receipt.hub",
                "biên nhận ghi một chứng thư khác với chứng thư đã ký nó",
                "the receipt names another certificate than the one that signed it",
            )
        if sent is None or value.get("request_sha256") != sent:
            return refused(
                "receipt.digest",
                "biên nhận nói về một nội dung khác với nội dung đã gửi (SHA-256 khác)",
                "the receipt speaks of other bytes than those sent (another SHA-256)",
            )
        if value.get("service") != service or value.get("madonvi") != unit:
            return refused(
                "receipt.envelope",
                f"biên nhận nói về {value.get('service')} của {value.get('madonvi')}",
                f"the receipt speaks of {value.get('service')} of {value.get('madonvi')}",
            )
        if not _same_outcomes(value, answer.body or {}):
            return refused(
                "receipt.records",
                "mã trả lời hoặc kết quả từng bản ghi trong biên nhận khác với câu trả lời",
                "the receipt's answer code or per-record outcomes differ from the answer's",
            )
        return ReceiptCheck("valid", "receipt.valid", verification.vi, verification.en, **facts)


def _decoded(header: str | None) -> bytes | None:
    if header is None or len(header) > MAX_RECEIPT_HEADER:
        return None
    try:
        return base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _same_outcomes(receipt: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    records = body.get("records")
    if receipt.get("error_code") != body.get("error_code") or not isinstance(records, list):
        return False
    listed = receipt_records(records)
    if "records" in receipt:
        return bool(receipt["records"] == listed)
    return bool(
        receipt.get("records_count") == len(listed)
        and receipt.get("records_sha256") == records_sha256(listed)
    )
