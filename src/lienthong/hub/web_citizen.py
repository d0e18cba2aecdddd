"""Citizens' petitions (phản ánh, kiến nghị, PAKN) and questions (hỏi đáp): public pages and a
public JSON API, no login.

Pages (HTML, Vietnamese first, no JavaScript):

- ``GET /pakn``: the published petitions, newest first, with a keyword search (``tukhoa``) and
  pages of 10 (``trang``); sender names masked, never a contact detail.
- ``GET /pakn/gui``, ``POST /pakn/gui``: the submission form (``submit_petition``); a bad field
  re-renders the form (HTTP 422) with the values kept and the error beside the field.
- ``GET /hoi-dap``: the answered questions (citizens', units' and the ministries' Q&A sets),
  with the same search and paging, and a filter on their source (``nguon``).
- ``GET /hoi-dap/gui``, ``POST /hoi-dap/gui``: the question form (``submit_question``).

API (JSON in and out, the hub's answer shape): ``POST /api/cong-dan/pakn`` and
``POST /api/cong-dan/hoi-dap`` take the fields of the forms, by their wire names.

Both paths run the same checks (:func:`check_submission`): strings only, no control
characters, a length limit per field, the unit among :func:`known_units`, then the domain's
own checks (``check_petition`` / ``check_question``). Forms are protected against cross-site
submission by a token in a hidden field that must equal a ``SameSite=Strict`` cookie (double
submit; the cookie is ``__Host-`` prefixed over HTTPS) and by refusing a POST whose
``Sec-Fetch-Site``, ``Origin`` or ``Referer`` names another site. Bodies larger than the hub's
``max_body_bytes`` are refused before they are read.

Every submission that gets past those request checks counts towards the limit per client
address (:mod:`lienthong.hub.limits`), before its fields are checked: over the limit, the API
answers code 43 (HTTP 429, ``Retry-After``) and a form comes back (HTTP 429) with the values
kept and the minutes to wait; nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from jinja2 import Environment
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from lienthong.asgi import read_limited_body
from lienthong.hub import petitions, questions
from lienthong.hub.errors import ANSWER_CODES, HubError
from lienthong.hub.limits import admit_submission, client_key
from lienthong.hub.web import HEADERS, Served, client_of, format_time, logged, mask_name
from lienthong.spec import Validator
from lienthong.spec.dates import VIETNAM, parse_wire_date
from lienthong.spec.identifiers import agency_registry, parse_agency_code
from lienthong.spec.inputs import loads

if TYPE_CHECKING:
    from lienthong.hub.app import Hub

__all__ = [
    "PAGE_SIZE",
    "PETITION",
    "QUESTION",
    "FormField",
    "FormKind",
    "Unit",
    "check_submission",
    "citizen_routes",
    "known_units",
]

PAGE_SIZE = 10
MAX_KEYWORD = 200
#: Any other field a citizen may send through the API is limited to this many characters.
DEFAULT_MAX_LENGTH = 500
CSRF_FIELD = "csrf"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
#: C0 controls other than tab, newline and carriage return, DEL, and lone surrogates: none of
#: them belongs in a petition, and PostgreSQL cannot store NUL in JSON.
_BAD_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
#: Form pages send their origin with a POST (``Origin``) so that it can be checked.
FORM_HEADERS = {**HEADERS, "Referrer-Policy": "same-origin"}
_JSON_TYPES = ("application/json", "text/json")
_FORM_TYPE = "application/x-www-form-urlencoded"


# -- units ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit a citizen may address: its agency code, its name and its group."""

    code: str
    name: str
    group: str
    """``province``, ``ministry`` or ``other`` (the units of the hub's accounts)."""


GROUPS = (
    ("province", "Tỉnh, thành phố", "Provinces"),
    ("ministry", "Bộ, ngành", "Ministries and agencies"),
    ("other", "Đơn vị khác", "Other units"),
)


