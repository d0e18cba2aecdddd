"""The agent's side of the evidence store (issue 13; docs/agent.md, "Evidence").

Every envelope the portal answered (per-record outcomes, a refusal, an envelope-level error:
anything with an HTTP answer, never a transport failure) appends one entry to the agent's chain
(side ``agent``, kind ``sent``), in the transaction that settles its outbox rows: the exact bytes
sent, the signature sent with them, the agent's own certificate path and the revocation answers
of its last self-check (the stapled OCSP answer among them), that self-check as the validation,
and the hub's receipt with its signature. A crash between sending and settling leaves neither:
the rows are sent again and their answer gets the entry.

The chain is time-stamped in batches by :class:`lienthong.evidence.stamper.Stamper` (side
``agent``). With a TSA configured, delivery holds while the oldest entry without a time-stamp is
older than ``fail_closed_hours``: rows wait in the outbox until stamping recovers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import Metric
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.stamper import Stamper
from lienthong.evidence.status import SideStatus, chain_metrics, side_status
from lienthong.evidence.store import EvidenceLog, record_keys
from lienthong.store.tables import utcnow

if TYPE_CHECKING:
    from lienthong.agent.outbox import Batch
    from lienthong.agent.portal import PortalAnswer
    from lienthong.agent.receipts import ReceiptCheck
    from lienthong.agent.settings import AgentSettings
    from lienthong.security.verify import Verification

__all__ = ["SIDE", "AgentEvidence"]

#: The agent's chain, and the kind of its entries.
SIDE, KIND = "agent", "sent"


def _column(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


class AgentEvidence:
    """Appends the agent's entries and runs the stamper of its chain."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: AgentSettings,
        own_check: Callable[[], Verification | None] = lambda: None,
    ) -> None:
        chosen = settings.evidence
        self.sessions = sessions
        self.enabled = chosen.enabled
        self.destination = _column(settings.portal.base_url, 255)
        self.account = _column(settings.portal.account, 128)
        #: The agent's latest check of its own certificate (None: unsigned, or not yet checked).
        self.own_check = own_check
        window = chosen.fail_closed_hours
        self.stamper = Stamper(
            sessions,
            side=SIDE,
            tsa_url=chosen.tsa_url if chosen.enabled else "",
            interval=chosen.interval_seconds,
            batch_max=chosen.batch_max,
            timeout=chosen.tsa_timeout_seconds,
            fail_closed_after=dt.timedelta(hours=window) if window > 0 else None,
        )

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self.stamper.start()  # nothing without a TSA

    def stop(self) -> None:
        self.stamper.stop()

    # -- appending -------------------------------------------------------------------------------

    def append(
        self,
        db: Session,
        batch: Batch,
        answer: PortalAnswer,
        receipt: ReceiptCheck | None,
        receipt_id: int | None,
        at: dt.datetime | None = None,
    ) -> None:
        """Append the entry of ``batch``'s envelope and its ``answer`` in ``db``'s transaction
        (the one settling the batch's rows): ``receipt``, the check of the answer's receipt
        (its exact bytes and signature as read), kept as ``receipt_id`` in ``agent_receipts``."""
        if not self.enabled or answer.sent is None:  # None: a portal that says not what it sent
            return
        verification = self.own_check() if answer.signature is not None else None
        EvidenceLog.append(
            db,
            side=SIDE,
            kind=KIND,
            at=at or utcnow(),
            log_id=receipt_id,
            service=_column(batch.service, 64),
            origin_unit=_column(batch.unit, 40),
            origin_account=self.account,
            destination=self.destination,
            body=answer.sent,
            signature=answer.signature,
            signature_format=answer.signature_format,
            verification=verification,
            receipt=receipt.receipt if receipt is not None else None,
            receipt_signature=receipt.signature if receipt is not None else None,
            keys=record_keys(batch.service, {**batch.params, "data": batch.records}),
        )

    # -- failing closed and status ---------------------------------------------------------------

    def blocked(self) -> dt.timedelta | None:
        """The age of the oldest entry without a time-stamp when past the window (delivery
        holds), else None (a cached figure: at most one query a second)."""
        return self.stamper.fail_closed() if self.enabled else None

    def _chain(self, now: dt.datetime) -> tuple[SideStatus, bool]:
        """The chain's figures, and whether delivery holds by them (read now, not cached)."""
        with self.sessions() as db:
            found = side_status(db, SIDE)
        oldest_age = found.oldest_unstamped_age(now)
        window = self.stamper.fail_closed_after
        blocked = (
            self.enabled
            and self.stamper.enabled
            and window is not None
            and oldest_age is not None
            and oldest_age > window.total_seconds()
        )
        return found, blocked

    def metrics(self) -> Iterator[Metric]:
        """``lienthong_agent_evidence_*``: the hub's evidence metrics, of the agent's chain."""
        now = utcnow()
        found, blocked = self._chain(now)
        yield from chain_metrics(
            "lienthong_agent_evidence",
            found,
            now=now,
            timestamping=self.stamper.enabled,
            fail_closed=blocked,
            failures=self.stamper.failures,
            tsa_setting="[evidence] tsa_url",
            fail_closed_means="delivery holds (rows wait in the outbox)",
        )

    def status(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """``"evidence"`` of the status: ``state`` is ``off``, ``unstamped`` (no TSA), ``ok``,
        ``failing`` (the TSA fails, within the window) or ``blocked`` (delivery holds)."""
        now = now or utcnow()
        found, blocked = self._chain(now)
        stamper = self.stamper
        oldest_age = found.oldest_unstamped_age(now)
        window = stamper.fail_closed_after
        error = stamper.last_error
        if not self.enabled:
            state = "off"
        elif not stamper.enabled:
            state = "unstamped"
        elif blocked:
            state = "blocked"
        elif error is not None:
            state = "failing"
        else:
            state = "ok"
        return {
            "state": state,
            "enabled": self.enabled,
            "tsa_url": stamper.tsa_url or None,
            "entries": found.entries,
            "unstamped": found.unstamped,
            "oldest_unstamped_age_seconds": _rounded(oldest_age),
            "last_timestamp_age_seconds": _rounded(found.last_timestamp_age(now)),
            "batches": found.batches,
            "failures": stamper.failures,
            "fail_closed_hours": window.total_seconds() / 3600 if window is not None else None,
            "blocked": blocked,
            "last_error": None
            if error is None
            else {"code": error.code, "message": error.vi, "message_en": error.en},
        }


def _rounded(seconds: float | None) -> float | None:
    return round(seconds, 1) if seconds is not None else None
