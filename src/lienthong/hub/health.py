"""What the hub knows of its own health: is the database answering, which version runs, when.

``GET /healthz`` gives it to machines as JSON (HTTP 200, or 503 when the database does not
answer); the page ``GET /tinh-trang`` (:mod:`lienthong.hub.web`) shows the same to people.
Neither is written to the message log, so both still answer when the database does not. The
cause of a failure goes to the server's log, never to the client: it may name a host or a user.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import orjson
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from lienthong import __version__
from lienthong.spec.dates import VIETNAM

if TYPE_CHECKING:
    from lienthong.hub.app import Hub

__all__ = ["PROBE_TIMEOUT_SECONDS", "Health", "check_health", "healthz"]

#: How long the database may take to answer ``SELECT 1`` before it counts as not answering.
PROBE_TIMEOUT_SECONDS = 5.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Health:
    database_ok: bool
    version: str
    checked_at: dt.datetime
    """Aware, Asia/Ho_Chi_Minh."""
    receipts: str | None = None
    """The receipt key's state (``ok``, ``blocked``, ``unchecked``; None: no receipt key). A
    blocked key leaves the hub healthy: pushes go on, answered without a receipt."""

    @property
    def ok(self) -> bool:
        return self.database_ok

    @property
    def http_status(self) -> int:
        return 200 if self.ok else 503

    def as_json(self) -> dict[str, str]:
        answer = {
            "status": "ok" if self.ok else "error",
            "database": "ok" if self.database_ok else "unreachable",
            "version": self.version,
            "time": self.checked_at.isoformat(timespec="seconds"),
        }
        if self.receipts is not None:
            answer["receipts"] = self.receipts
        return answer


def _probe(hub: Hub) -> bool:
    try:
        with hub.sessions() as db:
            db.execute(text("SELECT 1"))
    except Exception as error:  # any failure of the driver or the pool means "not answering"
        _log.warning("health: the database does not answer: %s", type(error).__name__)
        return False
    return True


async def check_health(hub: Hub) -> Health:
    """Ask the database for ``SELECT 1`` (bounded by :data:`PROBE_TIMEOUT_SECONDS`)."""
    database_ok = False
    with anyio.move_on_after(PROBE_TIMEOUT_SECONDS):
        database_ok = await anyio.to_thread.run_sync(_probe, hub, abandon_on_cancel=True)
    receipts = hub.receipts.state if hub.receipts is not None else None
    return Health(
        database_ok, __version__, dt.datetime.now(VIETNAM).replace(microsecond=0), receipts
    )


def healthz(hub: Hub) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET /healthz`` endpoint of ``hub``."""

    async def endpoint(request: Request) -> Response:
        health = await check_health(hub)
        return Response(
            orjson.dumps(health.as_json()),
            status_code=health.http_status,
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return endpoint