def known_units(hub: Hub, today: dt.date | None = None) -> list[Unit]:
    """The units petitions and questions can be sent to.

    The provinces (H) and ministries (G) open today in the bundled level-1 registry
    (``spec/data/agencies.yaml``, as ``000.00.00.H56``), then the other units the hub's enabled
    accounts act for (``000.00.13.H56``), named after their level-1 agency.
    """
    registry = agency_registry()
    today = today or dt.datetime.now(VIETNAM).date()
    units: list[Unit] = []
    for letter, group in (("H", "province"), ("G", "ministry")):
        units += [
            Unit(f"000.00.00.{agency.code}", agency.vi, group)
            for agency in registry.open_level1(today)
            if agency.code.startswith(letter)
        ]
    seen = {unit.code for unit in units}
    extra: list[Unit] = []
    for account in hub.accounts.list():
        if account.disabled:
            continue
        for code in account.units:
            parsed = parse_agency_code(code)
            if code in seen or parsed is None:
                continue
            seen.add(code)
            level1 = registry.level1(parsed.level1)
            name = f"{code} ({level1.vi})" if level1 is not None else code
            extra.append(Unit(code, name, "other"))
    return units + sorted(extra, key=lambda unit: unit.code)


# -- forms ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    """The wire name (``TieuDe``), also the form field's name and id."""
    vi: str
    en: str
    kind: str
    """``text``, ``textarea``, ``tel``, ``email`` or ``unit`` (a select of :func:`known_units`)."""
    max_length: int
    required: bool = False
    hint: str = ""
    hint_en: str = ""
    autocomplete: str = "off"
    ask: str = ""
    """What to ask for when it is empty: ``Vui lòng nhập <ask>``."""


@dataclass(frozen=True, slots=True)
class FormKind:
    key: str
    """``pakn`` or ``hoidap``: the navigation entry and the template's switch."""
    path: str
    api_path: str
    title: str
    title_en: str
    fields: tuple[FormField, ...]
    allowed: tuple[str, ...]
    """Every field the API accepts (the domain's ``CITIZEN_FIELDS``)."""
    unit_field: str
    unit_name_field: str
    """Set by the hub from the unit list; a value sent for it is replaced."""
    phone_field: str
    email_field: str
    contact_error_field: str
    check: Callable[[dict[str, Any], Validator], list[tuple[str, str, str]]]
    submit: Callable[[Session, dict[str, Any], Validator], str]
    status_label: str
    status_label_en: str

    def field(self, name: str) -> FormField | None:
        return next((item for item in self.fields if item.name == name), None)


def _submit_petition(db: Session, values: dict[str, Any], validator: Validator) -> str:
    return petitions.submit_petition(db, values, validator=validator)


def _submit_question(db: Session, values: dict[str, Any], validator: Validator) -> str:
    return str(questions.submit_question(db, values, validator=validator))


_CONTACT_HINT = "Cần số điện thoại hoặc thư điện tử để nhận trả lời."
_CONTACT_HINT_EN = "A phone number or an e-mail address is needed for the answer."

