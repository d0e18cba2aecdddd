"""A signer checking its own certificate the way its verifiers will (issue 12, issue 13).

Before signing, and again every ``interval_seconds`` (or sooner, once a stapled answer's
nextUpdate has passed), a probe is signed and verified against the configured trust anchors,
revocation fetched (OCSP first, else the CRL). What that check fetched is kept to be stapled to
every CAdES signature (RFC 5940 / CAdES revocationValues): the OCSP answer about the signer's own
certificate, and the answers about the CAs above it, so that a verifier, even offline, can check
the signature hard-fail without calling the CA. A revoked, expired, untrusted or weak certificate
*blocks* signing (:attr:`SigningSelfCheck.blocked`); a CA that cannot be reached only leaves the
signatures unstapled.

Used by the agent's envelope signer (:mod:`lienthong.agent.signing`), the hub's receipt signer
(:mod:`lienthong.hub.receipts`) and the evidence export (``lienthong evidence export``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lienthong.security.cades import sign_cades
from lienthong.security.revocation_cache import crl_next_update, ocsp_next_update, ocsp_serial
from lienthong.security.signers import Signer
from lienthong.security.verify import Status, Verification, VerifyContext, verify_cades

__all__ = ["BLOCKING", "SigningSelfCheck", "Stapled"]

#: Statuses of the self-check that forbid signing: every verifier would refuse the signature.
BLOCKING = frozenset({Status.REVOKED, Status.EXPIRED, Status.WEAK, Status.UNTRUSTED})
_PROBE = b'{"lienthong":"self-check"}'


@dataclass(frozen=True, slots=True)
class Stapled:
    """What the latest self-check fetched, to carry in a CAdES signature."""

    ocsp_response: bytes | None = None
    """The OCSP answer about the signer's own certificate (None: none was had)."""
    chain: tuple[bytes, ...] = ()
    """The OCSP answers and CRLs about the CAs above it (only with ``ocsp_response``)."""
    next_update: dt.datetime | None = None
    """The earliest nextUpdate among them: past it, the answers no longer prove anything."""

    def __bool__(self) -> bool:
        return self.ocsp_response is not None

    def sign(self, body: bytes, signer: Signer) -> bytes:
        """The CAdES signature of ``body`` carrying these answers."""
        return sign_cades(body, signer, ocsp_response=self.ocsp_response, revocation=self.chain)


_NOTHING = Stapled()


def _stapled(verification: Verification, serial: int) -> Stapled:
    """The answers of a valid self-check: the leaf's OCSP answer and the CAs' data."""
    if not verification.valid:
        return _NOTHING
    own = [
        item
        for item in verification.revocation
        if item.kind == "ocsp" and ocsp_serial(item.der) == serial
    ]
    if not own:
        return _NOTHING
    used = [own[0], *(item for item in verification.revocation if item.der != own[0].der)]
    updates = [
        ocsp_next_update(item.der) if item.kind == "ocsp" else crl_next_update(item.der)
        for item in used
    ]
    known = [moment for moment in updates if moment is not None]
    chain = tuple(dict.fromkeys(item.der for item in used[1:]))
    return Stapled(own[0].der, chain, min(known) if known else None)


class SigningSelfCheck:
    """The self-check of one signer (thread-safe: one check runs at a time; while it runs,
    other signers use the previous one)."""

    def __init__(
        self,
        signer: Signer,
        context: VerifyContext,
        interval_seconds: float,
        *,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.signer = signer
        self.context = context
        self.interval_seconds = interval_seconds
        self._logger = logger
        self._clock, self._wall_clock = clock, wall_clock
        self._lock = threading.Lock()
        self._checking = threading.Lock()
        self._checked_at: float | None = None
        self._stapled = _NOTHING
        self.last_check: Verification | None = None
        """The latest self-check (shown in the status)."""

    def check(self) -> Verification:
        """Verify a probe signature as a verifier would, and keep the answers it fetched."""
        probe = sign_cades(_PROBE, self.signer)
        verification = verify_cades(_PROBE, probe, self.context)
        stapled = _stapled(verification, self.signer.certificate.serial_number)
        with self._lock:
            self.last_check = verification
            self._checked_at = self._clock()
            self._stapled = stapled
        if verification.status in BLOCKING:
            self._logger.error("signing blocked: %s", verification.en)
        elif not verification.valid:
            self._logger.warning(
                "own certificate not checked (%s): signing unstapled", verification.en
            )
        return verification

    def _due(self) -> bool:
        if self._checked_at is None or self.last_check is None:
            return True
        if self._clock() - self._checked_at >= self.interval_seconds:
            return True
        update = self._stapled.next_update
        return update is not None and self._wall_clock() >= update

    def current(self) -> tuple[Verification, Stapled]:
        """The latest self-check and its answers, checking again first when it is due."""
        with self._lock:
            due, verification, stapled = self._due(), self.last_check, self._stapled
        if not due and verification is not None:
            return verification, stapled
        # the first check is waited for; a later one is made by one caller, the others sign
        # with the previous result meanwhile
        if self._checking.acquire(blocking=verification is None):
            try:
                with self._lock:
                    still_due = self._due()
                if still_due:
                    self.check()
            finally:
                self._checking.release()
        with self._lock:
            assert self.last_check is not None
            return self.last_check, self._stapled

    @property
    def stapled(self) -> Stapled:
        """The answers of the latest self-check (nothing when none was had)."""
        with self._lock:
            return self._stapled

    @property
    def blocked(self) -> bool:
        check = self.last_check
        return check is not None and check.status in BLOCKING

    @property
    def state(self) -> str:
        """``ok`` (checked, may sign), ``blocked`` or ``unchecked`` (not yet, or the CA could
        not be reached: signing goes on, unstapled)."""
        check = self.last_check
        if check is not None and check.status in BLOCKING:
            return "blocked"
        return "ok" if check is not None and check.valid else "unchecked"
