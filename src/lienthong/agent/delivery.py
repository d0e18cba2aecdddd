"""The delivery worker: a background thread that sends the outbox to the portal, in order.

One loop: take the next batch (:meth:`Outbox.next_batch`), send it as one envelope, read the
answer, settle every row (:meth:`Outbox.settle`) in one transaction, with the envelope's evidence
entry (:mod:`lienthong.agent.evidence`). What each answer means is decided in
:mod:`lienthong.agent.classify`. While the evidence chain has gone unstamped past its
fail-closed window, nothing is sent: rows wait in the outbox. Failures back off exponentially
with jitter, without a limit on time: a record is never given up on because the portal was
away. Run one worker per agent database.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from lienthong.agent.classify import (
    EnvelopeAction,
    EnvelopeVerdict,
    RecordAction,
    classify_envelope,
    classify_record,
)
from lienthong.agent.outbox import Batch, Outbox, RowOutcome
from lienthong.agent.portal import Portal, PortalAnswer, PortalLoginFailed, PortalUnavailable
from lienthong.agent.receipts import ReceiptCheck, ReceiptChecker
from lienthong.agent.settings import AgentSettings
from lienthong.store.tables import utcnow

if TYPE_CHECKING:
    from lienthong.agent.evidence import AgentEvidence

__all__ = ["DeliveryWorker", "backoff_delay"]

logger = logging.getLogger("lienthong.agent.delivery")

#: HTTP statuses that say the portal as a whole is unavailable (not this batch's fault): the
#: worker pauses instead of trying the next batch straight away.
_UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


def backoff_delay(failures: int, base: float, maximum: float, rng: random.Random) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: exponential, capped, with
    jitter (between half and all of it) so that many agents do not retry in step."""
    ceiling = min(maximum, base * 2.0 ** max(0, min(failures, 60) - 1))
    return rng.uniform(ceiling / 2, ceiling)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


