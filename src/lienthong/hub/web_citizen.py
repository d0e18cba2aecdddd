"""Citizens' petitions (phản ánh, kiến nghị, PAKN) and questions (hỏi đáp): public pages and a
public JSON API, no login.

Pages (HTML, no JavaScript; Vietnamese by default, English with ``?lang=en``,
:mod:`lienthong.hub.i18n`):

- ``GET /pakn``: the published petitions, newest first, with a keyword search (``tukhoa``) and
  pages of 10 (``trang``); sender names masked, never a contact detail.
- ``GET /pakn/gui``, ``POST /pakn/gui``: the submission form (``submit_petition``), sent as
  ``multipart/form-data`` with up to ``CITIZEN_MAX_FILES`` documents (``TaiLieuDinhKem``; an
  ``application/x-www-form-urlencoded`` post without documents is taken too); a bad field
  re-renders the form (HTTP 422) with the values kept and the error beside the field (chosen
  files cannot be kept: the citizen is asked to choose them again).
- ``GET /hoi-dap``: the answered questions (citizens', units' and the ministries' Q&A sets),
  with the same search and paging, and a filter on their source (``nguon``).
- ``GET /hoi-dap/gui``, ``POST /hoi-dap/gui``: the question form (``submit_question``).

API (JSON in and out, the hub's answer shape): ``POST /api/cong-dan/pakn`` and
``POST /api/cong-dan/hoi-dap`` take the fields of the forms, by their wire names; a petition's
documents are a list ``TaiLieuDinhKem`` of ``{"TenTep", "LoaiTep", "NoiDung"}`` (the content
base64-encoded), the names ``LayTaiLieuPAKN`` gives them back with.

Both paths run the same checks (:func:`check_submission`): strings only, no control
characters, a length limit per field, the unit among :func:`known_units`, then the domain's
own checks (``check_petition`` / ``check_question``). Forms are protected against cross-site
submission and re-sending by a token of the hub's (:mod:`lienthong.hub.csrf`: signed, single-use,
in a hidden field that must equal a ``SameSite=Strict`` cookie) and by refusing a POST whose
``Sec-Fetch-Site``, ``Origin`` or ``Referer`` names another site. Bodies larger than the hub's
``max_body_bytes`` are refused before they are read, and so are petitions larger than
``PETITION_FORM_MAX_BYTES`` (form) or ``PETITION_API_MAX_BYTES`` (API) when those are smaller.
Documents are checked by :func:`lienthong.hub.petitions.citizen_attachment` (type by the name's
extension, confirmed by the content's structure: :mod:`lienthong.hub.attachments`; size) and
:func:`~lienthong.hub.petitions.check_citizen_files` (how many, their total size).

Every submission that gets past those request checks counts towards the limit per client
address (:mod:`lienthong.hub.limits`), before its fields are checked: over the limit, the API
answers code 43 (HTTP 429, ``Retry-After``) and a form comes back (HTTP 429) with the values
kept and the minutes to wait; nothing is stored. Every request to the lists (``/pakn``,
``/hoi-dap``) counts towards the limit on lookups (:func:`lienthong.hub.web.lookup_wait`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from lienthong.asgi import declared_length, read_limited_body
from lienthong.hub import csrf, i18n, petitions, questions
from lienthong.hub.errors import ANSWER_CODES, SUCCESS, HubError, spell_success
from lienthong.hub.limits import admit_submission, client_key
from lienthong.hub.web import (
    HEADERS,
    Pages,
    Served,
    client_of,
    format_time,
    logged,
    lookup_wait,
    lookups_refused,
    mask_name,
)
from lienthong.spec import Validator
from lienthong.spec.dates import VIETNAM, parse_wire_date
from lienthong.spec.identifiers import (
    WARNING_CODES,
    agency_registry,
    check_dossier_code,
    parse_agency_code,
)
from lienthong.spec.inputs import loads, unstorable_text

if TYPE_CHECKING:
    from lienthong.hub.app import Hub

__all__ = [
    "FIELDS_ROOM_BYTES",
    "MAX_FORM_PARTS",
    "PAGE_SIZE",
    "PETITION",
    "PETITION_API_MAX_BYTES",
    "PETITION_FORM_MAX_BYTES",
    "QUESTION",
    "FormField",
    "FormKind",
    "Unit",
    "Upload",
    "check_submission",
    "check_uploads",
    "citizen_routes",
    "known_units",
]

PAGE_SIZE = 10
MAX_KEYWORD = petitions.MAX_KEYWORD
#: Any other field a citizen may send through the API is limited to this many characters.
DEFAULT_MAX_LENGTH = 500
#: C0 controls other than tab, newline and carriage return, DEL, and lone surrogates: none of
#: them belongs in a petition, and PostgreSQL cannot store NUL in JSON.
_BAD_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
#: Form pages send their origin with a POST (``Origin``) so that it can be checked.
FORM_HEADERS = {**HEADERS, "Referrer-Policy": "same-origin"}
_JSON_TYPES = ("application/json", "text/json")
_FORM_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_TYPE = "multipart/form-data"
#: The most fields, and the most file parts, a form may send (both far above the form's own).
MAX_FORM_PARTS = 50
#: Room in a petition's body beside its documents: the text fields (10 000 characters of text
#: come to under 100 KB, even percent-encoded), the multipart or JSON framing, and a margin, so
#: that documents a little over their limit get their own message rather than a bare 413.
FIELDS_ROOM_BYTES = 2 * petitions.MIB
#: The largest body of the petition form: its documents (10 MiB in all) and the room beside
#: them, 12 MiB. The hub's ``max_body_bytes`` still applies when it is smaller.
PETITION_FORM_MAX_BYTES = petitions.CITIZEN_MAX_TOTAL_BYTES + FIELDS_ROOM_BYTES
#: The largest body of the petition API: base64 makes 4 bytes of every 3 (10 MiB of documents
#: are 13.3 MiB of text), and the room beside them: about 15.3 MiB.
PETITION_API_MAX_BYTES = 4 * math.ceil(petitions.CITIZEN_MAX_TOTAL_BYTES / 3) + FIELDS_ROOM_BYTES
#: The fields of one document of the API's ``TaiLieuDinhKem`` (``LoaiTep`` is optional and only
#: informative: the hub sets the stored type from the name).
_FILE_ITEM_FIELDS = ("TenTep", "LoaiTep", "NoiDung")


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
    accounts act for (``000.00.13.H56``), named after their level-1 agency, except those whose
    level-1 agency is closed today (a merged province's old districts): what is sent there has
    a successor to go to instead (:func:`closed_unit`).
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
            if level1 is not None and not level1.is_open(today):
                continue
            name = f"{code} ({level1.vi})" if level1 is not None else code
            extra.append(Unit(code, name, "other"))
    return units + sorted(extra, key=lambda unit: unit.code)


def closed_unit(code: str, today: dt.date | None = None) -> tuple[str, str] | None:
    """Why a unit whose level-1 agency is closed today cannot be sent to, naming its successor
    when the registry has one (vi, en); None when the unit is not closed."""
    parsed = parse_agency_code(code)
    if parsed is None:
        return None
    registry = agency_registry()
    level1 = registry.level1(parsed.level1)
    today = today or dt.datetime.now(VIETNAM).date()
    if level1 is None or level1.is_open(today) or level1.valid_to is None:
        return None
    since = f"{level1.valid_to:%d/%m/%Y}"
    vi = f"{level1.vi} đã ngừng hoạt động từ ngày {since}"
    en = f"{level1.en} closed on {level1.valid_to.isoformat()}"
    successor = registry.level1(level1.successor) if level1.successor else None
    if successor is not None:
        target = f"000.00.00.{successor.code}"
        vi += f"; vui lòng gửi đến {successor.vi} ({target})"
        en += f"; please send to {successor.en} ({target})"
    return vi, en


# -- forms ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    """The wire name (``TieuDe``), also the form field's name and id."""
    vi: str
    en: str
    kind: str
    """``text``, ``textarea``, ``tel``, ``email``, ``unit`` (a select of :func:`known_units`) or
    ``file`` (documents; not a text value, see :attr:`FormKind.files_field`)."""
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
    submit: Callable[[Session, dict[str, Any], Sequence[petitions.Attachment], Validator], str]
    status_label: str
    status_label_en: str
    files_field: str | None = None
    """The field of the attached documents (``TaiLieuDinhKem``); None: no documents."""
    max_form_bytes: int | None = None
    """The largest form body, below the hub's ``max_body_bytes``; None: that setting alone."""
    max_api_bytes: int | None = None
    """The same for the API."""
    dossier_field: str | None = None
    """The field of a related dossier code, checked in the citizen's words
    (:func:`lienthong.hub.i18n.dossier_code_message`) before the domain's checks."""

    def field(self, name: str) -> FormField | None:
        return next((item for item in self.fields if item.name == name), None)

    @property
    def text_fields(self) -> tuple[FormField, ...]:
        """The fields with a text value (all but the documents)."""
        return tuple(item for item in self.fields if item.kind != "file")


