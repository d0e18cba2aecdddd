"""What the delivery worker does with each answer of the portal: pure functions, no I/O.

The portal's answer codes (docs/protocol.md, section 8) split into codes where sending the same
request again can succeed and codes that need a change to the data or the account. This module
is the agent's copy of that table (the real portal is not the hub, so the agent does not import
the hub); ``tests/agent/test_classify.py`` checks it against the hub's ``ANSWER_CODES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "PERMANENT_CODES",
    "RETRYABLE_CODES",
    "SESSION_CODES",
    "EnvelopeAction",
    "EnvelopeVerdict",
    "RecordAction",
    "classify_envelope",
    "classify_record",
    "is_updating",
    "normalize_code",
]

#: The session is unknown (22) or expired (23): log in again and resend at once.
SESSION_CODES = frozenset({"22", "23"})

#: Sending again later can succeed: too many failed logins (21), sessions (22, 23), too many
#: submissions or lookups from one address (43, 44; the hub's citizen API and pages, not met on
#: the wire API), a signer's revocation status the hub could not check yet (56), an internal
#: error of the portal (99), a hub refusing pushes while its evidence log lacks a time-stamp (60).
RETRYABLE_CODES = frozenset({"21", "22", "23", "43", "44", "56", "60", "99"})

#: Sending the same thing again cannot succeed: malformed request (10, 11, 12), unknown service
#: (13), too large (14, 16), invalid data (15), wrong HTTP method (17), wrong credentials or
#: disabled account (20, 24), a client certificate that is not the account's (25), unit or
#: service not granted (30, 31), unknown dossier / petition (40, 41), workflow (42), exists (3),
#: a signature refused (50-55, 57).
PERMANENT_CODES = frozenset(
    {"3", "10", "11", "12", "13", "14", "15", "16", "17", "20", "24", "25", "30", "31"}
    | {"40", "41", "42", "50", "51", "52", "53", "54", "55", "57"}
)

#: Envelope answers about the agent's own login, account or signing key rather than the rows:
#: the rows are fine and must wait (with backoff) until an operator fixes the account, its
#: client certificate (25) or the signing key (a signature missing, invalid, untrusted, revoked,
#: expired, weak or of another unit), never be dead-lettered.
ACCOUNT_CODES = frozenset({"20", "21", "24", "25", "50", "51", "52", "53", "54", "55", "57"})

TAKEN_STATUSES = frozenset({"accepted", "updated", "unchanged"})


class RecordAction(StrEnum):
    DELIVERED = "delivered"
    """The portal has the record (accepted, updated, or unchanged: it already had it)."""
    RESEND_UPDATING = "resend_updating"
    """``exists`` for ``isUpdating`` False: resend the record with ``isUpdating`` "True"."""
    RETRY = "retry"
    """Try again later (backoff)."""
    DEAD = "dead"
    """Refused for good: to the dead-letter store, with the portal's answer."""


class EnvelopeAction(StrEnum):
    PER_RECORD = "per_record"
    """A push answer with one outcome per record: classify each with :func:`classify_record`."""
    RELOGIN = "relogin"
    """The session is no longer valid: log in again, then resend."""
    RETRY = "retry"
    """The whole batch failed for a reason that can pass: back off and resend."""
    WAIT_ACCOUNT = "wait_account"
    """The agent's account cannot log in or act: back off; the rows stay pending."""
    SPLIT = "split"
    """The envelope was too large: send smaller batches."""
    DEAD = "dead"
    """The whole batch was refused for good: every row to the dead-letter store."""


@dataclass(frozen=True, slots=True)
class EnvelopeVerdict:
    action: EnvelopeAction
    code: str
    """The portal's ``error_code`` (``http <status>`` when the answer was not JSON)."""
    reason: str


def is_updating(value: object) -> bool:
    """The hub's reading of ``isUpdating``: "True", "true", "1" or JSON true."""
    return value is True or str(value).lower() in ("true", "1")


def normalize_code(value: object) -> str:
    """Normalise an ``error_code``: portals send strings or integers (``"00"``, ``0``, ``3``)."""
    text = str(value).strip() if value is not None else ""
    if not text.isdigit():
        return text
    number = int(text)
    return f"{number:02d}" if number < 2 else str(number)


def classify_record(
    outcome: Mapping[str, Any], service: str, params: Mapping[str, Any]
) -> RecordAction:
    """The action for one per-record outcome of a push answer (docs/protocol.md, section 5)."""
    status = outcome.get("status")
    code = normalize_code(outcome.get("error_code"))
    if status in TAKEN_STATUSES:
        return RecordAction.DELIVERED
    if status == "exists" or (status is None and code == "3"):
        if service == "DongBoHoSoMC" and not is_updating(params.get("isUpdating")):
            return RecordAction.RESEND_UPDATING
        return RecordAction.DEAD
    if status == "rejected":
        return RecordAction.RETRY if code in RETRYABLE_CODES else _permanent_or_retry(code)
    # an outcome this agent does not understand: never drop data on a guess
    return RecordAction.RETRY


def _permanent_or_retry(code: str) -> RecordAction:
    # unknown codes are retried (with backoff): losing a record on a code we do not know is worse
    # than retrying it; the attempts and last error stay visible.
    return RecordAction.DEAD if code in PERMANENT_CODES else RecordAction.RETRY


def classify_envelope(
    http_status: int, body: Mapping[str, Any] | None, batch_size: int
) -> EnvelopeVerdict:
    """The action for a whole answer. ``body`` is None when the answer was not a JSON object."""
    if body is None:
        # plain-text 5xx, a proxy's HTML page, a 404 from a wrong path: not the rows' fault
        return EnvelopeVerdict(EnvelopeAction.RETRY, f"http {http_status}", "answer is not JSON")
    code = normalize_code(body.get("error_code"))
    message = str(body.get("message_en") or body.get("message") or "")[:500]
    records = body.get("records")
    if isinstance(records, list) and code in ("00", "01", "3", "15"):
        return EnvelopeVerdict(EnvelopeAction.PER_RECORD, code, message)
    if code == "00" and http_status < 300:
        # success without per-record outcomes (a portal that does not send them): all taken
        return EnvelopeVerdict(EnvelopeAction.PER_RECORD, code, message)
    if code in SESSION_CODES:
        return EnvelopeVerdict(EnvelopeAction.RELOGIN, code, message)
    if code in ACCOUNT_CODES:
        return EnvelopeVerdict(EnvelopeAction.WAIT_ACCOUNT, code, message)
    if code == "14" or http_status == 413:
        action = EnvelopeAction.SPLIT if batch_size > 1 else EnvelopeAction.DEAD
        return EnvelopeVerdict(action, code or "14", message)
    if http_status == 429 or http_status >= 500 or code in RETRYABLE_CODES:
        return EnvelopeVerdict(EnvelopeAction.RETRY, code or f"http {http_status}", message)
    if code in PERMANENT_CODES:
        return EnvelopeVerdict(EnvelopeAction.DEAD, code, message)
    return EnvelopeVerdict(EnvelopeAction.RETRY, code or f"http {http_status}", message)