PETITION = FormKind(
    key="pakn",
    path="/pakn/gui",
    api_path="/api/cong-dan/pakn",
    title="Gửi phản ánh, kiến nghị",
    title_en="Send feedback or a recommendation",
    fields=(
        FormField(
            "MaDonViXuLy", "Đơn vị tiếp nhận", "Agency to handle it", "unit", 40, True,
            ask="đơn vị tiếp nhận",
        ),
        FormField("TieuDe", "Tiêu đề", "Title", "text", 250, True, ask="tiêu đề"),
        FormField(
            "NoiDungPAKN", "Nội dung phản ánh, kiến nghị", "Your feedback or recommendation",
            "textarea", 10_000, True, ask="nội dung phản ánh, kiến nghị",
        ),
        FormField(
            "MaHoSo", "Mã hồ sơ liên quan (nếu có)", "Related dossier code (optional)", "text", 60,
            hint="Ví dụ 000.00.13.H56-260302-0001", hint_en="For example 000.00.13.H56-260302-0001",
        ),
        FormField(
            "Ten", "Họ và tên", "Full name", "text", 100, True, autocomplete="name",
            ask="họ và tên",
        ),
        FormField(
            "SoDienThoai", "Số điện thoại", "Phone", "tel", 20, autocomplete="tel",
            hint=_CONTACT_HINT, hint_en=_CONTACT_HINT_EN,
        ),
        FormField("Email", "Thư điện tử", "E-mail", "email", 254, autocomplete="email"),
    ),
    allowed=petitions.CITIZEN_FIELDS,
    unit_field="MaDonViXuLy",
    unit_name_field="TenDonViXuLy",
    phone_field="SoDienThoai",
    email_field="Email",
    contact_error_field="SoDienThoai",
    check=lambda values, validator: petitions.check_petition(values, validator=validator),
    submit=_submit_petition,
    status_label="",  # from the TrangThaiPAKN code list
    status_label_en="",
)  # fmt: skip

QUESTION = FormKind(
    key="hoidap",
    path="/hoi-dap/gui",
    api_path="/api/cong-dan/hoi-dap",
    title="Gửi câu hỏi",
    title_en="Ask a question",
    fields=(
        FormField(
            "MADONVI", "Đơn vị trả lời", "Agency to answer", "unit", 40, True,
            ask="đơn vị trả lời",
        ),
        FormField(
            "NOIDUNG", "Nội dung câu hỏi", "Your question", "textarea", 10_000, True,
            ask="nội dung câu hỏi",
        ),
        FormField(
            "HOVATEN", "Họ và tên", "Full name", "text", 100, True, autocomplete="name",
            ask="họ và tên",
        ),
        FormField(
            "SODIENTHOAI", "Số điện thoại", "Phone", "tel", 20, autocomplete="tel",
            hint=_CONTACT_HINT, hint_en=_CONTACT_HINT_EN,
        ),
        FormField("THUDIENTU", "Thư điện tử", "E-mail", "email", 254, autocomplete="email"),
    ),
    allowed=questions.CITIZEN_FIELDS,
    unit_field="MADONVI",
    unit_name_field="TENDONVI",
    phone_field="SODIENTHOAI",
    email_field="THUDIENTU",
    contact_error_field="THUDIENTU",
    check=lambda values, validator: questions.check_question(values, validator=validator),
    submit=_submit_question,
    status_label="Chờ trả lời",
    status_label_en="Awaiting an answer",
)  # fmt: skip


