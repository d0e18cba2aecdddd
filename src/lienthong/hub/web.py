"""The hub's public web pages: server-rendered HTML, Vietnamese by default, no JavaScript.

``GET /`` is the home page with a search box; ``GET /tra-cuu?mahoso=CODE`` is the citizen's
dossier lookup: procedure, owner (masked), status in words, dates in Asia/Ho_Chi_Minh, an
overdue (quá hạn) or late (trễ hạn) mark and the processing timeline; a malformed code gets
a plain sentence and one example (:func:`lienthong.hub.i18n.dossier_code_message`).
``GET /tinh-trang`` is the system status page (:mod:`lienthong.hub.health`), ``GET /logo`` the
operator's logo when one is set (:mod:`lienthong.hub.identity`). The petition (PAKN) and Q&A
pages and the citizens' JSON API are in :mod:`lienthong.hub.web_citizen`.

Templates live in ``hub/templates/`` (Jinja2, autoescaped); :class:`Pages` renders them for a
request, in its language (:mod:`lienthong.hub.i18n`: ``?lang=en`` and a cookie) with the
operator's identity in the header and footer. ``web_routes(hub)`` returns the routes;
``create_app`` registers them. Every request to the pages (but the status page and the logo,
which must answer without the database) is written to the message log (endpoint ``web`` or
``public``, service ``web:/path``), never with its body or query. Lookups that read the
database count towards the limit per client address
(:func:`lienthong.hub.limits.admit_lookup`); over it, a page says how long to wait (HTTP 429,
``Retry-After``, code 44 in the log).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from lienthong.hub import i18n
from lienthong.hub.health import check_health
from lienthong.hub.identity import LOGO_PATH, Identity, identity_of
from lienthong.hub.limits import admit_lookup, client_key
from lienthong.spec.dates import VIETNAM, parse_wire_date
from lienthong.spec.identifiers import WARNING_CODES, check_dossier_code
from lienthong.store.tables import Dossier, DossierEvent

if TYPE_CHECKING:
    from lienthong.hub.app import Hub

__all__ = [
    "DossierView",
    "Pages",
    "Served",
    "StepView",
    "deadline_mark",
    "dossier_view",
    "format_time",
    "logged",
    "lookup_wait",
    "lookups_refused",
    "mask_name",
    "web_routes",
]

TEMPLATES = Path(__file__).parent / "templates"
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)

#: Statuses after which nothing more happens to a dossier: 3 rejected at reception, 7 withdrawn,
#: 8 stopped, 9 processing finished, 10 result returned.
CLOSED_STATUSES = frozenset({"3", "7", "8", "9", "10"})
#: Closed statuses that count as "finished" for the due date (result ready or returned).
FINISHED_STATUSES = frozenset({"9", "10"})

#: Response headers of every page: no scripts, no frames, and the dossier code in the address
#: never leaves in a Referer.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def environment() -> Environment:
    """The Jinja2 environment of the pages (``hub/templates``, autoescaped)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vn_time"] = format_time
    env.globals["t"] = i18n.translate
    return env


@dataclass(frozen=True, slots=True)
class Pages:
    """The templates rendered for one request: in its language, with the link to the other
    language, the operator's identity and, when the address chose the language, its cookie."""

    env: Environment
    identity: Identity

    def render(
        self,
        request: Request,
        name: str,
        status: int = 200,
        headers: Mapping[str, str] = HEADERS,
        **context: Any,
    ) -> HTMLResponse:
        lang = i18n.language(request)
        other = "en" if lang == "vi" else "vi"
        html = self.env.get_template(name).render(
            lang=lang,
            site=self.identity,
            agency=self.identity.name_in(lang),
            switch_href=i18n.switch_href(request, other),
            switch_lang=other,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=dict(headers))
        i18n.remember(request, response)
        return response


def format_time(moment: dt.datetime | None) -> str:
    """``dd/MM/yyyy HH:mm`` in Asia/Ho_Chi_Minh, or an empty string."""
    if moment is None:
        return ""
    if moment.tzinfo is None:  # wire dates are Vietnam time; stored ones are aware UTC
        moment = moment.replace(tzinfo=VIETNAM)
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def mask_name(name: str) -> str:
    """The owner's name as shown to anyone holding the code: ``Nguyễn Văn An`` -> ``Nguyễn V*** A*``.

    The family name stays; every other word keeps its first letter, followed by ``***`` for a
    middle name and ``*`` for the given name, whatever their length (lengths are not leaked).
    """
    words = name.split()
    if not words:
        return ""
    if len(words) == 1:
        return words[0][0] + "***"
    middle = [word[0] + "***" for word in words[1:-1]]
    return " ".join([words[0], *middle, words[-1][0] + "*"])


