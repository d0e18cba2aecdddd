"""The local API of pulled items (wired into :func:`lienthong.agent.api.create_app`).

- ``GET /api/pulled?service=&unit=&since=&limit=``: items, oldest change first. ``since`` (an
  ISO 8601 date-time; UTC when it has no offset) keeps those changed at or after it; pass the
  last ``updated_at`` you saw (items with exactly that time come again: dedupe by
  ``(service, unit, item_key, record_hash)``).
- ``GET /api/pulled/{service}/{item_key}`` (``?unit=`` when several units have that key).

Same ``X-API-Key`` as ``/api/submit``. A key sees the items of its units (and the units under
them) and the shared lists (catalog, categories, ministry Q&A: unit ``""``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lienthong.agent.errors import LocalApiError
from lienthong.agent.pulls import GLOBAL_UNIT
from lienthong.agent.settings import ApiKey
from lienthong.store.tables import AgentPulledItem

__all__ = ["pulled_routes", "pulled_view"]

logger = logging.getLogger("lienthong.agent.api")

API_KEY_HEADER = "X-API-Key"
MAX_LIMIT = 1000


def pulled_view(row: AgentPulledItem) -> dict[str, Any]:
    """One pulled item as the local API shows it."""
    return {
        "id": row.id,
        "service": row.service,
        "unit": row.unit,
        "item_key": row.item_key,
        "record": row.record,
        "record_hash": row.record_hash,
        "first_seen_at": row.first_seen_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _since(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        raise LocalApiError("request.query", "since", "since", path="since") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        shown = f"limit: 1..{MAX_LIMIT}"
        raise LocalApiError("request.query", shown, shown, path="limit")
    return int(raw)


def pulled_routes(service: Any) -> list[Route]:
    """The routes, over an :class:`~lienthong.agent.service.AgentService`."""
    store = service.puller.store
    settings = service.settings

    def authenticate(request: Request) -> ApiKey:
        presented = request.headers.get(API_KEY_HEADER)
        if not presented:
            raise LocalApiError("auth.key_missing", path=f"header {API_KEY_HEADER}")
        key: ApiKey | None = settings.key_for(presented)
        if key is None:
            raise LocalApiError("auth.key_invalid", path=f"header {API_KEY_HEADER}")
        return key

    def covered(key: ApiKey, unit: str) -> bool:
        return unit == GLOBAL_UNIT or key.may_submit_for(unit)

    def units_for(key: ApiKey, unit: str | None) -> list[str]:
        if unit is not None:
            if not covered(key, unit):
                raise LocalApiError("auth.unit_forbidden", unit[:40], unit[:40], path="unit")
            return [unit]
        return [u for u in store.units() if covered(key, u)]

    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except LocalApiError as error:
                return _json(error.body(), error.http_status)
            except Exception:  # a fault of the agent (its database), never of the input
                logger.exception("local API request failed")
                fault = LocalApiError("internal")
                return _json(fault.body(), fault.http_status)

        return run

    async def listing(request: Request) -> Response:
        key = authenticate(request)
        query = request.query_params
        since, limit = _since(query.get("since")), _limit(query.get("limit"))
        units = await anyio.to_thread.run_sync(units_for, key, query.get("unit"))
        rows = await anyio.to_thread.run_sync(
            lambda: store.find(service=query.get("service"), units=units, since=since, limit=limit)
        )
        items = [pulled_view(row) for row in rows]
        return _json({"items": items, "count": len(items)})

    async def one(request: Request) -> Response:
        key = authenticate(request)
        name, item = request.path_params["service"], request.path_params["item_key"]
        units = await anyio.to_thread.run_sync(units_for, key, request.query_params.get("unit"))
        rows = await anyio.to_thread.run_sync(
            lambda: store.find(service=name, units=units, key=item, limit=1)
        )
        if not rows:
            shown = f"{name}/{item}"[:120]
            raise LocalApiError("pulled.not_found", shown, shown)
        return _json(pulled_view(rows[0]))

    return [
        Route("/api/pulled", guarded(listing), methods=["GET"]),
        Route("/api/pulled/{service}/{item_key:path}", guarded(one), methods=["GET"]),
    ]