def _submit_petition(
    db: Session,
    values: dict[str, Any],
    files: Sequence[petitions.Attachment],
    validator: Validator,
) -> str:
    return petitions.submit_petition(db, values, files, validator=validator)


def _submit_question(
    db: Session,
    values: dict[str, Any],
    files: Sequence[petitions.Attachment],
    validator: Validator,
) -> str:
    if files:  # the question form and API take no documents: they never get this far
        raise ValueError("a question takes no documents")
    return str(questions.submit_question(db, values, validator=validator))


_CONTACT_HINT = "Cần số điện thoại hoặc thư điện tử để nhận trả lời."
_CONTACT_HINT_EN = "A phone number or an e-mail address is needed for the answer."
_FILES_HINT = (
    f"Tối đa {petitions.CITIZEN_MAX_FILES} tệp, mỗi tệp tối đa "
    f"{petitions.megabytes(petitions.CITIZEN_MAX_FILE_BYTES)}, tổng cộng tối đa "
    f"{petitions.megabytes(petitions.CITIZEN_MAX_TOTAL_BYTES)}; nhận các loại "
    f"{petitions.CITIZEN_FILE_LABELS}."
)
_FILES_HINT_EN = (
    f"Up to {petitions.CITIZEN_MAX_FILES} files, each at most "
    f"{petitions.megabytes(petitions.CITIZEN_MAX_FILE_BYTES, 'en')}, at most "
    f"{petitions.megabytes(petitions.CITIZEN_MAX_TOTAL_BYTES, 'en')} in all; "
    f"{petitions.CITIZEN_FILE_LABELS}."
)
#: Said with every problem of the documents: a browser never re-fills a file input.
_CHOOSE_AGAIN = ("Vui lòng chọn lại tệp.", "Please choose the files again.")

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
            "TaiLieuDinhKem", "Tài liệu đính kèm (nếu có)", "Attached documents (optional)",
            "file", 0, hint=_FILES_HINT, hint_en=_FILES_HINT_EN,
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
    files_field="TaiLieuDinhKem",
    max_form_bytes=PETITION_FORM_MAX_BYTES,
    max_api_bytes=PETITION_API_MAX_BYTES,
    dossier_field="MaHoSo",
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
            errors[kind.unit_field] = closed_unit(unit_code) or (
                "Vui lòng chọn đơn vị trong danh sách",
                "Please choose a unit from the list",
            )
        else:
            values[kind.unit_name_field] = unit.name
    dossier = kind.dossier_field
    if dossier and values.get(dossier) and dossier not in errors:
        problem = check_dossier_code(values[dossier])
        if problem is not None and problem.code not in WARNING_CODES:
            errors[dossier] = i18n.dossier_code_message(problem)
    clean = {name: value for name, value in values.items() if name not in errors}
    for name, vi, en in kind.check(clean, validator):
        errors.setdefault(name, (vi.removeprefix(f"{name}: "), en.removeprefix(f"{name}: ")))
    return values, errors