OVERDUE, LATE = "overdue", "late"


def deadline_mark(
    status: str,
    due: dt.datetime | None,
    finished: dt.datetime | None,
    now: dt.datetime,
) -> str | None:
    """``overdue`` (quá hạn): still open and past its due date; ``late`` (trễ hạn): finished
    (status 9/10) after its due date; None otherwise.

    A dossier refused at reception, withdrawn or stopped (3, 7, 8) is neither; a finished one
    without a finishing time is taken as on time.
    """
    if due is None:
        return None
    if status in FINISHED_STATUSES:
        return LATE if finished is not None and finished > due else None
    if status in CLOSED_STATUSES:
        return None
    return OVERDUE if now > due else None


@dataclass(slots=True)
class StepView:
    """One entry of the processing timeline, ready for the template."""

    at: dt.datetime | None
    department: str
    officer: str
    title: str
    content: str
    status: str
    status_label: str
    status_label_en: str


@dataclass(slots=True)
class DossierView:
    """What the lookup page shows of one dossier (never the contact details or the summary)."""

    code: str
    procedure: str
    procedure_code: str
    field_name: str
    owner: str
    agency: str
    status: str
    status_label: str
    status_label_en: str
    received_at: dt.datetime | None
    due_at: dt.datetime | None
    returned_at: dt.datetime | None
    finished_at: dt.datetime | None
    deadline: str | None
    """:func:`deadline_mark`: ``overdue``, ``late`` or None."""
    steps: list[StepView] = field(default_factory=list)


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    return str(value).strip() if value is not None else ""


def _wire_time(record: dict[str, Any], name: str) -> dt.datetime | None:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_wire_date(value)
    except ValueError:
        return None


def dossier_view(hub: Hub, code: str, now: dt.datetime | None = None) -> DossierView | None:
    """The dossier ``code`` with its timeline, oldest step first; None when the hub lacks it."""
    statuses = hub.validator.catalog.code_lists["TrangThaiHoSo"]

    def label(code: str, lang: str = "vi") -> str:
        return statuses.label(code, lang) or (f"Mã {code}" if lang == "vi" else f"Code {code}")

    with hub.sessions() as db:
        dossier = db.scalar(select(Dossier).where(Dossier.ma_ho_so == code))
        if dossier is None:
            return None
        events = db.scalars(select(DossierEvent).where(DossierEvent.dossier_id == dossier.id)).all()
        record = dict(dossier.record)
        finished = dossier.finished_at or dossier.returned_at
        view = DossierView(
            code=dossier.ma_ho_so,
            procedure=_text(record, "TenTTHC"),
            procedure_code=dossier.ma_tthc,
            field_name=_text(record, "TenLinhVuc"),
            owner=mask_name(_text(record, "ChuHoSo")),
            agency=_text(record, "DonViXuLy"),
            status=dossier.status,
            status_label=label(dossier.status),
            status_label_en=label(dossier.status, "en"),
            received_at=dossier.received_at,
            due_at=dossier.due_at,
            returned_at=dossier.returned_at,
            finished_at=dossier.finished_at,
            deadline=deadline_mark(
                dossier.status, dossier.due_at, finished, now or dt.datetime.now(dt.UTC)
            ),
        )
        steps: list[tuple[dt.datetime | None, int, StepView]] = []
        for event in events:
            step = event.record
            at = event.processed_at or _wire_time(step, "ThoiDiemXuLy")
            status = _text(step, "TrangThai") or event.status
            steps.append(
                (
                    at,
                    event.id,
                    StepView(
                        at=at,
                        department=_text(step, "PhongBanXuLy"),
                        officer=_text(step, "NguoiXuLy"),
                        title=_text(step, "ChucDanh"),
                        content=_text(step, "NoiDungXuLy"),
                        status=status,
                        status_label=label(status),
                        status_label_en=label(status, "en"),
                    ),
                )
            )
    # oldest first; steps without a time go last, in the order they arrived
    steps.sort(key=lambda item: (item[0] is None, item[0] or _EARLIEST, item[1]))
    view.steps = [step for _, _, step in steps]
    return view


