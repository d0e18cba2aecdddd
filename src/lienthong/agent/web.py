"""What the agent shows about itself over HTTP: the status (JSON, a page, Prometheus metrics) and
its statistics for any period (the API QCVN 120 asks a ministry or province to offer the portal).

- ``GET /api/status`` (any configured API key): :func:`lienthong.agent.status.agent_status`.
- ``GET /api/stats?madonvi=U&year=Y&month=M`` or ``?madonvi=U&from=YYYY-MM&to=YYYY-MM`` (an API
  key whose units cover ``U``): ``{"madonvi", "from", "to", "result": [DongBoThongKeHoSo...]}``,
  one record per month, in wire form.
- ``GET /metrics``: Prometheus text format (:mod:`lienthong.agent.metrics`).
- ``GET /`` and ``GET /trang-thai``: the status page (Vietnamese first, refreshes itself).

The page and ``/metrics`` show operational facts only (counts, ages, codes, record keys such as
a dossier code; never a record, a name or an address), so they take no API key; the setting
``status_access`` decides who may read them: ``local`` (default: loopback clients only, the
operator on the machine or through an SSH tunnel), ``open`` (anyone who reaches the port, e.g. a
Prometheus server on another host) or ``off``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from lienthong.agent.errors import LocalApiError
from lienthong.agent.metrics import metrics_registry
from lienthong.agent.service import AgentService
from lienthong.agent.settings import ApiKey
from lienthong.agent.stats import Period, label, parse_month, periods
from lienthong.agent.status import agent_status
from lienthong.spec.dates import VIETNAM

__all__ = ["REFRESH_SECONDS", "service_status", "status_routes"]

logger = logging.getLogger("lienthong.agent.web")

TEMPLATES = Path(__file__).resolve().parent / "templates"
REFRESH_SECONDS = 15
API_KEY_HEADER = "X-API-Key"


def service_status(service: AgentService) -> dict[str, Any]:
    """The status as the running agent sees it (its live portal session included)."""
    portal = service.portal
    status = agent_status(
        service.sessions,
        live_session=portal.session_info if portal is not None else None,
        running=True,
        worker_running=service.worker.running if service.worker is not None else None,
    )
    # the key that signs every envelope: its last self-check (revoked or expired blocks sending)
    status["signing"] = service.signer.status() if service.signer is not None else None
    # the evidence chain: fail closed (delivery holds) while it goes unstamped too long
    status["evidence"] = service.evidence.status()
    return status


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _is_local(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True, default_for_string=True),
    )
    env.filters["age"] = _age
    env.filters["local"] = _local_time
    return env


def _local_time(value: Any) -> str:
    """An ISO time as Vietnam time (``01/12/2026 21:15:45``), for the page."""
    if not value:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S")


def _age(seconds: float | None) -> str:
    """``2 giờ 5 phút`` style, for the page."""
    if seconds is None:
        return "—"
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} ngày {hours} giờ"
    if hours:
        return f"{hours} giờ {minutes} phút"
    if minutes:
        return f"{minutes} phút {secs} giây"
    return f"{secs} giây"


def _period_query(request: Request) -> tuple[Period, Period]:
    query = request.query_params
    try:
        if "from" in query or "to" in query:
            first = parse_month(query.get("from") or query.get("to") or "")
            last = parse_month(query.get("to") or query.get("from") or "")
            periods(first, last)  # checks the order and the length
            return first, last
        year, month = query.get("year"), query.get("month")
        if not year or not month:
            raise ValueError("give year and month, or from and to (YYYY-MM)")
        period = parse_month(f"{year}-{month}")
        return period, period
    except ValueError as exc:
        raise LocalApiError("request.query", str(exc), str(exc), path="query") from None


def status_routes(service: AgentService) -> list[BaseRoute]:
    """The routes of this module over ``service`` (added to the local API's)."""
    settings = service.settings
    env = _environment()
    registry = metrics_registry(
        service.sessions, lambda: service_status(service), evidence=service.evidence
    )

    def authenticate(request: Request) -> ApiKey:
        presented = request.headers.get(API_KEY_HEADER)
        if not presented:
            raise LocalApiError("auth.key_missing", path=f"header {API_KEY_HEADER}")
        key = settings.key_for(presented)
        if key is None:
            raise LocalApiError("auth.key_invalid", path=f"header {API_KEY_HEADER}")
        return key

    def api(handler: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LocalApiError as error:
                return _json(error.body(), error.http_status)
            except Exception:  # the agent's database: say so, never a stack trace
                logger.exception("local API request failed")
                fault = LocalApiError("internal")
                return _json(fault.body(), fault.http_status)

        return run

    def allowed(request: Request) -> Response | None:
        """None when the caller may read the page and the metrics; else the refusal."""
        if settings.status_access == "off":
            return Response("Not found\n", status_code=404, media_type="text/plain")
        if settings.status_access == "local" and not _is_local(request):
            return Response(
                "Chỉ xem được từ máy chạy tác tử / local clients only (status_access)\n",
                status_code=403,
                media_type="text/plain; charset=utf-8",
            )
        return None

    async def status_json(request: Request) -> Response:
        authenticate(request)
        return _json(await anyio.to_thread.run_sync(service_status, service))

    async def stats_json(request: Request) -> Response:
        key = authenticate(request)
        unit = request.query_params.get("madonvi") or ""
        if not unit:
            candidates = key.units if len(key.units) == 1 else settings.units
            if len(candidates) != 1:
                raise LocalApiError("envelope.missing", "madonvi", "madonvi", path="madonvi")
            unit = candidates[0]
        if not key.may_submit_for(unit):
            raise LocalApiError("auth.unit_forbidden", unit[:40], unit[:40], path="madonvi")
        first, last = _period_query(request)
        try:
            rows = await anyio.to_thread.run_sync(service.stats.figures, unit, first, last)
        except ValueError as exc:  # not an agency code
            raise LocalApiError("request.query", str(exc), str(exc), path="madonvi") from None
        return _json({"madonvi": unit, "from": label(first), "to": label(last), "result": rows})

    async def metrics(request: Request) -> Response:
        refused = allowed(request)
        if refused is not None:
            return refused
        body = await anyio.to_thread.run_sync(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def page(request: Request) -> Response:
        refused = allowed(request)
        if refused is not None:
            return refused
        status = await anyio.to_thread.run_sync(service_status, service)
        html = env.get_template("status.html").render(
            status=status, refresh=REFRESH_SECONDS, units=settings.units
        )
        return HTMLResponse(
            html, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        )

    return [
        Route("/api/status", api(status_json), methods=["GET"]),
        Route("/api/stats", api(stats_json), methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", page, methods=["GET"]),
        Route("/trang-thai", page, methods=["GET"]),
    ]
