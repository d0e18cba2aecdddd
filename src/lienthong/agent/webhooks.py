"""Webhooks: the agent tells the local system what it pulled, with signed POSTs, in order.

Each notification is a row of ``agent_webhook_deliveries`` (queued by
:class:`lienthong.agent.pulls.PulledStore` in the transaction that stored the item). A thread
sends them oldest first to ``webhook.url`` and retries the oldest until the receiver answers
2xx (exponential backoff with jitter, no limit): a later notification never overtakes an
earlier one.

The request (``POST``, ``Content-Type: application/json``)::

    X-Lienthong-Event: pulled.new
    X-Lienthong-Delivery: 17
    X-Lienthong-Timestamp: 1767225600
    X-Lienthong-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

    {"id": 17, "event": "pulled.new", "created_at": "...", "service": "DanhSachPAKNChoXuLy",
     "unit": "000.00.00.H56", "item_key": "PAKN-000001", "record": {...}}

The receiver checks the signature over the raw body with :func:`verify_signature` (or its few
lines in any language) and refuses old timestamps, so a captured request cannot be replayed
later. Delivery is at least once: a receiver that stored a notification but answered too late
gets it again, with the same ``X-Lienthong-Delivery``. The secret is never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.agent.delivery import backoff_delay
from lienthong.agent.settings import WebhookSettings
from lienthong.store.tables import AgentState, AgentWebhookDelivery, utcnow

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookSender",
    "sign",
    "verify_signature",
    "webhook_body",
]

logger = logging.getLogger("lienthong.agent.webhooks")

EVENT_HEADER = "X-Lienthong-Event"
DELIVERY_HEADER = "X-Lienthong-Delivery"
TIMESTAMP_HEADER = "X-Lienthong-Timestamp"
SIGNATURE_HEADER = "X-Lienthong-Signature"

PENDING, DELIVERED = "pending", "delivered"

#: A timestamp as :func:`verify_signature` accepts it: Unix seconds, ASCII digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Lienthong-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of
    ``timestamp + "." + body`` under ``secret``."""
    digest = hmac.new(_key(secret), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | None,
    body: bytes,
    header: str | None,
    *,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when ``header`` is the signature of ``body`` at ``timestamp`` and the timestamp is
    within ``tolerance_seconds`` of ``now`` (default: the current time). Use the raw body as
    received, before any JSON parsing. Never raises on what a sender controls: any other
    timestamp or header (not ASCII digits, too many digits, non-ASCII text) is False."""
    if not isinstance(timestamp, str) or not isinstance(header, str) or not secret:
        return False
    # ASCII digits only ("²".isdigit() is true too) and few of them: int() must not fail
    if _TIMESTAMP.fullmatch(timestamp) is None:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    # bytes: compare_digest refuses str with non-ASCII characters
    presented = header.strip().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(sign(secret, timestamp, body).encode("ascii"), presented)


def webhook_body(row: AgentWebhookDelivery) -> bytes:
    """The JSON body of one notification (the same bytes on every attempt)."""
    body: dict[str, Any] = {
        "id": row.id,
        "event": row.event,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        **row.payload,
    }
    return orjson.dumps(body)


class WebhookSender:
    """Sends ``agent_webhook_deliveries`` to ``webhook.url``, oldest first, until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: WebhookSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self._secret = settings.resolved_secret() if settings.url else ""
        self._http = httpx.Client(
            timeout=settings.timeout_seconds, transport=transport, verify=settings.tls()
        )
        self._rng = rng or random.Random()
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.settings.url!r})"

    @property
    def enabled(self) -> bool:
        return bool(self.settings.url)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="lienthong-agent-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._http.close()

    def wake(self) -> None:
        """Something was queued: send now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.send_once()
            except Exception:  # the agent's own database, or a bug: never let the thread die
                logger.exception("webhook round failed")
                wait = self.settings.poll_interval_seconds
            if wait is not None:
                self._wake.wait(min(wait, self.settings.poll_interval_seconds))
                self._wake.clear()

    # -- one attempt ---------------------------------------------------------------------------

    def send_once(self) -> float | None:
        """Try the oldest pending notification if it is due. Returns None when one was
        delivered (look again at once), otherwise the seconds until something may be due."""
        with self.sessions() as db:
            row = db.scalars(
                select(AgentWebhookDelivery)
                .where(AgentWebhookDelivery.state == PENDING)
                .order_by(AgentWebhookDelivery.id)
                .limit(1)
            ).first()
        if row is None:
            return self.settings.poll_interval_seconds
        wait = (row.next_attempt_at - utcnow()).total_seconds()
        if wait > 0:
            return wait  # in order: the oldest holds the line until it is delivered
        body = webhook_body(row)
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: row.event,
            DELIVERY_HEADER: str(row.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        error: str | None = None
        try:
            response = self._http.post(self.settings.url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        self._settle(row.id, error)
        if error is None:
            return None
        logger.warning("webhook %s (delivery %s) failed: %s", row.event, row.id, error)
        return 0.0  # the next round sees the new next_attempt_at

    def _settle(self, row_id: int, error: str | None) -> None:
        now = utcnow()
        with self.sessions.begin() as db:
            row = db.get(AgentWebhookDelivery, row_id)
            if row is None or row.state != PENDING:
                return
            row.attempts += 1
            if error is None:
                row.state, row.delivered_at, row.last_error = DELIVERED, now, None
                state = {"at": now.isoformat(timespec="seconds"), "delivery": row_id}
                _put_state(db, "webhook.last_success", state, now)
            else:
                delay = backoff_delay(
                    row.attempts,
                    self.settings.backoff_base_seconds,
                    self.settings.backoff_max_seconds,
                    self._rng,
                )
                row.next_attempt_at = now + dt.timedelta(seconds=delay)
                row.last_error = error
                state = {
                    "at": now.isoformat(timespec="seconds"),
                    "delivery": row_id,
                    "error": error,
                }
                _put_state(db, "webhook.last_error", state, now)

    # -- status --------------------------------------------------------------------------------

    def pending(self) -> int:
        with self.sessions() as db:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(AgentWebhookDelivery)
                    .where(AgentWebhookDelivery.state == PENDING)
                )
                or 0
            )

    def deliveries(self, limit: int = 1000) -> list[AgentWebhookDelivery]:
        """The notifications, oldest first."""
        with self.sessions() as db:
            return list(
                db.scalars(
                    select(AgentWebhookDelivery).order_by(AgentWebhookDelivery.id).limit(limit)
                )
            )


def _put_state(db: Session, key: str, value: dict[str, Any], now: dt.datetime) -> None:
    row = db.get(AgentState, key)
    if row is None:
        db.add(AgentState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
