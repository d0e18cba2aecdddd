"""The agent's local HTTP API, for the one-stop system next door (Starlette, served by uvicorn).

- ``POST /api/submit`` with header ``X-API-Key`` and body ``{"service", "madonvi",
  ...params, "data": [records]}`` (the portal envelope without ``session``): 200 when every
  record was queued, 207 when some were, 422 when none was; each record with its result.
- ``GET /api/outbox/{id}``: the delivery state of one queued record.
- ``GET /healthz``.

Whole-request refusals carry a stable code of :data:`lienthong.agent.errors.LOCAL_CODES`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lienthong.agent.errors import LocalApiError
from lienthong.agent.pulls_api import pulled_routes
from lienthong.agent.service import AgentService
from lienthong.agent.settings import ApiKey
from lienthong.agent.web import status_routes
from lienthong.asgi import read_limited_body
from lienthong.spec.inputs import loads
from lienthong.store.tables import AgentOutbox

__all__ = ["API_KEY_HEADER", "create_app", "outbox_view"]

logger = logging.getLogger("lienthong.agent.api")

API_KEY_HEADER = "X-API-Key"


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _refusal(error: LocalApiError) -> Response:
    return _json(error.body(), error.http_status)


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def outbox_view(row: AgentOutbox) -> dict[str, Any]:
    """One outbox row as the local API shows it."""
    return {
        "id": row.id,
        "service": row.service,
        "madonvi": row.unit,
        "key": row.record_key,
        "state": row.state,
        "attempts": row.attempts,
        "created_at": _when(row.created_at),
        "next_attempt_at": _when(row.next_attempt_at) if row.state == "pending" else None,
        "last_attempt_at": _when(row.last_attempt_at),
        "delivered_at": _when(row.delivered_at),
        "last_error": row.last_error,
        "last_answer": row.last_answer,
    }


def create_app(service: AgentService, *, manage_service: bool = True) -> Starlette:
    """The local API over ``service``; with ``manage_service``, the app's lifespan starts and
    stops the service (the delivery worker runs while the server does)."""
    settings = service.settings

    def authenticate(request: Request) -> ApiKey:
        presented = request.headers.get(API_KEY_HEADER)
        if not presented:
            raise LocalApiError("auth.key_missing", path=f"header {API_KEY_HEADER}")
        key = settings.key_for(presented)
        if key is None:
            raise LocalApiError("auth.key_invalid", path=f"header {API_KEY_HEADER}")
        return key

    def guarded(
        handler: Callable[[Request], Any],
    ) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except LocalApiError as error:
                return _refusal(error)
            except Exception:  # a fault of the agent (its database), never of the input: say so
                logger.exception("local API request failed")
                return _refusal(LocalApiError("internal"))

        return run

    async def submit(request: Request) -> Response:
        key = authenticate(request)
        body = await read_limited_body(request, settings.max_body_bytes)
        if body is None:
            limit = settings.max_body_bytes
            raise LocalApiError(
                "request.too_large", f"tối đa {limit} byte", f"at most {limit} bytes"
            )
        content_type = (
            request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        )
        if content_type not in ("application/json", "text/json", ""):
            raise LocalApiError("request.content_type", content_type[:64], content_type[:64])
        value, problem, _ = loads(body)
        if problem is not None:
            raise LocalApiError("request.not_json", problem.vi, problem.en, path="$")
        receipt = await anyio.to_thread.run_sync(service.submit, value, key)
        return _json(receipt.body(), receipt.http_status)

    async def outbox(request: Request) -> Response:
        key = authenticate(request)
        row_id = int(request.path_params["row_id"])
        row = await anyio.to_thread.run_sync(service.outbox.get, row_id)
        if row is None or not key.may_submit_for(row.unit):
            # another unit's row is "not found": its existence does not leak
            raise LocalApiError("outbox.not_found", str(row_id), str(row_id))
        return _json(outbox_view(row), 200)

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_service:
            await anyio.to_thread.run_sync(service.start)
        try:
            yield
        finally:
            if manage_service:
                await anyio.to_thread.run_sync(service.stop)

    routes = [
        Route("/api/submit", guarded(submit), methods=["POST"]),
        Route("/api/outbox/{row_id:int}", guarded(outbox), methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        *status_routes(service),  # /api/status, /api/stats, /metrics, the status page
    ]
    routes.extend(pulled_routes(service))  # GET /api/pulled, /api/pulled/{service}/{item_key}
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.agent = service
    return app
