"""Signing every envelope the agent delivers (issue 12; docs/agent.md, "Signing").

The body is serialized once and signed over its exact bytes (CAdES-B-B detached CMS, or
detached JWS); the signature travels in the ``X-Lienthong-Signature`` header, so a receiver that
knows nothing of it reads the envelope unchanged. Before signing, and again every
``check_interval_seconds``, the agent checks its own certificate the way the hub will: a probe
signature verified against the configured anchors, revocation fetched (OCSP first, else the
CRL). Its OCSP answer is then stapled to every signature, so the hub need not call the CA for
each message. A revoked or expired certificate blocks signing (:class:`SigningBlocked`): records
wait in the outbox, the status and the metric say why; a CA that cannot be reached only leaves
the answer unstapled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from lienthong.agent.portal import PortalLoginFailed
from lienthong.agent.settings import SettingsError, SigningSettings
from lienthong.security.cades import sign_cades
from lienthong.security.certificates import CertificateProblem, load_anchors
from lienthong.security.header import HEADER, header_value
from lienthong.security.jws import sign_jws
from lienthong.security.selfcheck import BLOCKING, SigningSelfCheck
from lienthong.security.signers import FileSigner, Pkcs11Signer, Signer, SignerError
from lienthong.security.verify import Verification, VerifyContext

__all__ = ["EnvelopeSigner", "SigningBlocked", "open_signer"]

logger = logging.getLogger("lienthong.agent.signing")


class SigningBlocked(PortalLoginFailed):
    """The agent's own certificate cannot sign now (revoked, expired, untrusted, weak). Like a
    refused login, the rows are fine and wait: the agent's key needs attention."""

    def __init__(self, status: str, vi: str, en: str) -> None:
        super().__init__(f"signing.{status}", en)
        self.status, self.vi, self.en = status, vi, en

    def __str__(self) -> str:
        return f"signing blocked ({self.status}): {self.en}"


def _first_line(path: str, what: str) -> str:
    try:
        return Path(path).read_text("utf-8").splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise SettingsError(f"signing.{what}: cannot read {path}: {exc}") from None


def open_signer(settings: SigningSettings) -> Signer:
    """The key ``settings`` name: a PKCS#12 or PEM file (development) or a PKCS#11 token."""
    password = (
        _first_line(settings.password_file, "password_file") if settings.password_file else ""
    )
    scheme = settings.scheme or None
    try:
        if settings.pkcs11_token:
            pin = _first_line(settings.pin_file, "pin_file") if settings.pin_file else ""
            return Pkcs11Signer(
                settings.pkcs11_module or None,
                settings.pkcs11_token,
                pin,
                settings.pkcs11_key_label,
                scheme=scheme,
            )
        if settings.pkcs12_file:
            return FileSigner.from_pkcs12(
                Path(settings.pkcs12_file), password.encode() or None, scheme=scheme
            )
        return FileSigner.from_pem(
            Path(settings.cert_file),
            Path(settings.key_file),
            password.encode() or None,
            scheme=scheme,
        )
    except SignerError as problem:
        raise SettingsError(f"signing: {problem.en}") from None


def _anchors(files: tuple[str, ...]) -> tuple[x509.Certificate, ...]:
    try:
        return load_anchors(files)
    except CertificateProblem as problem:
        raise SettingsError(f"signing.trust_anchors: {problem.en}") from None


class EnvelopeSigner:
    """Signs envelope bodies with the agent's key, after checking its own certificate
    (:class:`~lienthong.security.selfcheck.SigningSelfCheck`)."""

    def __init__(
        self,
        settings: SigningSettings,
        signer: Signer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.signer = signer or open_signer(settings)
        self.format = settings.format
        self.self_check = SigningSelfCheck(
            self.signer,
            VerifyContext(
                trust_anchors=_anchors(settings.trust_anchors),
                allow_fetching=True,
                fetch_timeout_seconds=settings.fetch_timeout_seconds,
            ),
            settings.check_interval_seconds,
            logger=logger,
            clock=clock,
        )

    def check(self) -> Verification:
        """Verify a probe signature as the hub would, and keep the OCSP answer it fetched."""
        return self.self_check.check()

    @property
    def last_check(self) -> Verification | None:
        """The latest self-check (shown in the status)."""
        return self.self_check.last_check

    @property
    def blocked(self) -> bool:
        return self.self_check.blocked

    # -- signing -------------------------------------------------------------------------

    def headers(self, body: bytes) -> dict[str, str]:
        """The header carrying the signature of ``body`` (its exact bytes), or
        :class:`SigningBlocked`."""
        verification, stapled = self.self_check.current()
        if verification.status in BLOCKING:
            raise SigningBlocked(verification.status.value, verification.vi, verification.en)
        if self.format == "jws":
            return {HEADER: header_value("jws", sign_jws(body, self.signer))}
        # the hub fetches what it lacks: only the agent's own answer rides along
        signature = sign_cades(body, self.signer, ocsp_response=stapled.ocsp_response)
        return {HEADER: header_value("cades", signature)}

    def status(self) -> dict[str, object]:
        """What the status page and the metrics show."""
        check = self.last_check
        return {
            "format": self.format,
            "certificate": self.signer.certificate.subject.rfc4514_string(),
            "not_after": self.signer.certificate.not_valid_after_utc.isoformat(),
            "state": self.self_check.state,
            "last_check": None
            if check is None
            else {
                "status": check.status.value,
                "message": check.vi,
                "message_en": check.en,
                "checked_at": check.checked_at.isoformat(),
                "stapled_ocsp": bool(self.self_check.stapled),
            },
        }