def check_submission(
    kind: FormKind,
    raw: Mapping[str, Any],
    units: Sequence[Unit],
    validator: Validator,
    *,
    strict: bool = True,
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """(values, errors by field: (vi, en)) of a submission; no error means it can be stored.

    ``strict`` (the API) refuses fields that are not the domain's; a form only sends its own.
    The unit's name is set from ``units``. The first error of each field is kept.
    """
    errors: dict[str, tuple[str, str]] = {}
    values: dict[str, str] = {}
    for name, value in raw.items():
        if name not in kind.allowed:
            if strict:
                errors.setdefault(name, ("trường không được phép", "field not allowed"))
            continue
        if name == kind.unit_name_field or value is None:
            continue
        if not isinstance(value, str):
            errors[name] = ("phải là chuỗi ký tự", "must be a string")
            continue
        value = value.strip()
        spec = kind.field(name)
        limit = spec.max_length if spec is not None else DEFAULT_MAX_LENGTH
        if _BAD_CHARACTERS.search(value):
            errors[name] = ("chứa ký tự không hợp lệ", "contains characters that are not allowed")
        elif len(value) > limit:
            errors[name] = (
                f"dài tối đa {limit} ký tự (đang có {len(value)})",
                f"at most {limit} characters (got {len(value)})",
            )
        values[name] = value
    for spec in kind.fields:
        if spec.required and not values.get(spec.name) and spec.name not in errors:
            verb = "chọn" if spec.kind == "unit" else "nhập"
            errors[spec.name] = (
                f"Vui lòng {verb} {spec.ask}",
                f"Please fill in “{spec.en}”",
            )
    if not values.get(kind.phone_field) and not values.get(kind.email_field):
        errors.setdefault(
            kind.contact_error_field,
            (
                "Vui lòng nhập số điện thoại hoặc thư điện tử để nhận trả lời",
                "Please give a phone number or an e-mail address for the answer",
            ),
        )
    by_code = {unit.code: unit for unit in units}
    unit_code = values.get(kind.unit_field, "")
    if unit_code and kind.unit_field not in errors:
        unit = by_code.get(unit_code)
        if unit is None:
            errors[kind.unit_field] = (
                "Vui lòng chọn đơn vị trong danh sách",
                "Please choose a unit from the list",
            )
        else:
            values[kind.unit_name_field] = unit.name
    clean = {name: value for name, value in values.items() if name not in errors}
    for name, vi, en in kind.check(clean, validator):
        errors.setdefault(name, (vi.removeprefix(f"{name}: "), en.removeprefix(f"{name}: ")))
    return values, errors


def _ordered(kind: FormKind, errors: Mapping[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    """The errors as (field, vi, en): the form's fields in order, then the others."""
    order = [spec.name for spec in kind.fields] + list(kind.allowed)
    rank: dict[str, int] = {}
    for name in order:
        rank.setdefault(name, len(rank))
    names = sorted(errors, key=lambda name: (rank.get(name, len(rank)), name))
    return [(name, *errors[name]) for name in names]


# -- request helpers --------------------------------------------------------------------------------


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _cross_site(request: Request) -> bool:
    """True when the browser says the POST comes from another site (or another origin)."""
    if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        return True
    host = request.headers.get("host", "").lower()
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return urllib.parse.urlsplit(origin).netloc.lower() != host
    referer = request.headers.get("referer")
    if referer:
        return urllib.parse.urlsplit(referer).netloc.lower() != host
    return False


def _cookie_name(request: Request) -> str:
    return "__Host-lienthong_csrf" if request.url.scheme == "https" else "lienthong_csrf"


def _cookie_token(request: Request) -> str | None:
    token = request.cookies.get(_cookie_name(request))
    return token if token is not None and _TOKEN.fullmatch(token) else None


def _set_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        _cookie_name(request),
        token,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _page_number(text: str | None) -> int:
    try:
        number = int(text or "1")
    except ValueError:
        return 1
    return min(max(number, 1), 1_000_000)


def _keyword(request: Request) -> str:
    return request.query_params.get("tukhoa", "").strip()[:MAX_KEYWORD]


def _time(value: str | None) -> str:
    if not value:
        return ""
    try:
        return format_time(parse_wire_date(value))
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class PageLink:
    number: int | None
    """None for a gap (…)."""
    href: str = ""
    current: bool = False


@dataclass(frozen=True, slots=True)
class Pager:
    page: int
    pages: int
    total: int
    links: tuple[PageLink, ...]
    previous: str | None
    next: str | None


def pager(path: str, query: Mapping[str, str], page: int, total: int) -> Pager:
    """Links to the pages of a list of ``total`` rows: first, last, and two around ``page``."""
    pages = max(1, math.ceil(total / PAGE_SIZE))

    def href(number: int) -> str:
        params = {key: value for key, value in query.items() if value}
        if number > 1:
            params["trang"] = str(number)
        return path + ("?" + urllib.parse.urlencode(params) if params else "")

    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[PageLink] = []
    for number in shown:
        if links and links[-1].number is not None and number > (links[-1].number or 0) + 1:
            links.append(PageLink(None))
        links.append(PageLink(number, href(number), number == page))
    return Pager(
        page=page,
        pages=pages,
        total=total,
        links=tuple(links),
        previous=href(page - 1) if 1 < page <= pages else None,
        next=href(page + 1) if page < pages else None,
    )


# -- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PetitionView:
    id: str
    title: str
    text: str
    sender: str
    sent_at: str
    unit: str
    unit_code: str
    status_label: str
    answer: str
    answered_at: str


@dataclass(frozen=True, slots=True)
class QuestionView:
    id: str
    source: str
    source_label: str
    title: str
    text: str
    asker: str
    sent_at: str
    unit: str
    unit_code: str
    procedure: str
    answer: str
    answered_at: str


SOURCES = {  # ``nguon`` of /hoi-dap -> (questions source, label vi, label en)
    "cong-dan": (questions.PORTAL, "Câu hỏi của công dân", "Citizens' questions"),
    "don-vi": (questions.UNIT, "Đơn vị biên soạn", "Compiled by units"),
    "bo-nganh": (questions.MINISTRY, "Bộ, ngành biên soạn", "Compiled by ministries"),
}
_SOURCE_LABELS = {source: (vi, en) for source, vi, en in SOURCES.values()}


# -- routes ---------------------------------------------------------------------------------------


Handler = Callable[[Request], Awaitable[Served]]


def citizen_routes(hub: Hub, env: Environment) -> list[Route]:
    """The PAKN and Q&A pages and the citizens' API of ``hub``, each logged."""
    settings = hub.settings
    limit = settings.max_body_bytes
    statuses = hub.validator.catalog.code_lists.get("TrangThaiPAKN")

    def pakn_status(code: str, lang: str = "vi") -> str:
        label = statuses.label(code, lang) if statuses is not None else None
        return label or (f"Mã {code}" if lang == "vi" else f"Code {code}")

    def render(
        name: str, status: int = 200, headers: Mapping[str, str] = HEADERS, **context: Any
    ) -> HTMLResponse:
        html = env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=dict(headers))

    def units_now() -> list[Unit]:
        return known_units(hub)

    def unit_names(units: Sequence[Unit]) -> dict[str, str]:
        return {unit.code: unit.name for unit in units}

    # -- lists ----------------------------------------------------------------------------------

    def petition_rows(keyword: str, page: int) -> tuple[list[dict[str, Any]], int, list[Unit]]:
        envelope = {"keyword": keyword, "soBanGhiMoiTrang": str(PAGE_SIZE)}
        with hub.sessions() as db:
            rows = petitions.public(db, {**envelope, "trangHienTai": str(page)})
            if not rows and page > 1:  # past the end: the total from the first page
                first = petitions.public(db, {**envelope, "trangHienTai": "1"})
                total = int(first[0]["TongSo"]) if first else 0
            else:
                total = int(rows[0]["TongSo"]) if rows else 0
        return rows, total, units_now()

    async def pakn_list(request: Request) -> Served:
        keyword, page = _keyword(request), _page_number(request.query_params.get("trang"))
        rows, total, units = await anyio.to_thread.run_sync(petition_rows, keyword, page)
        names = unit_names(units)
        items = [
            PetitionView(
                id=row["Id"],
                title=row.get("TieuDe", ""),
                text=row.get("NoiDungPAKN", ""),
                sender=mask_name(row.get("Ten", "")),
                sent_at=_time(row.get("NgayGuiPAKN")),
                unit=row.get("TenDonVi") or names.get(row.get("MaDonVi", ""), ""),
                unit_code=row.get("MaDonVi", ""),
                status_label=pakn_status(row.get("TrangThai", "")),
                answer=row.get("NoiDungTraLoi", ""),
                answered_at=_time(row.get("NgayTraLoi")),
            )
            for row in rows
        ]
        return Served(
            render(
                "pakn_list.html",
                active="pakn",
                keyword=keyword,
                items=items,
                pager=pager("/pakn", {"tukhoa": keyword}, page, total),
            )
        )

    def question_rows(keyword: str, source: str | None) -> tuple[list[dict[str, str]], list[Unit]]:
        with hub.sessions() as db:
            rows = questions.public_answered(db, keyword, source)
        return rows, units_now()

    async def hoidap_list(request: Request) -> Served:
        keyword, page = _keyword(request), _page_number(request.query_params.get("trang"))
        source_key = request.query_params.get("nguon", "")
        source_key = source_key if source_key in SOURCES else ""
        source = SOURCES[source_key][0] if source_key else None
        rows, units = await anyio.to_thread.run_sync(question_rows, keyword, source)
        names = unit_names(units)
        window = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        items = [
            QuestionView(
                id=row["HOIDAPID"],
                source=row["NGUON"],
                source_label=_SOURCE_LABELS.get(row["NGUON"], ("", ""))[0],
                title=row.get("TIEUDE", ""),
                text=row.get("NOIDUNG", ""),
                asker=mask_name(row.get("HOVATEN", "")),
                sent_at=_time(row.get("NGAYGUI")),
                unit=row.get("TENDONVI") or names.get(row.get("MADONVI", ""), ""),
                unit_code=row.get("MADONVI", ""),
                procedure=row.get("MATTHCDP", ""),
                answer=row.get("NOIDUNGTRALOI", ""),
                answered_at=_time(row.get("NGAYTRALOI")),
            )
            for row in window
        ]
        return Served(
            render(
                "hoidap_list.html",
                active="hoidap",
                keyword=keyword,
                source=source_key,
                sources=[(key, vi, en) for key, (_, vi, en) in SOURCES.items()],
                items=items,
                pager=pager("/hoi-dap", {"tukhoa": keyword, "nguon": source_key}, page, len(rows)),
            )
        )

    # -- forms ----------------------------------------------------------------------------------

    def form_page(
        request: Request,
        kind: FormKind,
        units: Sequence[Unit],
        *,
        status: int = 200,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, tuple[str, str]] | None = None,
        notice: tuple[str, str] | None = None,
        token: str | None = None,
    ) -> HTMLResponse:
        token = token or _cookie_token(request) or secrets.token_urlsafe(32)
        groups = [(vi, en, [unit for unit in units if unit.group == key]) for key, vi, en in GROUPS]
        response = render(
            "citizen_form.html",
            status=status,
            headers=FORM_HEADERS,
            active=kind.key,
            kind=kind,
            groups=[group for group in groups if group[2]],
            values=values or {},
            errors=errors or {},
            problems=_ordered(kind, errors or {}),
            notice=notice,
            csrf=token,
            csrf_field=CSRF_FIELD,
        )
        _set_token(request, response, token)
        return response

    def show_form(kind: FormKind) -> Handler:
        async def handle(request: Request) -> Served:
            units = await anyio.to_thread.run_sync(units_now)
            return Served(form_page(request, kind, units))

        return handle

    def admit(request: Request) -> Awaitable[int]:
        """0 when the client may submit (the attempt is counted), else the seconds to wait."""
        key = client_key(client_of(request))

        def count() -> int:
            with hub.sessions() as db:
                return admit_submission(db, settings, key)

        return anyio.to_thread.run_sync(count)

    def unit_of(raw: Mapping[str, Any], kind: FormKind, units: Sequence[Unit]) -> str | None:
        """The unit a submission names, for the log, when it is one of ``units``."""
        code = raw.get(kind.unit_field)
        return code if isinstance(code, str) and code in unit_names(units) else None

    def store(kind: FormKind, values: dict[str, str]) -> str:
        with hub.sessions() as db:
            ident = kind.submit(db, values, hub.validator)
            db.commit()
        return ident

    def send_form(kind: FormKind) -> Handler:
        async def handle(request: Request) -> Served:
            body = await read_limited_body(request, limit)
            size = (
                len(body) if body is not None else int(request.headers.get("content-length") or 0)
            )
            units = await anyio.to_thread.run_sync(units_now)

            def refused(status: int, code: str, vi: str, en: str) -> Served:
                """The form again, empty, with the reason (the cookie's token is kept)."""
                page = form_page(request, kind, units, status=status, notice=(vi, en))
                return Served(page, code=code, request_bytes=size, records=1, rejected=1)

            if body is None:
                return refused(
                    413, "14", f"Nội dung gửi quá lớn (tối đa {limit} byte).",
                    f"The submission is too large (at most {limit} bytes).",
                )  # fmt: skip
            if _cross_site(request):
                return refused(
                    403, "csrf", "Biểu mẫu phải được gửi từ chính trang này.",
                    "The form must be sent from this site.",
                )  # fmt: skip
            if _content_type(request) != _FORM_TYPE:
                return refused(
                    415, "11", "Biểu mẫu phải được gửi dạng application/x-www-form-urlencoded.",
                    "The form must be sent as application/x-www-form-urlencoded.",
                )  # fmt: skip
            try:
                pairs = urllib.parse.parse_qsl(
                    body.decode("ascii"),
                    keep_blank_values=True,
                    strict_parsing=False,
                    encoding="utf-8",
                    errors="strict",
                    max_num_fields=50,
                )
            except (UnicodeDecodeError, ValueError):
                return refused(
                    400, "10", "Không đọc được nội dung biểu mẫu.", "The form could not be read."
                )
            fields: dict[str, str] = {}
            for name, value in pairs:
                fields.setdefault(name, value)
            sent, expected = fields.pop(CSRF_FIELD, ""), _cookie_token(request)
            if expected is None or not secrets.compare_digest(sent.encode(), expected.encode()):
                return refused(
                    403, "csrf",
                    "Phiên gửi biểu mẫu không hợp lệ hoặc đã hết hạn. Vui lòng nhập lại và gửi.",
                    "The form session is invalid or has expired. Please fill the form in again.",
                )  # fmt: skip
            raw = {spec.name: fields.get(spec.name, "") for spec in kind.fields}
            wait = await admit(request)
            if wait:
                minutes = math.ceil(wait / 60)
                window = math.ceil(settings.public_window_seconds / 60)
                notice = (
                    "Bạn đã gửi quá nhiều phản ánh, kiến nghị hoặc câu hỏi trong "
                    f"{window} phút qua. Vui lòng thử lại sau {minutes} phút.",
                    f"You have sent too many petitions or questions in the last {window} "
                    f"minutes. Please try again in {minutes} minute(s).",
                )
                page = form_page(request, kind, units, status=429, values=raw, notice=notice)
                page.headers["Retry-After"] = str(wait)
                return Served(page, "43", unit_of(raw, kind, units), 1, 0, 1, size)
            values, errors = check_submission(kind, raw, units, hub.validator, strict=False)
            unit = values.get(kind.unit_field) if kind.unit_field not in errors else None
            if errors:
                page = form_page(request, kind, units, status=422, values=values, errors=errors)
                return Served(page, "15", unit, 1, 0, 1, size)
            try:
                ident = await anyio.to_thread.run_sync(store, kind, values)
            except petitions.PetitionError as refusal:  # the domain refused after all
                errors = {name: (vi, en) for name, vi, en in refusal.problems}
                page = form_page(request, kind, units, status=422, values=values, errors=errors)
                return Served(page, "15", unit, 1, 0, 1, size)
            status_vi = kind.status_label or pakn_status(petitions.PENDING)
            status_en = kind.status_label_en or pakn_status(petitions.PENDING, "en")
            response = render(
                "citizen_sent.html",
                headers=FORM_HEADERS,
                active=kind.key,
                kind=kind,
                ident=ident,
                status_label=status_vi,
                status_label_en=status_en,
                unit=values.get(kind.unit_name_field, ""),
            )
            _set_token(request, response, secrets.token_urlsafe(32))  # a re-send is refused
            return Served(response, "00", unit, 1, 1, 0, size)

        return handle

    # -- JSON API -------------------------------------------------------------------------------

    def api_answer(status: int, body: dict[str, Any]) -> Response:
        return Response(
            orjson.dumps(body),
            status_code=status,
            media_type="application/json",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    def api_error(error: HubError, size: int, **extra: Any) -> Served:
        body = {**error.body(), **extra}
        return Served(
            api_answer(error.answer.http_status, body),
            error.answer.code,
            request_bytes=size,
            records=1,
            rejected=1,
        )

    def invalid(kind: FormKind, errors: Mapping[str, tuple[str, str]], size: int) -> Served:
        """Code 15 with one issue per field: ``path``, ``message``, ``message_en``."""
        problems = _ordered(kind, errors)
        issues = [
            {"path": f"$.{name}", "message": vi, "message_en": en} for name, vi, en in problems
        ]
        detail = "; ".join(f"{name}: {vi}" for name, vi, _ in problems[:5])
        detail_en = "; ".join(f"{name}: {en}" for name, _, en in problems[:5])
        return api_error(HubError("15", detail, detail_en), size, issues=issues)

    def api(kind: FormKind) -> Handler:
        async def handle(request: Request) -> Served:
            body = await read_limited_body(request, limit)
            if body is None:
                size = int(request.headers.get("content-length") or 0)
                return api_error(
                    HubError("14", f"tối đa {limit} byte", f"at most {limit} bytes"), size
                )
            size = len(body)
            content_type = _content_type(request)
            if content_type not in _JSON_TYPES:
                shown = content_type[:64] or "(không có / none)"
                return api_error(HubError("11", shown, shown), size)
            value, problem, _ = loads(body)
            if problem is not None:
                return api_error(HubError("10", problem.vi, problem.en), size)
            if not isinstance(value, dict):
                return api_error(
                    HubError("12", "cần một đối tượng JSON", "expected a JSON object"), size
                )
            units = await anyio.to_thread.run_sync(units_now)
            wait = await admit(request)
            if wait:
                served = api_error(
                    HubError("43", f"thử lại sau {wait} giây", f"try again in {wait} s"), size
                )
                served.response.headers["Retry-After"] = str(wait)
                served.unit = unit_of(value, kind, units)
                return served
            values, errors = check_submission(kind, value, units, hub.validator)
            if errors:
                return invalid(kind, errors, size)
            try:
                ident = await anyio.to_thread.run_sync(store, kind, values)
            except petitions.PetitionError as refusal:  # the domain refused after all
                return invalid(kind, {name: (vi, en) for name, vi, en in refusal.problems}, size)
            success = ANSWER_CODES["00"]
            answer = {
                "error_code": "00",
                "message": success.vi,
                "message_en": success.en,
                "Id": ident,
                "TrangThai": petitions.PENDING if kind is PETITION else questions.PENDING,
            }
            return Served(api_answer(200, answer), "00", values[kind.unit_field], 1, 1, 0, size)

        return handle

    def route(path: str, handler: Handler, method: str, kind: str = "web") -> Route:
        return Route(path, logged(hub, kind, path, handler), methods=[method])

    return [
        route("/pakn", pakn_list, "GET"),
        route(PETITION.path, show_form(PETITION), "GET"),
        route(PETITION.path, send_form(PETITION), "POST"),
        route("/hoi-dap", hoidap_list, "GET"),
        route(QUESTION.path, show_form(QUESTION), "GET"),
        route(QUESTION.path, send_form(QUESTION), "POST"),
        route(PETITION.api_path, api(PETITION), "POST", "public"),
        route(QUESTION.api_path, api(QUESTION), "POST", "public"),
    ]
