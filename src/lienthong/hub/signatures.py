"""Signed envelopes at the hub (Circular 04/2025/TT-VPCP; docs/security.md, "The hub").

Which calls must be signed: the account's mode (``lienthong accounts signature``), else the
service's (``LIENTHONG_SIGNATURE_SERVICES``), else the hub's (``LIENTHONG_SIGNATURE_MODE``,
default ``if-present`` so that unsigned clients keep working). A signature carried in the
``X-Lienthong-Signature`` header is verified over the exact request bytes before anything is
stored: integrity, the path to the configured anchors, validity and revocation at the signing
time, algorithms, key usage, and that the certificate belongs to the envelope's unit. A refusal
is one of the codes 50-57, each saying whether a retry can help; the result, the chain and the
revocation data used are kept with the message-log row (:func:`keep`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from lienthong.evidence.kept import KeptVerification, keep_verification
from lienthong.hub.errors import HubError
from lienthong.hub.settings import HubSettings, SettingsError
from lienthong.security.certificates import CertificateProblem, load_anchors
from lienthong.security.header import SignatureHeaderError, parse_header
from lienthong.security.policy import SignatureMode
from lienthong.security.revocation_cache import RevocationCache
from lienthong.security.verify import (
    Status,
    Verification,
    VerifyContext,
    verify_cades,
    verify_jws,
)
from lienthong.store.tables import MessageLog, MessageSignature

__all__ = [
    "SIGNATURE_CODES",
    "SignatureGate",
    "SignatureRefused",
    "keep",
    "kept_verification",
    "trust_anchors",
]

#: The answer code of each status that refuses an envelope.
SIGNATURE_CODES: Mapping[Status, str] = {
    Status.INVALID: "51",
    Status.UNTRUSTED: "52",
    Status.REVOKED: "53",
    Status.EXPIRED: "54",
    Status.WEAK: "55",
    Status.INDETERMINATE: "56",
    Status.WRONG_UNIT: "57",
}


class SignatureRefused(HubError):
    """A refused signature, with what its verification found (kept in the log)."""

    def __init__(
        self,
        code: str,
        detail: str,
        detail_en: str,
        verification: Verification | None = None,
        signature: bytes | None = None,
    ) -> None:
        super().__init__(code, detail, detail_en)
        self.verification = verification
        self.signature = signature


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    """A signature the hub verified and took, with the bytes it came as."""

    verification: Verification
    signature: bytes


def _modes(text: str) -> dict[str, SignatureMode]:
    """``Service=mode,...`` (``LIENTHONG_SIGNATURE_SERVICES``)."""
    modes: dict[str, SignatureMode] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        service, _, mode = item.partition("=")
        try:
            modes[service.strip()] = SignatureMode(mode.strip())
        except ValueError:
            choices = ", ".join(m.value for m in SignatureMode)
            raise SettingsError(
                f"LIENTHONG_SIGNATURE_SERVICES: {item!r} phải có dạng Dịch_vụ=chế_độ ({choices})",
                f"LIENTHONG_SIGNATURE_SERVICES: {item!r} must read Service=mode ({choices})",
            ) from None
    return modes


def trust_anchors(text: str) -> tuple[x509.Certificate, ...]:
    """The certificates of the files named in ``LIENTHONG_TRUST_ANCHORS``."""
    try:
        return load_anchors(name.strip() for name in text.split(",") if name.strip())
    except CertificateProblem as problem:
        raise SettingsError(
            f"LIENTHONG_TRUST_ANCHORS: không đọc được chứng thư gốc: {problem.vi}",
            f"LIENTHONG_TRUST_ANCHORS: cannot read the trust anchor: {problem.en}",
        ) from None


class SignatureGate:
    """The hub's signature policy and verifier (one per process)."""

    def __init__(self, settings: HubSettings) -> None:
        try:
            self.default = SignatureMode(settings.signature_mode)
        except ValueError:
            choices = ", ".join(m.value for m in SignatureMode)
            raise SettingsError(
                f"LIENTHONG_SIGNATURE_MODE: {settings.signature_mode!r}, chọn {choices}",
                f"LIENTHONG_SIGNATURE_MODE: {settings.signature_mode!r}, choose {choices}",
            ) from None
        self.services = _modes(settings.signature_services)
        # a steady stream of one province's pushes then costs no network call per message
        self.cache = (
            RevocationCache(settings.signature_cache_entries, settings.signature_cache_seconds)
            if settings.signature_cache_entries > 0 and settings.signature_cache_seconds > 0
            else None
        )
        self.context = VerifyContext(
            trust_anchors=trust_anchors(settings.trust_anchors),
            allow_fetching=settings.signature_fetch,
            clock_skew_seconds=settings.signature_clock_skew_seconds,
            fetch_timeout_seconds=settings.signature_fetch_timeout_seconds,
            revocation_cache=self.cache,
        )

    def mode_for(self, account_mode: str | None, service: str) -> SignatureMode:
        if account_mode:
            return SignatureMode(account_mode)
        return self.services.get(service, self.default)

    def check(
        self, header: str | None, body: bytes | None, unit: str, mode: SignatureMode
    ) -> Checked | None:
        """The verified signature of a call, None when there is none to verify, or
        :class:`SignatureRefused`."""
        if mode is SignatureMode.OFF:
            return None
        if header is None or not header.strip():
            if mode is SignatureMode.REQUIRED:
                raise SignatureRefused(
                    "50", "thiếu tiêu đề X-Lienthong-Signature", "no X-Lienthong-Signature header"
                )
            return None
        try:
            carried = parse_header(header)
        except SignatureHeaderError as problem:
            raise SignatureRefused("51", problem.vi, problem.en) from None
        signed = body or b""
        context = dataclasses.replace(self.context, unit=unit)
        if carried.cades is not None:
            raw = carried.cades
            verification = verify_cades(signed, raw, context)
        else:
            assert carried.jws is not None
            raw = carried.jws.encode("ascii")
            verification = verify_jws(signed, carried.jws, context)
        if not verification.valid:
            raise SignatureRefused(
                SIGNATURE_CODES[verification.status],
                verification.vi,
                verification.en,
                verification,
                raw,
            )
        return Checked(verification, raw)


def keep(
    db: Session, row: MessageLog, verification: Verification, signature: bytes | None
) -> KeptVerification:
    """Keep a verification with its message-log row (flushed here for its id): the result, the
    signature as received, and each certificate and revocation answer once, by digest; what was
    kept, for the evidence entry."""
    if row.id is None:
        db.flush()
    kept = keep_verification(db, verification)
    result = kept.result
    db.add(
        MessageSignature(
            log_id=row.id,
            format=verification.format,
            status=verification.status.value,
            signer_sha256=verification.fingerprint,
            unit=(verification.unit or "")[:40] or None,
            signing_time=verification.signing_time,
            signature=signature,
            result=result,
        )
    )
    return kept


def kept_verification(result: Mapping[str, Any]) -> Verification:
    """A kept result (``message_signatures.result``) as a Verification again, for the report
    (the DER stays in its tables: the chain and revocation entries here name it by digest)."""
    shown = {
        **result,
        "chain": [],
        "revocation": [{**item, "der": ""} for item in result.get("revocation", [])],
    }
    return Verification.from_dict(shown)