@dataclass(slots=True)
class Served:
    """A page's (or public API call's) response and what the message log records of it."""

    response: Response
    code: str = "00"
    """The answer code (``00``, ``15``, ...; ``csrf`` for a refused form), for the log."""
    unit: str | None = None
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    request_bytes: int = 0


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def lookup_wait(hub: Hub, request: Request) -> Awaitable[int]:
    """0 when the client may look something up (the lookup is counted), else the seconds to
    wait."""
    key = client_key(client_of(request))

    def count() -> int:
        with hub.sessions() as db:
            return admit_lookup(db, hub.settings, key)

    return anyio.to_thread.run_sync(count)


def lookups_refused(pages: Pages, hub: Hub, request: Request, active: str, wait: int) -> Served:
    """The page of a client over the lookup limit: HTTP 429, ``Retry-After``, code 44."""
    headers = {**HEADERS, "Retry-After": str(wait)}
    page = pages.render(
        request,
        "limited.html",
        status=429,
        headers=headers,
        active=active,
        wait=wait,
        window=hub.settings.public_lookup_window_seconds,
    )
    return Served(page, code="44")


def logged(
    hub: Hub, kind: str, path: str, handler: Callable[[Request], Awaitable[Served]]
) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` as an endpoint whose every request is a message-log row.

    The row has ``endpoint`` ``kind`` (``web`` or ``public``) and ``service`` ``kind:path``; no
    body, query or personal data is kept.
    """
    from lienthong.hub.app import Answer  # app imports this module

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        served = await handler(request)
        answer = Answer(
            served.response.status_code,
            {"error_code": served.code},
            service=f"{kind}:{path}",
            unit=served.unit,
            records=served.records,
            accepted=served.accepted,
            rejected=served.rejected,
        )
        await anyio.to_thread.run_sync(
            partial(
                hub.log,
                endpoint=kind,
                client=client_of(request),
                dstcode=None,
                request_bytes=served.request_bytes,
                answer=answer,
                response_bytes=len(served.response.body),
                duration_ms=(time.perf_counter() - started) * 1000,
                raw_body=None,
            )
        )
        return served.response

    return endpoint


def web_routes(hub: Hub) -> list[Route]:
    """The public pages of ``hub``: ``/``, ``/tra-cuu``, ``/tinh-trang``, ``/logo`` (when a
    logo is set), and those of :mod:`web_citizen`. ValueError when the logo setting is bad."""
    from lienthong.hub.web_citizen import citizen_routes  # it builds on this module

    pages = Pages(environment(), identity_of(hub.settings))

    async def home(request: Request) -> Served:
        return Served(pages.render(request, "home.html", active="home"))

    async def lookup(request: Request) -> Served:
        code = request.query_params.get("mahoso", "").strip()
        page = partial(pages.render, request, "lookup.html", active="lookup", code=code)
        if not code:
            return Served(page(outcome="ask"))
        problem = check_dossier_code(code)
        if problem is not None and problem.code not in WARNING_CODES:
            message = i18n.dossier_code_message(problem)
            return Served(page(status=400, outcome="invalid", message=message), code="15")
        wait = await lookup_wait(hub, request)
        if wait:
            return lookups_refused(pages, hub, request, "lookup", wait)
        view = await anyio.to_thread.run_sync(dossier_view, hub, code)
        if view is None:
            return Served(page(status=404, outcome="missing"), code="40")
        return Served(page(outcome="found", dossier=view))

    async def status(request: Request) -> Response:
        """Not logged: it must answer when the database does not."""
        health = await check_health(hub)
        return pages.render(
            request, "status.html", status=health.http_status, active="status", health=health
        )

    routes = [
        Route("/", logged(hub, "web", "/", home), methods=["GET"], name="home"),
        Route("/tra-cuu", logged(hub, "web", "/tra-cuu", lookup), methods=["GET"], name="lookup"),
        Route("/tinh-trang", status, methods=["GET"], name="status"),
        *citizen_routes(hub, pages),
    ]
    logo = pages.identity.logo
    if logo is not None:
        logo_headers = {
            "Content-Security-Policy": "default-src 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=3600",
        }

        async def logo_file(request: Request) -> Response:
            return Response(logo.content, media_type=logo.media_type, headers=logo_headers)

        routes.append(Route(LOGO_PATH, logo_file, methods=["GET"], name="logo"))
    return routes
