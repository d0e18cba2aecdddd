"""Petitions (phản ánh, kiến nghị, PAKN): citizen submissions, the units' answers, the public list.

Workflow (TrangThaiPAKN): a citizen submits a petition through the hub (:func:`submit_petition`,
status ``1`` pending). The unit named to handle it sees it in ``DanhSachPAKNChoXuLy``, fetches
its documents with ``LayTaiLieuPAKN`` and answers it with ``DongBoKetQuaXuLyPAKN``: only a
pending (``1``) or processing (``2``) petition can be answered; it becomes answered (``3``), or
published (``4``) when the answer says ``CongKhai`` True. Published petitions are listed by
``DanhSachPAKNCongKhai``. Petitions a unit handled in its own system arrive with
``DongBoPAKNDiaPhuong`` (source ``local``) and keep the status they were sent with.

A citizen may attach documents to a petition (the hub's public form and API): at most
``CITIZEN_MAX_FILES``, each at most ``CITIZEN_MAX_FILE_BYTES``, ``CITIZEN_MAX_TOTAL_BYTES`` in
all, of the types of ``CITIZEN_FILE_TYPES`` (:func:`citizen_attachment`,
:func:`check_citizen_files`); the unit gets them, base64-encoded, from ``LayTaiLieuPAKN``.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, false, func, insert, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from lienthong.hub import attachments
from lienthong.hub.auth import Principal
from lienthong.hub.dossiers import Outcome, outside_units, rejected
from lienthong.hub.errors import HubError
from lienthong.spec import Validator, load_catalog
from lienthong.spec.dates import format_wire_date, parse_wire_date
from lienthong.spec.identifiers import parse_agency_code
from lienthong.spec.validate import EnvelopeResult
from lienthong.store.hashing import record_hash
from lienthong.store.tables import Petition, PetitionFile

T = TypeVar("T")

LOCAL = "DongBoPAKNDiaPhuong"
PENDING, PROCESSING, ANSWERED, PUBLISHED, REFUSED = "1", "2", "3", "4", "5"
OPEN = (PENDING, PROCESSING)

#: What a citizen may fill in (DongBoPAKNDiaPhuong names); the rest is set by the hub.
CITIZEN_FIELDS = (
    "TieuDe",
    "NoiDungPAKN",
    "Ten",
    "SoDienThoai",
    "Email",
    "DiaChi",
    "LoaiPAKN",
    "MaLinhVuc",
    "TenLinhVuc",
    "MaTTHC",
    "MaHoSo",
    "MaDonViXuLy",
    "TenDonViXuLy",
    "CongKhai",
)
#: The largest document :func:`submit_petition` stores, whoever attaches it.
MAX_FILE_BYTES = 10 * 1024 * 1024

MIB = attachments.MIB
#: What a citizen may attach through the hub's public form and API (:func:`citizen_attachment`,
#: :func:`check_citizen_files`): at most this many documents, each at most
#: ``CITIZEN_MAX_FILE_BYTES``, all together at most ``CITIZEN_MAX_TOTAL_BYTES``.
CITIZEN_MAX_FILES = 5
CITIZEN_MAX_FILE_BYTES = 5 * MIB
CITIZEN_MAX_TOTAL_BYTES = 10 * MIB
#: The longest file name kept (the column ``petition_files.name``).
MAX_FILE_NAME = 255


@cache
def _default_validator() -> Validator:
    return Validator(load_catalog())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _true(value: object) -> bool:
    return str(value).strip().lower() in ("true", "1")


# -- shared helpers of the share services (also used by lienthong.hub.questions) ----------------


def check_params(validator: Validator, envelope: dict[str, Any]) -> None:
    """The share's parameters against the catalog: HubError 15 on the first errors."""
    errors = [
        i for i in validator.validate_envelope(envelope, scan_unicode=False).issues if i.is_error
    ]
    if errors:
        raise HubError(
            "15",
            "; ".join(f"{i.path}: {i.vi}" for i in errors[:5]),
            "; ".join(f"{i.path}: {i.en}" for i in errors[:5]),
        )