class DeliveryWorker:
    """Sends pending rows to the portal until stopped."""

    def __init__(
        self,
        outbox: Outbox,
        portal: Portal,
        settings: AgentSettings,
        *,
        rng: random.Random | None = None,
        evidence: AgentEvidence | None = None,
    ) -> None:
        self.outbox = outbox
        self.evidence = evidence
        """Keeps every answered envelope; holds delivery while its chain goes unstamped."""
        self.held = False
        """True while delivery holds for the evidence chain (fail closed)."""
        self.portal = portal
        self.settings = settings
        self.batch_limit = settings.batch_size
        """Shrinks when the portal says an envelope is too large (code 14)."""
        self.receipts = ReceiptChecker(settings)
        """Checks the hub's signed receipt of every answer with per-record outcomes."""
        self._rng = rng or random.Random()
        self._failures = 0
        """Envelope-level failures in a row (reset by any answer with per-record outcomes)."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="lienthong-agent-delivery", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.deliver_once()
            except Exception:  # a bug or the agent's own database: never let the thread die
                logger.exception("delivery round failed")
                self._failures += 1
                self._pause(self._delay(self._failures))
                continue
            if not worked:
                self._idle()

    def _idle(self) -> None:
        timeout = self.settings.poll_interval_seconds
        due = None if self.held else self.outbox.next_due_at()  # held: due rows must wait
        if due is not None:
            timeout = min(timeout, max(0.0, (due - utcnow()).total_seconds()))
        self._wake.wait(timeout)
        self._wake.clear()

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _delay(self, failures: int) -> float:
        return backoff_delay(
            failures,
            self.settings.backoff_base_seconds,
            self.settings.backoff_max_seconds,
            self._rng,
        )

    # -- one round ---------------------------------------------------------------------------

    def deliver_once(self) -> bool:
        """Send one batch if one is due; returns False when there was nothing to do (or
        delivery holds for the evidence chain)."""
        if self._hold():
            return False
        batch = self.outbox.next_batch(self.batch_limit)
        if batch is None:
            return False
        try:
            answer = self.portal.integration(batch.service, batch.unit, batch.params, batch.records)
        except PortalLoginFailed as exc:
            self._retry_batch(
                batch, EnvelopeVerdict(EnvelopeAction.WAIT_ACCOUNT, exc.code, str(exc)), pause=True
            )
            return True
        except PortalUnavailable as exc:
            self._retry_batch(
                batch, EnvelopeVerdict(EnvelopeAction.RETRY, "unavailable", str(exc)), pause=True
            )
            return True
        verdict = classify_envelope(answer.http_status, answer.body, len(batch.rows))
        if verdict.action is EnvelopeAction.PER_RECORD:
            self._per_record(batch, answer)
        elif verdict.action is EnvelopeAction.SPLIT:
            self.batch_limit = max(1, len(batch.rows) // 2)
            logger.warning("envelope too large for the portal: batches of %d now", self.batch_limit)
            self._settle(batch, [], sent=answer)  # no row changes; the answer is kept
        elif verdict.action is EnvelopeAction.DEAD:
            self._failures = 0
            self._settle(
                batch,
                [RowOutcome(row.id, "dead", answer.body, _describe(verdict)) for row in batch.rows],
                error=verdict,
                sent=answer,
            )
        else:  # RETRY, WAIT_ACCOUNT, or RELOGIN refused again right after a fresh login
            pause = (
                answer.http_status in _UNAVAILABLE_STATUSES
                or verdict.action is not EnvelopeAction.RETRY
            )
            self._retry_batch(batch, verdict, pause=pause, sent=answer)
        return True

    def _hold(self) -> bool:
        """Whether delivery holds now: a TSA is configured and the oldest evidence entry
        without a time-stamp is older than the window. Said once when it starts and ends."""
        age = self.evidence.blocked() if self.evidence is not None else None
        if (age is not None) != self.held:
            self.held = age is not None
            if age is not None:
                logger.error(
                    "delivery holds: the oldest evidence entry without a time-stamp is %.2f "
                    "hours old (the TSA fails); rows wait in the outbox",
                    age.total_seconds() / 3600,
                )
            else:
                logger.warning("evidence time-stamps recovered: delivery resumes")
        return self.held

    def _per_record(self, batch: Batch, answer: PortalAnswer) -> None:
        body = answer.body or {}
        outcomes_in = body.get("records")
        rows = batch.rows
        if outcomes_in is None:
            # success without per-record outcomes (a portal that sends none): all taken
            outcomes_in = [
                {"index": i, "status": "accepted", "error_code": "00"} for i in range(len(rows))
            ]
        by_index = _outcomes_by_index(outcomes_in, len(rows))
        if by_index is None:
            verdict = EnvelopeVerdict(
                EnvelopeAction.RETRY, "answer", "per-record outcomes do not match the batch"
            )
            self._retry_batch(batch, verdict, pause=False, sent=answer)
            return
        self._failures = 0
        receipt = self.receipts.check(answer, batch.service, batch.unit)
        # evidence, not delivery: an invalid receipt is said on every row, the answer still holds
        flaw = (
            f"receipt invalid ({receipt.reason}): {receipt.en}"[:500]
            if receipt.status == "invalid"
            else None
        )
        now = utcnow()
        results: list[RowOutcome] = []
        for index, row in enumerate(rows):
            outcome = by_index[index]
            action = classify_record(outcome, batch.service, batch.params)
            error = None if action is RecordAction.DELIVERED else _record_error(outcome)
            if flaw is not None:
                error = f"{flaw}; {error}"[:1000] if error else flaw
            retry_at = None
            if action is RecordAction.RETRY:
                retry_at = now + dt.timedelta(seconds=self._delay(row.attempts + 1))
            results.append(RowOutcome(row.id, action.value, dict(outcome), error, retry_at))
        delivered = sum(1 for r in results if r.action == "delivered")
        # "last success" means something reached the portal: an envelope whose records were all
        # refused is an answer, not a success
        state: dict[str, dict[str, Any]] = {}
        if delivered:
            state["delivery.last_success"] = {
                "at": _iso(now),
                "service": batch.service,
                "rows": len(rows),
                "delivered": delivered,
                "error_code": str(body.get("error_code", "")),
            }
        self._settle(batch, results, state=state, receipt=receipt, sent=answer)

    def _retry_batch(
        self,
        batch: Batch,
        verdict: EnvelopeVerdict,
        *,
        pause: bool,
        sent: PortalAnswer | None = None,
    ) -> None:
        """Retry every row of ``batch`` later; ``sent``: the portal's answer, when it gave one."""
        self._failures += 1
        attempts = max(row.attempts for row in batch.rows) + 1
        delay = self._delay(max(self._failures, attempts))
        retry_at = utcnow() + dt.timedelta(seconds=delay)
        message = _describe(verdict)
        logger.warning(
            "delivery of %d %s row(s) failed: %s; retry in %.1f s",
            len(batch.rows),
            batch.service,
            message,
            delay,
        )
        kept = dict(sent.body) if sent is not None and sent.body is not None else None
        self._settle(
            batch,
            [RowOutcome(row.id, "retry", kept, message, retry_at) for row in batch.rows],
            error=verdict,
            sent=sent,
        )
        if pause:
            self._pause(delay)

    def _settle(
        self,
        batch: Batch,
        outcomes: list[RowOutcome],
        *,
        error: EnvelopeVerdict | None = None,
        state: dict[str, dict[str, Any]] | None = None,
        receipt: ReceiptCheck | None = None,
        sent: PortalAnswer | None = None,
    ) -> None:
        """Settle the rows in one transaction; with ``sent`` (an answer of the portal), the
        envelope's evidence entry in the same transaction."""
        facts = dict(state or {})
        now = utcnow()
        if error is not None:
            facts["delivery.last_error"] = {
                "at": _iso(now),
                "service": batch.service,
                "rows": len(batch.rows),
                "action": error.action.value,
                "error_code": error.code,
                "message": error.reason[:500],
            }
        info = self.portal.session_info
        if info is not None:
            facts["portal.session"] = {
                "logged_in_at": _iso(dt.datetime.fromtimestamp(info.logged_in_at, dt.UTC)),
                "expires_in": info.expires_in,
                "logins": info.logins,
            }
        evidence = self.evidence
        append: Callable[[Session, int | None], None] | None = None
        if evidence is not None and sent is not None:

            def append(db: Session, receipt_id: int | None) -> None:
                evidence.append(db, batch, sent, receipt, receipt_id, now)

        self.outbox.settle(
            outcomes,
            now,
            facts,
            receipt=receipt,
            envelope=(batch.service, batch.unit),
            evidence=append,
        )