def _ordered(kind: FormKind, errors: Mapping[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    """The errors as (field, vi, en): the form's fields in order, then the others.

    A document's errors (``TaiLieuDinhKem[1].NoiDung``) stand at their field, in the order found.
    """
    order = [spec.name for spec in kind.fields] + list(kind.allowed)
    rank: dict[str, int] = {}
    for name in order:
        rank.setdefault(name, len(rank))

    def position(name: str) -> tuple[int, str]:
        field = name.split("[", 1)[0]
        return (rank[field], "") if field in rank else (len(rank), name)

    names = sorted(errors, key=position)
    return [(name, *errors[name]) for name in names]


# -- documents --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    """A document a citizen sent: the file name as sent, and the bytes."""

    name: str
    content: bytes


def check_uploads(
    uploads: Sequence[Upload],
) -> tuple[list[petitions.Attachment], tuple[str, str] | None]:
    """(the attachments to store, the error) of a form's documents.

    The error, if any, is one message (vi, en) for the form's file field: every problem, each
    document's with its name, then the request to choose the files again.
    """
    found: list[tuple[str, str]] = list(
        petitions.check_citizen_files([len(upload.content) for upload in uploads])
    )
    attachments: list[petitions.Attachment] = []
    for upload in uploads:
        attachment, problems = petitions.citizen_attachment(upload.name, upload.content)
        shown = petitions.citizen_file_name(upload.name)[:80]
        found += [(f"“{shown}”: {vi}", f"“{shown}”: {en}") for _, vi, en in problems]
        if attachment is not None:
            attachments.append(attachment)
    if not found:
        return attachments, None
    vi = "; ".join(vi for vi, _ in found)
    en = "; ".join(en for _, en in found)
    return attachments, (
        f"{vi[:1].upper()}{vi[1:]}. {_CHOOSE_AGAIN[0]}",
        f"{en[:1].upper()}{en[1:]}. {_CHOOSE_AGAIN[1]}",
    )


def _decoded(text: str) -> bytes | None:
    """Base64 (standard alphabet, padded; line breaks and spaces ignored), or None."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):  # ValueError: a character outside ASCII
        return None


def _api_documents(
    field: str, sent: Any
) -> tuple[list[petitions.Attachment], dict[str, tuple[str, str]]]:
    """(attachments, errors by path) of the API's document list ``sent`` (None: no documents).

    Errors stand at the item's field: ``TaiLieuDinhKem[0].NoiDung`` (not base64, empty, too
    large, not of its type), ``TaiLieuDinhKem[0].TenTep`` (missing, a type not accepted), and at
    ``TaiLieuDinhKem`` for the list (not a list, too many documents, too large in all).
    """
    if sent is None:
        return [], {}
    if not isinstance(sent, list):
        return [], {field: ("phải là một danh sách", "must be a list")}
    errors: dict[str, tuple[str, str]] = {}
    attachments: list[petitions.Attachment] = []
    sizes: list[int] = []  # one per item, 0 for one without content
    for index, item in enumerate(sent):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            errors[where] = ("phải là một đối tượng", "must be an object")
            sizes.append(0)
            continue
        for key in item:
            if key not in _FILE_ITEM_FIELDS:
                errors[f"{where}.{key}"] = ("trường không được phép", "field not allowed")
        name, text, declared = item.get("TenTep"), item.get("NoiDung"), item.get("LoaiTep")
        if name is not None and not isinstance(name, str):
            errors[f"{where}.TenTep"] = ("phải là chuỗi ký tự", "must be a string")
        if declared is not None and not isinstance(declared, str):
            errors[f"{where}.LoaiTep"] = ("phải là chuỗi ký tự", "must be a string")
        content = _decoded(text) if isinstance(text, str) else None
        sizes.append(len(content) if content is not None else 0)
        if text is None:
            errors[f"{where}.NoiDung"] = (
                "cần nội dung tệp (mã hóa base64)",
                "the file's content is needed (base64-encoded)",
            )
        elif content is None:
            errors[f"{where}.NoiDung"] = ("không phải chuỗi base64 hợp lệ", "not valid base64")
        # the name and the content are checked even when the other is bad: every problem at once
        attachment, problems = petitions.citizen_attachment(
            name if isinstance(name, str) else "", content if content is not None else b""
        )
        for part, vi, en in problems:
            errors.setdefault(f"{where}.{part}", (vi, en))
        if attachment is not None:
            attachments.append(attachment)
    whole = petitions.check_citizen_files(sizes)
    if whole:
        errors[field] = ("; ".join(vi for vi, _ in whole), "; ".join(en for _, en in whole))
    return attachments, errors


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
    source_label_en: str
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


# -- reading a form ---------------------------------------------------------------------------------


def _form_types(kind: FormKind) -> tuple[str, ...]:
    """The content types ``kind``'s form is taken in: multipart only where it takes documents."""
    return (_MULTIPART_TYPE, _FORM_TYPE) if kind.files_field else (_FORM_TYPE,)


def _urlencoded(body: bytes) -> dict[str, str] | None:
    """The fields (the first value of each) of an urlencoded body; None when undecodable."""
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_PARTS,
        )
    except (UnicodeDecodeError, ValueError):
        return None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def _multipart(
    headers: Headers, body: bytes, files_field: str
) -> tuple[dict[str, str], list[Upload]] | None:
    """(fields, the documents of ``files_field``) of a multipart body already read whole (so
    the size cap came first); None when it cannot be parsed.

    A file part without a file name is what a browser sends for an empty file input: skipped.
    Parts of another kind than their field's (a file for a text field, text for the documents)
    are ignored.
    """

    async def chunks() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(headers, chunks(), max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS)
    try:
        form = await parser.parse()
    except MultiPartException:
        return None
    try:
        fields: dict[str, str] = {}
        uploads: list[Upload] = []
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, value)
            elif isinstance(value, UploadFile) and name == files_field and value.filename:
                uploads.append(Upload(value.filename, await value.read()))
        return fields, uploads
    finally:
        await form.close()