def page_of(envelope: dict[str, Any], default_size: int = 10, max_size: int = 500) -> slice:
    """The slice of ``trangHienTai`` (from 1) and ``soBanGhiMoiTrang``; HubError 15 when bad."""

    def number(name: str, default: int) -> int:
        value = envelope.get(name)
        if value in (None, ""):
            return default
        try:
            return int(str(value))
        except ValueError:
            raise HubError("15", name, name) from None

    page, size = number("trangHienTai", 1), number("soBanGhiMoiTrang", default_size)
    if page < 1 or not 1 <= size <= max_size:
        raise HubError(
            "15",
            f"trangHienTai >= 1, 1 <= soBanGhiMoiTrang <= {max_size}",
            f"trangHienTai >= 1, 1 <= soBanGhiMoiTrang <= {max_size}",
        )
    return slice((page - 1) * size, page * size)


def date_window(envelope: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``tuNgay`` / ``denNgay`` (wire dates, checked by :func:`check_params`) as a half-open
    window [start, end). Both bounds are inclusive on the wire; a ``denNgay`` at midnight means
    that whole day."""
    start = parse_wire_date(str(envelope["tuNgay"])) if envelope.get("tuNgay") else None
    end = parse_wire_date(str(envelope["denNgay"])) if envelope.get("denNgay") else None
    if end is not None:
        end += dt.timedelta(days=1) if end.time() == dt.time() else dt.timedelta(seconds=1)
    return start, end


def in_window(
    moment: dt.datetime | None, window: tuple[dt.datetime | None, dt.datetime | None]
) -> bool:
    start, end = window
    if moment is None:
        return start is None and end is None
    return (start is None or moment >= start) and (end is None or moment < end)


def sent_at(record: dict[str, Any], name: str, fallback: dt.datetime) -> dt.datetime:
    """When a petition or question was sent: its wire date ``name``, else when the hub got it."""
    value = record.get(name)
    parsed = parse_wire_date(value) if isinstance(value, str) and value else None
    return parsed or fallback


def within(unit: str, scope: str) -> bool:
    """True when ``unit`` is ``scope`` or lies under it in the agency-code hierarchy."""
    target, parent = parse_agency_code(unit), parse_agency_code(scope)
    return target is not None and parent is not None and target.is_within(parent)


#: Joins the searched fields in a ``search_text`` column, so that a keyword never matches
#: across two fields: a control character no citizen's text carries. A keyword holding it, or
#: a NUL, finds nothing.
SEARCH_SEPARATOR = "\x1f"
#: The longest keyword searched for (the public page's search box takes as many).
MAX_KEYWORD = 200


def search_text(*values: object) -> str:
    """The ``search_text`` of the fields ``values``: each non-empty one casefolded (so that
    ``ĐƯỜNG`` finds ``đường``), joined by :data:`SEARCH_SEPARATOR`."""
    return SEARCH_SEPARATOR.join(str(value).casefold() for value in values if value)


def keyword_match(
    column: InstrumentedAttribute[str | None], keyword: str
) -> ColumnElement[bool] | None:
    """The condition that ``column`` (a ``search_text``) holds ``keyword`` as it is, ``%``
    and ``_`` included, whatever its case; None for an empty keyword (no condition)."""
    needle = keyword.strip().casefold()
    if not needle:
        return None
    if SEARCH_SEPARATOR in needle or "\x00" in needle:  # PostgreSQL text cannot hold a NUL
        return false()
    return column.contains(needle, autoescape=True)


def unit_path(unit: str) -> str | None:
    """The levels of the agency code ``unit`` joined by dots (``000.00.13.H56`` and
    ``H56.13`` are both ``H56.13``), None when it does not parse: a unit lies under a scope
    when its path is the scope's or starts with the scope's and a dot (:func:`within`)."""
    parsed = parse_agency_code(unit)
    return ".".join(parsed.levels) if parsed is not None else None


def under_scope(column: InstrumentedAttribute[str | None], scope: str) -> ColumnElement[bool]:
    """The condition that the ``unit_path`` ``column`` lies under ``scope``, as :func:`within`
    decides it (agency codes are letters, digits and dots: nothing to escape)."""
    path = unit_path(scope)
    if path is None:
        return false()
    return or_(column == path, column.like(f"{path}.%"))


def in_dates(
    column: InstrumentedAttribute[dt.datetime | None],
    window: tuple[dt.datetime | None, dt.datetime | None],
) -> list[ColumnElement[bool]]:
    """The conditions of :func:`in_window` on a ``sent_at`` column."""
    start, end = window
    return [
        *([column >= start] if start is not None else []),
        *([column < end] if end is not None else []),
    ]


def paged(
    db: Session,
    table: type[T],
    conditions: Sequence[ColumnElement[bool]],
    order: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[Sequence[T], int]:
    """(the ``limit`` rows of ``table`` from ``offset`` that meet ``conditions``, in ``order``;
    how many meet them in all), both in the database. A page past the end reads no row (and
    an offset past any row count is never sent, so it cannot overflow)."""
    total = int(db.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)
    if offset >= total:
        return [], total
    query = select(table).where(*conditions).order_by(*order).offset(offset).limit(limit)
    return db.scalars(query).all(), total


def _indexed(unit: str, record: dict[str, Any], created_at: dt.datetime) -> dict[str, Any]:
    """The columns the lists query, derived from a petition's unit and record."""
    return {
        "search_text": search_text(record.get("TieuDe"), record.get("NoiDungPAKN")),
        "unit_path": unit_path(unit),
        "sent_at": sent_at(record, "NgayGuiPAKN", created_at),
    }


def _present(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if value not in (None, "")}


# -- citizen submissions ------------------------------------------------------------------------


class PetitionError(ValueError):
    """A submission the hub refuses; ``problems`` are (field, vi, en)."""

    def __init__(self, problems: Sequence[tuple[str, str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{name}: {en}" for name, _, en in self.problems))


@dataclass(frozen=True, slots=True)
class Attachment:
    """A document attached to a submission: its bytes, or a link."""

    name: str
    content: bytes | None = None
    content_type: str | None = None
    url: str | None = None


def _attachment(item: Attachment | dict[str, Any]) -> Attachment:
    if isinstance(item, Attachment):
        return item
    content = item.get("content")
    return Attachment(
        name=str(item.get("name") or ""),
        content=content if isinstance(content, bytes) else None,
        content_type=item.get("content_type"),
        url=item.get("url"),
    )


# -- citizens' attachments ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileType:
    """A kind of document a citizen may attach: decided by the file name's extension, then
    confirmed by the content (:mod:`lienthong.hub.attachments`), so that a renamed program, a
    web page or a ZIP bomb is refused."""

    label: str
    """What the citizen is told (``PDF``)."""
    extensions: tuple[str, ...]
    content_type: str
    """The MIME type stored and returned by ``LayTaiLieuPAKN`` (``LoaiTep``)."""
    check: attachments.Check
    """None when the content is a file of this type, else why not."""


_ODT = "application/vnd.oasis.opendocument.text"
CITIZEN_FILE_TYPES = (
    FileType("PDF", ("pdf",), "application/pdf", attachments.pdf),
    FileType("JPEG", ("jpg", "jpeg"), "image/jpeg", attachments.jpeg),
    FileType("PNG", ("png",), "image/png", attachments.png),
    FileType("DOC", ("doc",), "application/msword", attachments.ole2),
    FileType(
        "DOCX",
        ("docx",),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        attachments.ooxml(attachments.WORD_MAIN),
    ),
    FileType("XLS", ("xls",), "application/vnd.ms-excel", attachments.ole2),
    FileType(
        "XLSX",
        ("xlsx",),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        attachments.ooxml(attachments.SHEET_MAIN),
    ),
    FileType("ODT", ("odt",), _ODT, attachments.odf(_ODT)),
    FileType("TXT", ("txt",), "text/plain", attachments.text),
)
_BY_EXTENSION = {extension: kind for kind in CITIZEN_FILE_TYPES for extension in kind.extensions}
#: The types in words, for the form's hint and the error messages.
CITIZEN_FILE_LABELS = ", ".join(kind.label for kind in CITIZEN_FILE_TYPES)
#: The form's ``accept`` attribute: lets the browser's file picker offer only these.
CITIZEN_FILE_ACCEPT = ",".join(f".{extension}" for extension in _BY_EXTENSION)
_BAD_NAME_CHARACTERS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def megabytes(size: int, lang: str = "vi") -> str:
    """``size`` bytes in MB (MiB), rounded up to a tenth: ``6,2 MB`` (vi), ``6.2 MB`` (en)."""
    text = f"{math.ceil(size * 10 / MIB) / 10:g}"
    return f"{text.replace('.', ',') if lang == 'vi' else text} MB"


def citizen_file_name(name: str) -> str:
    """The name without any folder (old browsers sent ``C:\\...\\don.pdf``), trimmed."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def citizen_file_type(name: str) -> FileType | None:
    """The accepted type of a file named ``name`` (by its extension), or None."""
    stem, dot, extension = name.rpartition(".")
    return _BY_EXTENSION.get(extension.lower()) if dot and stem else None


def citizen_attachment(
    name: str, content: bytes
) -> tuple[Attachment | None, list[tuple[str, str, str]]]:
    """A document a citizen attached: (the attachment to store, None when refused; problems).

    Problems are (part, vi, en), ``part`` the ``LayTaiLieuPAKN`` field at fault: ``TenTep``
    (no name, a name too long, a type not accepted) or ``NoiDung`` (empty, larger than
    ``CITIZEN_MAX_FILE_BYTES``, content that is not of the type its name says, or a damaged or
    oversized document of that type: :mod:`lienthong.hub.attachments`). The stored
    type (``LoaiTep``) is the accepted type's, whatever the sender claimed.
    """
    name = citizen_file_name(name)
    problems: list[tuple[str, str, str]] = []
    kind = citizen_file_type(name)
    if not name:
        problems.append(("TenTep", "cần tên tệp", "a file name is needed"))
    elif len(name) > MAX_FILE_NAME or _BAD_NAME_CHARACTERS.search(name):
        problems.append(
            (
                "TenTep",
                f"tên tệp dài tối đa {MAX_FILE_NAME} ký tự, không có ký tự điều khiển",
                f"a file name has at most {MAX_FILE_NAME} characters and no control characters",
            )
        )
    elif kind is None:
        problems.append(
            (
                "TenTep",
                f"loại tệp không được nhận (chỉ nhận {CITIZEN_FILE_LABELS})",
                f"file type not accepted (only {CITIZEN_FILE_LABELS})",
            )
        )
    if not content:
        problems.append(("NoiDung", "tệp rỗng", "the file is empty"))
    elif len(content) > CITIZEN_MAX_FILE_BYTES:
        problems.append(
            (
                "NoiDung",
                f"tệp lớn hơn {megabytes(CITIZEN_MAX_FILE_BYTES)} "
                f"(đang có {megabytes(len(content))})",
                f"file larger than {megabytes(CITIZEN_MAX_FILE_BYTES, 'en')} "
                f"(got {megabytes(len(content), 'en')})",
            )
        )
    elif kind is not None and (refusal := kind.check(content, kind.label)) is not None:
        problems.append(("NoiDung", refusal.vi, refusal.en))
    if problems or kind is None:
        return None, problems
    return Attachment(name, content, kind.content_type), []


def check_citizen_files(sizes: Sequence[int]) -> list[tuple[str, str]]:
    """The problems (vi, en) of a citizen's documents taken together, by their ``sizes``: more
    than ``CITIZEN_MAX_FILES``, or more than ``CITIZEN_MAX_TOTAL_BYTES`` in all."""
    problems: list[tuple[str, str]] = []
    if len(sizes) > CITIZEN_MAX_FILES:
        problems.append(
            (
                f"tối đa {CITIZEN_MAX_FILES} tệp (đang có {len(sizes)})",
                f"at most {CITIZEN_MAX_FILES} files (got {len(sizes)})",
            )
        )
    total = sum(sizes)
    if total > CITIZEN_MAX_TOTAL_BYTES:
        problems.append(
            (
                f"tổng dung lượng các tệp tối đa {megabytes(CITIZEN_MAX_TOTAL_BYTES)} "
                f"(đang có {megabytes(total)})",
                f"at most {megabytes(CITIZEN_MAX_TOTAL_BYTES, 'en')} of files in all "
                f"(got {megabytes(total, 'en')})",
            )
        )
    return problems


def check_petition(
    fields: dict[str, Any],
    files: Sequence[Attachment | dict[str, Any]] = (),
    validator: Validator | None = None,
) -> list[tuple[str, str, str]]:
    """Every problem :func:`submit_petition` would refuse ``fields`` for, as (field, vi, en)."""
    return _prepare(fields, files, validator)[2]


def _prepare(
    fields: dict[str, Any],
    files: Sequence[Attachment | dict[str, Any]],
    validator: Validator | None,
) -> tuple[dict[str, Any], list[Attachment], list[tuple[str, str, str]], dt.datetime]:
    """(record, attachments, problems, now) of a submission."""
    validator = validator or _default_validator()
    problems: list[tuple[str, str, str]] = []
    for name in fields:
        if name not in CITIZEN_FIELDS:
            problems.append((name, "trường không được phép", "field not allowed"))
    record: dict[str, Any] = {
        name: str(fields[name]).strip()
        for name in CITIZEN_FIELDS
        if fields.get(name) not in (None, "")
    }
    if not record.get("SoDienThoai") and not record.get("Email"):
        problems.append(
            ("SoDienThoai", "cần số điện thoại hoặc thư điện tử", "a phone or e-mail is needed")
        )
    unit = record.get("MaDonViXuLy", "")
    if unit and parse_agency_code(unit) is None:
        problems.append(("MaDonViXuLy", "không phải mã đơn vị", "not an agency code"))
    now = _now()
    record.update(
        {"MaPAKN": "PAKN-000000", "NgayGuiPAKN": format_wire_date(now), "TrangThai": PENDING}
    )
    result = validator.validate_record(LOCAL, record, 0, "$")
    for issue in result.errors:
        problems.append((issue.path.removeprefix("$[0]."), issue.vi, issue.en))
    attachments = [_attachment(item) for item in files]
    for number, attachment in enumerate(attachments):
        if not attachment.name or (attachment.content is None) == (attachment.url is None):
            problems.append(
                (
                    f"files[{number}]",
                    "cần tên và nội dung hoặc đường dẫn",
                    "needs a name and content or a URL",
                )
            )
        elif attachment.content is not None and len(attachment.content) > MAX_FILE_BYTES:
            problems.append(
                (f"files[{number}]", "tệp quá lớn", f"file larger than {MAX_FILE_BYTES} bytes")
            )
    return record, attachments, problems, now


def submit_petition(
    db: Session,
    fields: dict[str, Any],
    files: Sequence[Attachment | dict[str, Any]] = (),
    validator: Validator | None = None,
) -> str:
    """Store a citizen's petition (status pending) and return its id (``PAKN-000123``).

    ``fields`` uses the DongBoPAKNDiaPhuong names: ``TieuDe``, ``NoiDungPAKN``, ``Ten``, a contact
    (``SoDienThoai`` or ``Email``), ``MaDonViXuLy`` (the unit to handle it), optionally
    ``MaHoSo``, ``DiaChi``, ``LoaiPAKN``, ``MaLinhVuc``, ``MaTTHC``, ``CongKhai``. ``files`` are
    :class:`Attachment` values or dicts ``{name, content, content_type}`` / ``{name, url}``.
    Raises :class:`PetitionError` listing every problem. The caller commits.
    """
    record, attachments, problems, now = _prepare(fields, files, validator)
    if problems:
        raise PetitionError(problems)
    # the public id (PAKN-000123) comes from the row's own id: a unique temporary one until then
    interim_id = f"tmp-{secrets.token_hex(16)}"
    row = Petition(
        pakn_id=interim_id,
        unit=record["MaDonViXuLy"],
        source="portal",
        status=PENDING,
        record=record,
        record_hash="",
        published=False,
        created_at=now,
        updated_at=now,
    )
    db.add(row)
    db.flush()
    pakn_id = f"PAKN-{row.id:06d}"
    record = {**record, "MaPAKN": pakn_id}
    row.pakn_id, row.record, row.record_hash = pakn_id, record, record_hash(record)
    for name, value in _indexed(row.unit, record, now).items():
        setattr(row, name, value)
    for attachment in attachments:
        db.add(
            PetitionFile(
                petition_id=row.id,
                name=attachment.name[:255],
                content_type=(attachment.content_type or None) and attachment.content_type[:128],
                content=attachment.content,
                url=attachment.url,
            )
        )
    db.flush()
    return pakn_id


# -- DongBoPAKNDiaPhuong ------------------------------------------------------------------------


def _refused(index: int, key: str | None, unit: str) -> Outcome:
    return outside_units(index, key, unit, "Phản ánh, kiến nghị", "petition")


def sync_local(db: Session, principal: Principal, result: EnvelopeResult) -> list[Outcome]:
    """DongBoPAKNDiaPhuong: petitions handled in the unit's own system (source ``local``)."""
    outcomes: list[Outcome] = []
    now = _now()
    for record_result in result.records:
        if not record_result.ok or record_result.record is None:
            outcomes.append(rejected(record_result))
            continue
        record = record_result.record
        unit = str(record["MaDonViXuLy"])
        key = f"{unit}-{record['MaPAKN']}"
        if len(key) > 128:  # never cut: two long ids cut alike would overwrite each other
            outcomes.append(
                Outcome(
                    record_result.index,
                    key[:128],
                    "rejected",
                    "15",
                    message="MaDonViXuLy và MaPAKN dài quá 127 ký tự",
                    message_en="MaDonViXuLy and MaPAKN are longer than 127 characters",
                )
            )
            continue
        if not principal.may_act_for(unit):
            outcomes.append(_refused(record_result.index, key, unit))
            continue
        existing = db.execute(
            select(
                Petition.id,
                Petition.source,
                Petition.unit,
                Petition.record_hash,
                Petition.created_at,
            ).where(Petition.pakn_id == key)
        ).first()
        digest = record_hash(record)
        status = str(record["TrangThai"])
        values: dict[str, Any] = {
            "record": record,
            "record_hash": digest,
            "status": status,
            "published": _true(record.get("CongKhai")) or status == PUBLISHED,
            "answer": (
                {
                    name: record[name]
                    for name in ("NoiDungTraLoi", "NgayTraLoi", "NguoiTraLoi", "ChucVuNguoiTraLoi")
                    if name in record
                }
                or None
            ),
            "updated_at": now,
            **_indexed(unit, record, now if existing is None else existing.created_at),
        }
        if existing is None:
            new_id = db.execute(
                insert(Petition).returning(Petition.id),
                [{"pakn_id": key, "unit": unit, "source": "local", "created_at": now, **values}],
            ).scalar_one()
            outcome = "accepted"
        elif existing.record_hash == digest:
            outcomes.append(Outcome(record_result.index, key, "unchanged"))
            continue
        else:
            new_id = existing.id
            db.execute(update(Petition), [{"id": existing.id, **values}])
            db.execute(delete(PetitionFile).where(PetitionFile.petition_id == existing.id))
            outcome = "updated"
        files = [
            {
                "petition_id": new_id,
                "name": str(item.get("TenTep") or "tep")[:255],
                "content_type": (str(item["LoaiTep"])[:128] if item.get("LoaiTep") else None),
                "content": None,
                "url": str(item["DuongDan"])[:1000] if item.get("DuongDan") else None,
            }
            for item in record.get("TaiLieuDinhKem") or []
            if isinstance(item, dict)
        ]
        if files:
            db.execute(insert(PetitionFile), files)
        outcomes.append(Outcome(record_result.index, key, outcome))
    return outcomes


# -- DongBoKetQuaXuLyPAKN -----------------------------------------------------------------------


def _not_found(index: int, key: str) -> Outcome:
    return Outcome(
        index,
        key,
        "rejected",
        "41",
        message=f"Không tìm thấy phản ánh, kiến nghị {key}",
        message_en=f"No petition {key}",
    )


def _step_refused(index: int, key: str, status: str) -> Outcome:
    return Outcome(
        index,
        key,
        "rejected",
        "42",
        message=f"Phản ánh, kiến nghị {key} ở trạng thái {status}: chỉ trả lời được khi "
        "đang chờ xử lý (1) hoặc đang xử lý (2)",
        message_en=f"Petition {key} has status {status}: only a pending (1) or processing (2) "
        "petition can be answered",
    )


def sync_answers(db: Session, principal: Principal, result: EnvelopeResult) -> list[Outcome]:
    """DongBoKetQuaXuLyPAKN: a unit's answers. Pending/processing -> answered (or published)."""
    outcomes: list[Outcome] = []
    now = _now()
    for record_result in result.records:
        if not record_result.ok or record_result.record is None:
            outcomes.append(rejected(record_result))
            continue
        answer = record_result.record
        key = str(answer["PAKNID"])
        row = db.execute(
            select(
                Petition.id,
                Petition.unit,
                Petition.status,
                Petition.answer,
                Petition.record,
                Petition.created_at,
            )
            .where(Petition.pakn_id == key)
            .with_for_update()
        ).first()
        # another unit's petition is answered as an unknown one: its existence is not told
        if row is None or not principal.may_act_for(row.unit):
            outcomes.append(_not_found(record_result.index, key))
            continue
        answering = str(answer["MaDonVi"])
        if not principal.may_act_for(answering):
            outcomes.append(_refused(record_result.index, key, answering))
            continue
        if row.status not in OPEN:
            if row.answer is not None and record_hash(row.answer) == record_hash(answer):
                outcomes.append(Outcome(record_result.index, key, "unchanged"))  # a re-send
            else:
                outcomes.append(_step_refused(record_result.index, key, row.status))
            continue
        publish = _true(answer.get("CongKhai"))
        status = PUBLISHED if publish else ANSWERED
        record = {
            **row.record,
            "TrangThai": status,
            "NoiDungTraLoi": answer["NoiDungTraLoi"],
            "NgayTraLoi": answer["NgayTraLoi"],
            **{
                name: answer[name]
                for name in ("NguoiTraLoi", "ChucVuNguoiTraLoi")
                if answer.get(name) not in (None, "")
            },
        }
        db.execute(
            update(Petition),
            [
                {
                    "id": row.id,
                    "status": status,
                    "answer": answer,
                    "published": publish,
                    "record": record,
                    "record_hash": record_hash(record),
                    "updated_at": now,
                    **_indexed(row.unit, record, row.created_at),
                }
            ],
        )
        outcomes.append(Outcome(record_result.index, key, "updated"))
    return outcomes


# -- shares ---------------------------------------------------------------------------------------


def pending(db: Session, scope: str, envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """DanhSachPAKNChoXuLy: pending and processing petitions of ``scope`` and the units under it."""
    window = page_of(envelope, default_size=100)
    conditions = (
        Petition.status.in_(OPEN),
        under_scope(Petition.unit_path, scope),
        *in_dates(Petition.sent_at, date_window(envelope)),
    )
    petitions, total = paged(
        db, Petition, conditions, [Petition.id], window.start, window.stop - window.start
    )
    counts = _file_counts(db, [p.id for p in petitions])
    rows = []
    for petition in petitions:
        record = petition.record
        rows.append(
            _present(
                {
                    "Id": petition.pakn_id,
                    "TieuDe": record.get("TieuDe"),
                    "NoiDungPAKN": record.get("NoiDungPAKN"),
                    "NgayGuiPAKN": record.get("NgayGuiPAKN"),
                    "Ten": record.get("Ten"),
                    "SoDienThoai": record.get("SoDienThoai"),
                    "Email": record.get("Email"),
                    "DiaChi": record.get("DiaChi"),
                    "LoaiPAKN": record.get("LoaiPAKN"),
                    "MaLinhVuc": record.get("MaLinhVuc"),
                    "TenLinhVuc": record.get("TenLinhVuc"),
                    "MaTTHC": record.get("MaTTHC"),
                    "MaHoSo": record.get("MaHoSo"),
                    "MaDonVi": petition.unit,
                    "TenDonVi": record.get("TenDonViXuLy"),
                    "TrangThai": petition.status,
                    "NgayTiepNhan": format_wire_date(petition.created_at),
                    "SoTaiLieu": str(counts.get(petition.id, 0)),
                    "MaPAKNDiaPhuong": record.get("MaPAKN") if petition.source == "local" else None,
                    "CongKhai": "True" if _true(record.get("CongKhai")) else "False",
                    "TongSo": str(total),
                }
            )
        )
    return rows


def _file_counts(db: Session, ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    if ids:
        for petition_id in db.scalars(
            select(PetitionFile.petition_id).where(PetitionFile.petition_id.in_(ids))
        ):
            counts[petition_id] = counts.get(petition_id, 0) + 1
    return counts


def documents(db: Session, principal: Principal, pakn_id: str) -> list[dict[str, Any]]:
    """LayTaiLieuPAKN: the documents of one petition the account may handle; 41 for an unknown
    petition and for another unit's alike, so that its existence is not told."""
    petition = db.scalar(select(Petition).where(Petition.pakn_id == pakn_id))
    if petition is None or not principal.may_act_for(petition.unit):
        raise HubError("41", pakn_id[:128], pakn_id[:128])
    files = db.scalars(
        select(PetitionFile)
        .where(PetitionFile.petition_id == petition.id)
        .order_by(PetitionFile.id)
    )
    return [
        _present(
            {
                "TenTep": item.name,
                "LoaiTep": item.content_type,
                "NoiDung": base64.b64encode(item.content).decode("ascii")
                if item.content is not None
                else item.url,
                "DuongDan": item.url,
            }
        )
        for item in files
    ]


def public(db: Session, envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """DanhSachPAKNCongKhai: published petitions, newest first, with keyword search and paging;
    HubError 15 for a keyword longer than :data:`MAX_KEYWORD`."""
    window = page_of(envelope, default_size=10)
    keyword = str(envelope.get("keyword") or "").strip()
    if len(keyword) > MAX_KEYWORD:
        raise HubError(
            "15",
            f"keyword: tối đa {MAX_KEYWORD} ký tự",
            f"keyword: at most {MAX_KEYWORD} characters",
        )
    return public_rows(db, keyword, window.start, window.stop - window.start)[0]


def public_rows(
    db: Session, keyword: str, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """(the ``limit`` published petitions from ``offset``, newest first, as
    DanhSachPAKNCongKhai rows; how many match in all). ``keyword`` is searched in ``TieuDe``
    and ``NoiDungPAKN``, case-insensitively (Vietnamese letters included)."""
    conditions: list[ColumnElement[bool]] = [Petition.published.is_(True)]
    match = keyword_match(Petition.search_text, keyword)
    if match is not None:
        conditions.append(match)
    order = [Petition.created_at.desc(), Petition.id.desc()]
    petitions, total = paged(db, Petition, conditions, order, offset, limit)
    rows = []
    for petition in petitions:
        record, answer = petition.record, petition.answer or {}
        rows.append(
            _present(
                {
                    "Id": petition.pakn_id,
                    "Ten": record.get("Ten"),
                    "TieuDe": record.get("TieuDe"),
                    "NoiDungPAKN": record.get("NoiDungPAKN"),
                    "NgayGuiPAKN": record.get("NgayGuiPAKN"),
                    "TrangThai": petition.status,
                    "NoiDungTraLoi": answer.get("NoiDungTraLoi") or record.get("NoiDungTraLoi"),
                    "TongSo": str(total),
                    "MaDonVi": answer.get("MaDonVi") or petition.unit,
                    "TenDonVi": record.get("TenDonViXuLy"),
                    "NgayTraLoi": answer.get("NgayTraLoi") or record.get("NgayTraLoi"),
                    "MaLinhVuc": record.get("MaLinhVuc"),
                    "TenLinhVuc": record.get("TenLinhVuc"),
                }
            )
        )
    return rows, total