def _outcomes_by_index(outcomes: Any, size: int) -> dict[int, Mapping[str, Any]] | None:
    """Outcomes keyed by their record's position; None when they do not cover the batch."""
    if not isinstance(outcomes, list) or len(outcomes) != size:
        return None
    found: dict[int, Mapping[str, Any]] = {}
    for position, outcome in enumerate(outcomes):
        if not isinstance(outcome, Mapping):
            return None
        index = outcome.get("index", position)
        if not isinstance(index, int) or not 0 <= index < size or index in found:
            return None
        found[index] = outcome
    return found


def _record_error(outcome: Mapping[str, Any]) -> str:
    code = outcome.get("error_code")
    status = outcome.get("status")
    issues = outcome.get("issues")
    if isinstance(issues, list) and issues:
        first = issues[0] if isinstance(issues[0], Mapping) else {}
        detail = f"{first.get('path')}: {first.get('code')}: {first.get('message_en')}"
    else:
        detail = str(outcome.get("message_en") or outcome.get("message") or "")
    return f"{status} ({code}){': ' + detail if detail else ''}"[:1000]


def _describe(verdict: EnvelopeVerdict) -> str:
    return (
        f"{verdict.action.value} ({verdict.code}){': ' + verdict.reason if verdict.reason else ''}"[
            :1000
        ]
    )
