"""The limits on anonymous requests per client address, shared by every worker.

Two kinds of request are counted, each with its own limit and window:

- ``submit``: every attempt to send a petition or a question (the forms ``POST /pakn/gui``,
  ``POST /hoi-dap/gui`` and the API ``POST /api/cong-dan/pakn``, ``POST /api/cong-dan/hoi-dap``)
  that gets past the request checks (size, content type, decoding, the form's token), whether
  its fields then pass or not: ``public_submissions_per_client`` within
  ``public_window_seconds``.
- ``lookup``: every public lookup that reads the database (``GET /tra-cuu`` with a well-formed
  dossier code, ``GET /pakn``, ``GET /hoi-dap``): ``public_lookups_per_client`` within
  ``public_lookup_window_seconds``.

Each counted request is a row of ``public_submissions`` (with its ``kind``). A client address
with ``limit`` rows of a kind within the window is refused, and a refusal is not recorded: the
client may try again as soon as its oldest counted request leaves the window. The rows live in
the database so that the limits hold across uvicorn workers; the rows that left their window
are deleted as new requests come in, at most ``PURGE_BATCH`` per request.

The client is the address the hub sees (``request.client.host``; behind a reverse proxy named
in the ``trusted_proxies`` setting, the address uvicorn takes from ``X-Forwarded-For``). An
IPv6 client counts by its /64 network, which one subscriber usually holds whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lienthong.hub.settings import HubSettings
from lienthong.store.db import PURGE_BATCH, purge_expired
from lienthong.store.tables import PublicSubmission

__all__ = [
    "LOOKUP",
    "PURGE_BATCH",
    "SUBMIT",
    "admit",
    "admit_lookup",
    "admit_submission",
    "client_key",
]

#: The kinds of counted request (``public_submissions.kind``).
SUBMIT, LOOKUP = "submit", "lookup"


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


def _lock_key(kind: str, client: str) -> int:
    digest = hashlib.sha256(f"lienthong:public:{kind}:{client}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def admit_submission(
    db: Session, settings: HubSettings, client: str, now: dt.datetime | None = None
) -> int:
    """:func:`admit` for a citizen's submission (``public_submissions_per_client`` within
    ``public_window_seconds``)."""
    return admit(
        db,
        SUBMIT,
        client,
        settings.public_submissions_per_client,
        settings.public_window_seconds,
        now,
    )


def admit_lookup(
    db: Session, settings: HubSettings, client: str, now: dt.datetime | None = None
) -> int:
    """:func:`admit` for a public lookup (``public_lookups_per_client`` within
    ``public_lookup_window_seconds``)."""
    return admit(
        db,
        LOOKUP,
        client,
        settings.public_lookups_per_client,
        settings.public_lookup_window_seconds,
        now,
    )


def admit(
    db: Session,
    kind: str,
    client: str,
    limit: int,
    window_seconds: int,
    now: dt.datetime | None = None,
) -> int:
    """Count one request of ``kind`` from ``client`` (a :func:`client_key`) and return 0, or,
    when the client has ``limit`` requests of that kind within the last ``window_seconds``,
    count nothing and return the seconds until it may try again (at least 1). A ``limit`` of
    0 or less admits everything and counts nothing. Commits.

    Requests of one client and kind are serialized across processes, so that concurrent
    requests cannot pass the limit together: on PostgreSQL by a transaction-level advisory
    lock, on SQLite by the database's write lock, taken by the purge that comes first.
    """
    if limit <= 0:
        return 0
    now = now or _now()
    window = dt.timedelta(seconds=max(window_seconds, 0))
    start = now - window
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(_lock_key(kind, client))))
    # rows of this kind that left its window, a batch at a time
    purge_expired(
        db, PublicSubmission.id, PublicSubmission.at, start, PublicSubmission.kind == kind
    )
    # the limit-th newest request within the window: while it is there, the client waits
    edge = db.scalar(
        select(PublicSubmission.at)
        .where(
            PublicSubmission.kind == kind,
            PublicSubmission.client == client,
            PublicSubmission.at > start,
        )
        .order_by(PublicSubmission.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if edge is not None:
        db.commit()
        return max(1, math.ceil((edge + window - now).total_seconds()))
    db.add(PublicSubmission(kind=kind, client=client, at=now))
    db.commit()
    return 0
