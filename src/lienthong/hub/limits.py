"""The limit on citizens' public submissions per client address, shared by every worker.

Every attempt to send a petition or a question (the forms ``POST /pakn/gui``, ``POST
/hoi-dap/gui`` and the API ``POST /api/cong-dan/pakn``, ``POST /api/cong-dan/hoi-dap``) that
gets past the request checks (size, content type, decoding, the form's token) is a row of
``public_submissions``, whether its fields then pass or not. A client address with
``public_submissions_per_client`` rows within the last ``public_window_seconds`` is refused,
and a refusal is not recorded: the client may send again as soon as its oldest counted
attempt leaves the window. The rows live in the database so that the limit holds across
uvicorn workers; the rows that left the window are deleted as new attempts come in.

The client is the address the hub sees (``request.client.host``; behind a reverse proxy,
the address uvicorn takes from ``X-Forwarded-For`` when the proxy is trusted). An IPv6 client
counts by its /64 network, which one subscriber usually holds whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lienthong.hub.settings import HubSettings
from lienthong.store.tables import PublicSubmission

__all__ = ["PURGE_BATCH", "admit_submission", "client_key"]

#: At most this many expired rows are deleted per attempt (the purge never holds a request).
PURGE_BATCH = 500


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def client_key(host: str) -> str:
    """What the limit counts by: the IPv4 address, an IPv6 address's /64 network (an
    IPv4-mapped IPv6 address is its IPv4 address), or the host text as given (at most 64
    characters) when it is not an IP address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _lock_key(client: str) -> int:
    digest = hashlib.sha256(f"lienthong:public:{client}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def admit_submission(
    db: Session, settings: HubSettings, client: str, now: dt.datetime | None = None
) -> int:
    """Count one submission attempt of ``client`` (a :func:`client_key`) and return 0, or,
    when the client has reached its limit, count nothing and return the seconds until it may
    send again (at least 1). Commits.

    Attempts of one client are serialized across processes, so that concurrent requests
    cannot pass the limit together: on PostgreSQL by a transaction-level advisory lock on the
    client, on SQLite by the database's write lock, taken by the purge that comes first.
    """
    limit = settings.public_submissions_per_client
    if limit <= 0:
        return 0
    now = now or _now()
    window = dt.timedelta(seconds=max(settings.public_window_seconds, 0))
    start = now - window
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(_lock_key(client))))
    # rows that left the window, a batch at a time; rows another request is deleting are
    # skipped rather than waited for (PostgreSQL), so two purges never block each other
    expired = (
        select(PublicSubmission.id)
        .where(PublicSubmission.at <= start)
        .order_by(PublicSubmission.at)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    db.execute(delete(PublicSubmission).where(PublicSubmission.id.in_(expired)))
    # the limit-th newest attempt within the window: while it is there, the client waits
    edge = db.scalar(
        select(PublicSubmission.at)
        .where(PublicSubmission.client == client, PublicSubmission.at > start)
        .order_by(PublicSubmission.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if edge is not None:
        db.commit()
        return max(1, math.ceil((edge + window - now).total_seconds()))
    db.add(PublicSubmission(client=client, at=now))
    db.commit()
    return 0