# -- routes ---------------------------------------------------------------------------------------


Handler = Callable[[Request], Awaitable[Served]]


def citizen_routes(hub: Hub, pages: Pages) -> list[Route]:
    """The PAKN and Q&A pages and the citizens' API of ``hub``, each logged."""
    settings = hub.settings
    tokens = hub.form_tokens
    limit = settings.max_body_bytes
    statuses = hub.validator.catalog.code_lists.get("TrangThaiPAKN")

    def pakn_status(code: str, lang: str = "vi") -> str:
        label = statuses.label(code, lang) if statuses is not None else None
        return label or (f"Mã {code}" if lang == "vi" else f"Code {code}")

    render = pages.render

    def units_now() -> list[Unit]:
        return known_units(hub)

    def unit_names(units: Sequence[Unit]) -> dict[str, str]:
        return {unit.code: unit.name for unit in units}

    # -- lists ----------------------------------------------------------------------------------

    def petition_rows(keyword: str, page: int) -> tuple[list[dict[str, Any]], int, list[Unit]]:
        with hub.sessions() as db:
            rows, total = petitions.public_rows(db, keyword, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        return rows, total, units_now()

    async def pakn_list(request: Request) -> Served:
        wait = await lookup_wait(hub, request)
        if wait:
            return lookups_refused(pages, hub, request, "pakn", wait)
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
                request,
                "pakn_list.html",
                active="pakn",
                keyword=keyword,
                items=items,
                pager=pager("/pakn", {"tukhoa": keyword}, page, total),
            )
        )

    def question_rows(
        keyword: str, source: str | None, page: int
    ) -> tuple[list[dict[str, str]], int, list[Unit]]:
        with hub.sessions() as db:
            rows, total = questions.public_answered(
                db, keyword, source, (page - 1) * PAGE_SIZE, PAGE_SIZE
            )
        return rows, total, units_now()

    async def hoidap_list(request: Request) -> Served:
        wait = await lookup_wait(hub, request)
        if wait:
            return lookups_refused(pages, hub, request, "hoidap", wait)
        keyword, page = _keyword(request), _page_number(request.query_params.get("trang"))
        source_key = request.query_params.get("nguon", "")
        source_key = source_key if source_key in SOURCES else ""
        source = SOURCES[source_key][0] if source_key else None
        rows, total, units = await anyio.to_thread.run_sync(question_rows, keyword, source, page)
        names = unit_names(units)
        items = [
            QuestionView(
                id=row["HOIDAPID"],
                source=row["NGUON"],
                source_label=_SOURCE_LABELS.get(row["NGUON"], ("", ""))[0],
                source_label_en=_SOURCE_LABELS.get(row["NGUON"], ("", ""))[1],
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
            for row in rows
        ]
        return Served(
            render(
                request,
                "hoidap_list.html",
                active="hoidap",
                keyword=keyword,
                source=source_key,
                sources=[(key, vi, en) for key, (_, vi, en) in SOURCES.items()],
                items=items,
                pager=pager("/hoi-dap", {"tukhoa": keyword, "nguon": source_key}, page, total),
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
        files_dropped: int = 0,
    ) -> HTMLResponse:
        """The form with ``token``, a new one when None; ``files_dropped``: how many documents
        the citizen chose and must choose again (the page comes back without them, a browser
        never re-fills a file input)."""
        token = token or tokens.issue()
        groups = [(vi, en, [unit for unit in units if unit.group == key]) for key, vi, en in GROUPS]
        response = render(
            request,
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
            csrf_field=csrf.FIELD,
            files_dropped=files_dropped,
            files_accept=petitions.CITIZEN_FILE_ACCEPT,
        )
        csrf.set_cookie(request, response, token)
        return response

    def kept_token(request: Request) -> Awaitable[str]:
        """The token of a page that answers no checked POST (:meth:`FormTokens.for_page`)."""
        return anyio.to_thread.run_sync(tokens.for_page, csrf.cookie_token(request))

    def show_form(kind: FormKind) -> Handler:
        async def handle(request: Request) -> Served:
            units = await anyio.to_thread.run_sync(units_now)
            return Served(form_page(request, kind, units, token=await kept_token(request)))

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

    def store(kind: FormKind, values: dict[str, str], files: Sequence[petitions.Attachment]) -> str:
        with hub.sessions() as db:
            ident = kind.submit(db, values, files, hub.validator)
            db.commit()
        return ident

    def body_limit(cap: int | None) -> int:
        """The largest body of an endpoint: its own cap, when it has one, within the hub's."""
        return min(limit, cap) if cap is not None else limit

    def send_form(kind: FormKind) -> Handler:
        form_limit = body_limit(kind.max_form_bytes)
        too_large = (
            f"Nội dung gửi quá lớn (tối đa {form_limit} byte).",
            f"The submission is too large (at most {form_limit} bytes).",
        )
        if kind.files_field:  # what the citizen can act on: the size of the documents
            total_vi = petitions.megabytes(petitions.CITIZEN_MAX_TOTAL_BYTES)
            total_en = petitions.megabytes(petitions.CITIZEN_MAX_TOTAL_BYTES, "en")
            too_large = (
                f"{too_large[0]} Tài liệu đính kèm tổng cộng tối đa {total_vi}.",
                f"{too_large[1]} Attached documents may come to {total_en} in all.",
            )
        types = _form_types(kind)

        async def handle(request: Request) -> Served:
            body = await read_limited_body(request, form_limit)
            size = len(body) if body is not None else declared_length(request)
            units = await anyio.to_thread.run_sync(units_now)

            async def refused(status: int, code: str, vi: str, en: str) -> Served:
                """The form again, empty, with the reason. No token was spent: the page keeps
                the browser's while it is good."""
                token = await kept_token(request)
                page = form_page(request, kind, units, status=status, notice=(vi, en), token=token)
                return Served(page, code=code, request_bytes=size, records=1, rejected=1)

            if body is None:
                return await refused(413, "14", *too_large)
            if _cross_site(request):
                return await refused(
                    403, "csrf", "Biểu mẫu phải được gửi từ chính trang này.",
                    "The form must be sent from this site.",
                )  # fmt: skip
            content_type = _content_type(request)
            if content_type not in types:
                return await refused(
                    415, "11", f"Biểu mẫu phải được gửi dạng {' hoặc '.join(types)}.",
                    f"The form must be sent as {' or '.join(types)}.",
                )  # fmt: skip
            uploads: list[Upload] = []
            if content_type == _MULTIPART_TYPE and kind.files_field:
                parsed = await _multipart(request.headers, body, kind.files_field)
                fields = parsed[0] if parsed is not None else None
                uploads = parsed[1] if parsed is not None else []
            else:
                fields = _urlencoded(body)
            if fields is None:
                return await refused(
                    400, "10", "Không đọc được nội dung biểu mẫu.", "The form could not be read."
                )
            # the token is a field like any other, so it is checked alike in both encodings;
            # a token taken here is spent, whatever comes of the fields: every page from here
            # on carries a new one
            sent = fields.pop(csrf.FIELD, "")
            taken = await anyio.to_thread.run_sync(tokens.check, sent, csrf.cookie_token(request))
            if not taken:
                return await refused(
                    403, "csrf",
                    "Phiên gửi biểu mẫu không hợp lệ hoặc đã hết hạn. Vui lòng nhập lại và gửi.",
                    "The form session is invalid or has expired. Please fill the form in again.",
                )  # fmt: skip
            raw = {spec.name: fields.get(spec.name, "") for spec in kind.text_fields}
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
                page = form_page(
                    request, kind, units, status=429, values=raw, notice=notice,
                    files_dropped=len(uploads),
                )  # fmt: skip
                page.headers["Retry-After"] = str(wait)
                return Served(page, "43", unit_of(raw, kind, units), 1, 0, 1, size)
            values, errors = check_submission(kind, raw, units, hub.validator, strict=False)
            attachments, files_error = check_uploads(uploads)
            if kind.files_field and files_error is not None:
                errors[kind.files_field] = files_error
            unit = values.get(kind.unit_field) if kind.unit_field not in errors else None

            def invalid_form(problems: Mapping[str, tuple[str, str]]) -> Served:
                page = form_page(
                    request, kind, units, status=422, values=values, errors=problems,
                    files_dropped=len(uploads),
                )  # fmt: skip
                return Served(page, "15", unit, 1, 0, 1, size)

            if errors:
                return invalid_form(errors)
            try:
                ident = await anyio.to_thread.run_sync(store, kind, values, attachments)
            except petitions.PetitionError as refusal:  # the domain refused after all
                return invalid_form({name: (vi, en) for name, vi, en in refusal.problems})
            status_vi = kind.status_label or pakn_status(petitions.PENDING)
            status_en = kind.status_label_en or pakn_status(petitions.PENDING, "en")
            response = render(
                request,
                "citizen_sent.html",
                headers=FORM_HEADERS,
                active=kind.key,
                kind=kind,
                ident=ident,
                status_label=status_vi,
                status_label_en=status_en,
                unit=values.get(kind.unit_name_field, ""),
                documents=len(attachments),
            )
            csrf.set_cookie(request, response, tokens.issue())  # the next form's token
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
        api_limit = body_limit(kind.max_api_bytes)

        async def handle(request: Request) -> Served:
            body = await read_limited_body(request, api_limit)
            if body is None:
                size = declared_length(request)
                return api_error(
                    HubError("14", f"tối đa {api_limit} byte", f"at most {api_limit} bytes"), size
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
            # a key that cannot be stored (nor echoed as a field's path) names no field; bad
            # values are reported per field by the checks below
            bad_key = unstorable_text(value, keys_only=True)
            if bad_key is not None:
                return api_error(
                    HubError(
                        "12", f"{bad_key}: tên trường không hợp lệ", f"{bad_key}: invalid key"
                    ),
                    size,
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
            attachments: list[petitions.Attachment] = []
            file_errors: dict[str, tuple[str, str]] = {}
            if kind.files_field:  # the documents are checked apart from the text fields
                sent_files = value.pop(kind.files_field, None)
                attachments, file_errors = _api_documents(kind.files_field, sent_files)
            values, errors = check_submission(kind, value, units, hub.validator)
            errors.update(file_errors)
            if errors:
                return invalid(kind, errors, size)
            try:
                ident = await anyio.to_thread.run_sync(store, kind, values, attachments)
            except petitions.PetitionError as refusal:  # the domain refused after all
                return invalid(kind, {name: (vi, en) for name, vi, en in refusal.problems}, size)
            success = ANSWER_CODES[SUCCESS]
            answer = {
                "error_code": SUCCESS,
                "message": success.vi,
                "message_en": success.en,
                "Id": ident,
                "TrangThai": petitions.PENDING if kind is PETITION else questions.PENDING,
            }
            if kind.files_field:  # the number of documents stored, as DanhSachPAKNChoXuLy says it
                answer["SoTaiLieu"] = str(len(attachments))
            spell_success(answer, hub.settings.success_code)
            code = str(answer["error_code"])
            return Served(api_answer(200, answer), code, values[kind.unit_field], 1, 1, 0, size)

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
