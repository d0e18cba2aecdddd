"""What the agent is doing, in one dictionary: for ``lienthong agent status``, ``GET /api/status``,
the status page and the Prometheus metrics.

Everything is read from the agent database (the outbox and ``agent_state``), so the command line
sees the same as the running agent; the running agent adds what only it knows (whether its
portal session is still valid). No personal data: dead letters are shown with their dossier or
record key and the portal's code and reason, never the record itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.agent.outbox import DEAD, DELIVERED, PENDING, RECEIPTS_STATE, STATES, Outbox
from lienthong.agent.portal import SessionInfo
from lienthong.store.tables import AgentOutbox, AgentState, utcnow

__all__ = ["agent_status", "dead_letter_reason", "queue_counts"]

#: ``agent_state`` keys with these prefixes are shown as they are (other engineers' features).
PULL_PREFIX = "pull."
STATS_PREFIX = "stats.sent."


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back naive UTC
        return value.replace(tzinfo=dt.UTC)
    return value


def queue_counts(db: Session) -> dict[str, dict[str, int]]:
    """``{service: {state: rows}}`` with every state present."""
    counts: dict[str, dict[str, int]] = {}
    for service, state, count in db.execute(
        select(AgentOutbox.service, AgentOutbox.state, func.count()).group_by(
            AgentOutbox.service, AgentOutbox.state
        )
    ):
        counts.setdefault(str(service), dict.fromkeys(STATES, 0))[str(state)] = int(count)
    return dict(sorted(counts.items()))


def dead_letter_reason(row: AgentOutbox) -> str:
    """Why a row is dead, without record content: the portal's code and reason, or the first
    issue's path and code (validation messages may quote a value, such as a name)."""
    answer = row.last_answer if isinstance(row.last_answer, Mapping) else {}
    code = answer.get("error_code")
    issues = answer.get("issues")
    if isinstance(issues, list) and issues and isinstance(issues[0], Mapping):
        first = issues[0]
        detail = f"{first.get('path', '')} {first.get('code', '')}".strip()
    else:
        detail = str(answer.get("message") or answer.get("message_en") or "")
    if code is not None:
        return f"{code}: {detail}"[:300] if detail else str(code)
    return (row.last_error or "")[:300]


def _session(
    state: Mapping[str, Any] | None, live: SessionInfo | None, running: bool, now: dt.datetime
) -> dict[str, Any]:
    """Logged in or not, until when. The running agent knows its session; from the database
    alone, the last login written there is shown."""
    logged_in_at: dt.datetime | None = None
    expires_in: int | None = None
    logins = 0
    if live is not None:
        logged_in_at = dt.datetime.fromtimestamp(live.logged_in_at, dt.UTC)
        expires_in, logins = live.expires_in, live.logins
    elif state and not running:
        try:
            logged_in_at = dt.datetime.fromisoformat(str(state.get("logged_in_at")))
            expires_in = int(state.get("expires_in") or 0)
        except (TypeError, ValueError):
            logged_in_at = None
        logins = int(state.get("logins") or 0)
    expires_at = (
        logged_in_at + dt.timedelta(seconds=expires_in)
        if logged_in_at is not None and expires_in
        else None
    )
    return {
        "logged_in": expires_at is not None and expires_at > now,
        "logged_in_at": _iso(logged_in_at),
        "expires_at": _iso(expires_at),
        "logins": logins,
    }


def _receipts(counts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The hub's receipts checked so far: how many were valid, invalid (or due and missing)
    and missing, and the last invalid one."""
    counts = counts or {}
    return {
        "valid": int(counts.get("valid", 0)),
        "invalid": int(counts.get("invalid", 0)),
        "missing": int(counts.get("missing", 0)),
        "last_invalid": counts.get("last_invalid"),
    }


def agent_status(
    sessions: sessionmaker[Session],
    *,
    live_session: SessionInfo | None = None,
    running: bool = False,
    worker_running: bool | None = None,
    dead_letters: int = 20,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The status of the agent database; ``running`` (with the portal client's ``live_session``)
    when called by the running agent, which knows its own session."""
    now = now or utcnow()
    outbox = Outbox(sessions)
    summary = outbox.summary()
    with sessions() as db:
        by_service = queue_counts(db)
        states = {row.key: dict(row.value) for row in db.scalars(select(AgentState))}
        oldest_by_service = dict(
            db.execute(
                select(AgentOutbox.service, func.min(AgentOutbox.created_at))
                .where(AgentOutbox.state == PENDING)
                .group_by(AgentOutbox.service)
            ).all()
        )
    dead_rows = outbox.dead_letters(dead_letters)
    oldest = _aware(summary.oldest_pending_at)
    last_error = states.get("delivery.last_error")
    session = _session(states.get("portal.session"), live_session, running, now)
    session["last_login_error"] = (
        last_error if last_error and last_error.get("action") == "wait_account" else None
    )
    services = []
    for service, counts in by_service.items():
        service_oldest = _aware(oldest_by_service.get(service))
        services.append(
            {
                "service": service,
                **counts,
                "oldest_pending_at": _iso(service_oldest),
                "oldest_pending_age_seconds": (
                    round((now - service_oldest).total_seconds(), 1) if service_oldest else None
                ),
            }
        )
    return {
        "at": _iso(now),
        "running": running,
        "agent_started": states.get("agent.started"),
        "worker_running": worker_running,
        "totals": dict(summary.counts),
        "queue_depth": summary.counts.get(PENDING, 0),
        "delivered": summary.counts.get(DELIVERED, 0),
        "dead_letters": summary.counts.get(DEAD, 0),
        "oldest_pending_at": _iso(oldest),
        "oldest_pending_age_seconds": (
            round((now - oldest).total_seconds(), 1) if oldest is not None else None
        ),
        "max_pending_attempts": summary.max_pending_attempts,
        "services": services,
        "last_success": states.get("delivery.last_success"),
        "receipts": _receipts(states.get(RECEIPTS_STATE)),
        "last_error": last_error,
        "session": session,
        "dead_letter_rows": [
            {
                "id": row.id,
                "service": row.service,
                "madonvi": row.unit,
                "key": row.record_key,
                "attempts": row.attempts,
                "last_attempt_at": _iso(_aware(row.last_attempt_at)),
                "reason": dead_letter_reason(row),
            }
            for row in dead_rows
        ],
        "statistics_sent": {
            key.removeprefix(STATS_PREFIX): {
                k: v for k, v in value.items() if k in ("at", "by", "forced", "outbox_id")
            }
            for key, value in sorted(states.items())
            if key.startswith(STATS_PREFIX)
        },
        "pull": {
            key.removeprefix(PULL_PREFIX): value
            for key, value in sorted(states.items())
            if key.startswith(PULL_PREFIX)
        },
    }
