"""Questions and answers (hỏi đáp).

Three kinds of rows, by ``source``:

- ``portal``: a question a citizen sent (:func:`submit_question`, status ``1`` pending) to a
  unit. The unit lists its pending questions with ``LayDanhSachHoiDapGuiTuDVCQG`` and answers one
  with ``DongBoKetQuaHoiDapGuiTuDVCQG``: only a pending question can be answered (then ``3``).
  Their ids (``HOIDAPID``) start at :data:`PORTAL_IDS` + 1.
- ``unit``: Q&A a unit compiled and pushed with ``DongBoHoiDap`` (idempotent by ``HOIDAPID``
  and content).
- ``ministry``: Q&A sets compiled by ministries per procedure, listed by
  ``LayDanhSachHoiDapBoCoQuan``; a bundled sample (``hub/data/questions.yaml``) is loaded into
  an empty table.
"""

from __future__ import annotations

import datetime as dt
import secrets
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lienthong.hub.auth import Principal
from lienthong.hub.dossiers import Outcome, outside_units, rejected
from lienthong.hub.petitions import (
    PetitionError,
    date_window,
    in_dates,
    in_window,
    keyword_match,
    page_of,
    paged,
    search_text,
    sent_at,
    under_scope,
    unit_path,
)
from lienthong.spec import Validator, load_catalog
from lienthong.spec.dates import format_wire_date
from lienthong.spec.identifiers import parse_agency_code
from lienthong.spec.validate import EnvelopeResult
from lienthong.store.hashing import record_hash
from lienthong.store.tables import Question

PORTAL, UNIT, MINISTRY = "portal", "unit", "ministry"
PENDING, ANSWERED = "1", "3"
PORTAL_IDS = 1_000_000_000
"""Portal question ids are this plus the row id, apart from the ids units and ministries use."""

LIST = "LayDanhSachHoiDapGuiTuDVCQG"
#: What a citizen may fill in (LayDanhSachHoiDapGuiTuDVCQG names).
CITIZEN_FIELDS = (
    "NOIDUNG",
    "HOVATEN",
    "DIACHI",
    "THUDIENTU",
    "SODIENTHOAI",
    "MADONVI",
    "TENDONVI",
    "MALINHVUC",
    "MATTHCDP",
)
ROW_FIELDS = (
    "HOIDAPID",
    "NOIDUNG",
    "MALINHVUC",
    "MATTHCDP",
    "MADONVI",
    "TENDONVI",
    "HOVATEN",
    "DIACHI",
    "THUDIENTU",
    "SODIENTHOAI",
    "TRANGTHAI",
    "TRALOIID",
    "NOIDUNGTRALOI",
)


@cache
def _default_validator() -> Validator:
    return Validator(load_catalog())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _row(question: Question) -> dict[str, Any]:
    record = {**question.record, "HOIDAPID": str(question.hoidap_id)}
    row = {name: str(record[name]) for name in ROW_FIELDS if record.get(name) not in (None, "")}
    row.setdefault("MADONVI", question.unit)
    row.setdefault("TRANGTHAI", "1")
    if question.answer is not None:
        row["TRALOIID"] = str(question.hoidap_id)
        row["NOIDUNGTRALOI"] = str(question.answer["NOIDUNGTRALOI"])
    return row


def _rows(questions: list[Question], envelope: dict[str, Any]) -> list[dict[str, Any]]:
    window = page_of(envelope, default_size=100)
    return [_row(question) for question in questions[window]]


def answer_text(record: dict[str, Any], answer: dict[str, Any] | None) -> Any:
    """The answer's text: the unit's answer to a portal question, or the record's own."""
    return (answer or {}).get("NOIDUNGTRALOI") or record.get("NOIDUNGTRALOI")


def _search_text(record: dict[str, Any], answer: dict[str, Any] | None) -> str | None:
    """What the public search reads of a question; None while it has no answer text (nothing
    of it is listed)."""
    text = answer_text(record, answer)
    return search_text(record.get("TIEUDE"), record.get("NOIDUNG"), text) if text else None


def _indexed(
    unit: str, record: dict[str, Any], answer: dict[str, Any] | None, created_at: dt.datetime
) -> dict[str, Any]:
    """The columns the lists query, derived from a question's unit, record and answer."""
    return {
        "search_text": _search_text(record, answer),
        "unit_path": unit_path(unit),
        "sent_at": sent_at(record, "NGAYGUI", created_at),
    }


# -- citizen questions ----------------------------------------------------------------------------


def check_question(
    fields: dict[str, Any], validator: Validator | None = None
) -> list[tuple[str, str, str]]:
    """Every problem :func:`submit_question` would refuse ``fields`` for, as (field, vi, en)."""
    return _prepare(fields, validator)[1]


def _prepare(
    fields: dict[str, Any], validator: Validator | None
) -> tuple[dict[str, Any], list[tuple[str, str, str]], dt.datetime]:
    """(record, problems, now) of a citizen's question."""
    validator = validator or _default_validator()
    problems: list[tuple[str, str, str]] = [
        (name, "trường không được phép", "field not allowed")
        for name in fields
        if name not in CITIZEN_FIELDS
    ]
    record: dict[str, Any] = {
        name: str(fields[name]).strip()
        for name in CITIZEN_FIELDS
        if fields.get(name) not in (None, "")
    }
    for name in ("NOIDUNG", "HOVATEN", "MADONVI"):
        if not record.get(name):
            problems.append((name, "bắt buộc", "required"))
    if not record.get("THUDIENTU") and not record.get("SODIENTHOAI"):
        problems.append(
            ("THUDIENTU", "cần thư điện tử hoặc số điện thoại", "an e-mail or phone is needed")
        )
    unit = record.get("MADONVI", "")
    if unit and parse_agency_code(unit) is None:
        problems.append(("MADONVI", "không phải mã đơn vị", "not an agency code"))
    now = _now()
    record.update({"HOIDAPID": "1", "TRANGTHAI": "1", "NGAYGUI": format_wire_date(now)})
    checked = {name: value for name, value in record.items() if name != "NGAYGUI"}
    for issue in validator.validate_record(LIST, checked, 0, "$").errors:
        problems.append((issue.path.removeprefix("$[0]."), issue.vi, issue.en))
    return record, problems, now


def submit_question(db: Session, fields: dict[str, Any], validator: Validator | None = None) -> int:
    """Store a citizen's question to the unit ``MADONVI`` (pending) and return its ``HOIDAPID``.

    Required: ``NOIDUNG``, ``HOVATEN``, ``MADONVI`` and a contact (``THUDIENTU`` or
    ``SODIENTHOAI``). Raises :class:`~lienthong.hub.petitions.PetitionError` with every problem.
    The caller commits.
    """
    record, problems, now = _prepare(fields, validator)
    if problems:
        raise PetitionError(problems)
    unit = record["MADONVI"]
    # HOIDAPID comes from the row's own id: a unique negative one (never a real id) until then
    interim_id = -secrets.randbits(48) - 1
    row = Question(
        hoidap_id=interim_id,
        unit=unit,
        source=PORTAL,
        status=PENDING,
        record=record,
        record_hash="",
        created_at=now,
        updated_at=now,
    )
    db.add(row)
    db.flush()
    hoidap_id = PORTAL_IDS + row.id
    record = {**record, "HOIDAPID": str(hoidap_id)}
    row.hoidap_id, row.record, row.record_hash = hoidap_id, record, record_hash(record)
    for name, value in _indexed(unit, record, None, now).items():
        setattr(row, name, value)
    db.flush()
    return hoidap_id


# -- pushes ---------------------------------------------------------------------------------------


def _unit_named(record: dict[str, Any], fallback: str) -> str:
    """The record's ``MADONVI`` when it is an agency code; a sender's own code (OpenCPS sends
    "STP"), kept as sent in the record with a warning, names no unit: ``fallback`` then."""
    code = record.get("MADONVI")
    if isinstance(code, str) and parse_agency_code(code) is not None:
        return code
    return fallback


def _refused(index: int, key: str | None, unit: str) -> Outcome:
    return outside_units(index, key, unit, "Hỏi đáp", "question")


def _conflict(index: int, key: str, message: str, message_en: str) -> Outcome:
    return Outcome(index, key, "rejected", "42", message=message, message_en=message_en)


def sync_questions(
    db: Session, principal: Principal, unit: str, result: EnvelopeResult
) -> list[Outcome]:
    """DongBoHoiDap: Q&A compiled by a unit; the same HOIDAPID and content again is unchanged."""
    outcomes: list[Outcome] = []
    now = _now()
    for record_result in result.records:
        if not record_result.ok or record_result.record is None:
            outcomes.append(rejected(record_result))
            continue
        record = record_result.record
        key = str(record["HOIDAPID"])
        owner = _unit_named(record, unit)
        if not principal.may_act_for(owner):
            outcomes.append(_refused(record_result.index, key, owner))
            continue
        hoidap_id = int(key)
        if not 0 < hoidap_id < 2**63:
            outcomes.append(
                Outcome(
                    record_result.index,
                    key,
                    "rejected",
                    "15",
                    message="HOIDAPID phải là số nguyên dương 64 bit",
                    message_en="HOIDAPID must be a positive 64-bit integer",
                )
            )
            continue
        # a unit's ids are its own (unique per source and unit): another unit's question with
        # the same HOIDAPID, or a portal question, is neither found nor touched
        existing = db.execute(
            select(Question.id, Question.record_hash, Question.created_at).where(
                Question.source == UNIT, Question.unit == owner, Question.hoidap_id == hoidap_id
            )
        ).first()
        digest = record_hash(record)
        status = ANSWERED if record.get("NOIDUNGTRALOI") else PENDING
        created = now if existing is None else existing.created_at
        values = {
            "record": record,
            "record_hash": digest,
            "status": status,
            "updated_at": now,
            **_indexed(owner, record, None, created),
        }
        if existing is None:
            db.execute(
                insert(Question),
                [
                    {
                        "hoidap_id": hoidap_id,
                        "unit": owner,
                        "source": UNIT,
                        "created_at": now,
                        **values,
                    }
                ],
            )
            outcomes.append(Outcome(record_result.index, key, "accepted"))
        elif existing.record_hash == digest:
            outcomes.append(Outcome(record_result.index, key, "unchanged"))
        else:
            db.execute(update(Question), [{"id": existing.id, **values}])
            outcomes.append(Outcome(record_result.index, key, "updated"))
    return outcomes


def sync_answers(db: Session, principal: Principal, result: EnvelopeResult) -> list[Outcome]:
    """DongBoKetQuaHoiDapGuiTuDVCQG: answers to portal questions; only pending -> answered."""
    outcomes: list[Outcome] = []
    now = _now()
    for record_result in result.records:
        if not record_result.ok or record_result.record is None:
            outcomes.append(rejected(record_result))
            continue
        answer = record_result.record
        key = str(answer["HOIDAPID"])
        row = (
            db.execute(
                select(
                    Question.id, Question.unit, Question.status, Question.answer, Question.record
                )
                .where(Question.hoidap_id == int(key), Question.source == PORTAL)
                .with_for_update()
            ).first()
            if 0 < int(key) < 2**63
            else None
        )
        # another unit's question is answered as an unknown one: its existence is not told
        if row is None or not principal.may_act_for(row.unit):
            outcomes.append(
                Outcome(
                    record_result.index,
                    key,
                    "rejected",
                    "41",
                    message=f"Không tìm thấy câu hỏi {key} gửi từ Cổng DVCQG",
                    message_en=f"No portal question {key}",
                )
            )
            continue
        answering = _unit_named(answer, row.unit)
        if not principal.may_act_for(answering):
            outcomes.append(_refused(record_result.index, key, answering))
            continue
        if row.status != PENDING:
            if row.answer is not None and record_hash(row.answer) == record_hash(answer):
                outcomes.append(Outcome(record_result.index, key, "unchanged"))  # a re-send
            else:
                outcomes.append(
                    _conflict(
                        record_result.index,
                        key,
                        f"Câu hỏi {key} đã được trả lời; chỉ trả lời được câu hỏi đang chờ (1)",
                        f"Question {key} is already answered; only a pending (1) one can be",
                    )
                )
            continue
        db.execute(
            update(Question),
            [
                {
                    "id": row.id,
                    "status": ANSWERED,
                    "answer": answer,
                    "updated_at": now,
                    "search_text": _search_text(row.record, answer),
                }
            ],
        )
        outcomes.append(Outcome(record_result.index, key, "updated"))
    return outcomes


# -- shares ---------------------------------------------------------------------------------------


def pending(db: Session, scope: str, envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """LayDanhSachHoiDapGuiTuDVCQG: pending portal questions of ``scope`` and the units under it."""
    window = page_of(envelope, default_size=100)
    conditions = (
        Question.source == PORTAL,
        Question.status == PENDING,
        under_scope(Question.unit_path, scope),
        *in_dates(Question.sent_at, date_window(envelope)),
    )
    questions, _ = paged(
        db, Question, conditions, [Question.id], window.start, window.stop - window.start
    )
    return [_row(question) for question in questions]


def ministry_sets(db: Session, envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """LayDanhSachHoiDapBoCoQuan: the ministries' Q&A, optionally for one MATTHC / MALINHVUC."""
    procedure = str(envelope.get("MATTHC") or "")
    domain = str(envelope.get("MALINHVUC") or "")
    dates = date_window(envelope)
    questions = [
        question
        for question in db.scalars(
            select(Question).where(Question.source == MINISTRY).order_by(Question.hoidap_id)
        )
        if (not procedure or question.record.get("MATTHCDP") == procedure)
        and (not domain or question.record.get("MALINHVUC") == domain)
        and in_window(sent_at(question.record, "NGAYGUI", question.created_at), dates)
    ]
    return _rows(questions, envelope)


def public_answered(
    db: Session, keyword: str, source: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """(the ``limit`` answered questions from ``offset``, of every kind or of one ``source``,
    for the public Q&A page; how many match in all).

    Newest answer first. ``keyword`` searches the title, the question and the answer
    (case-insensitive, Vietnamese letters included). Rows never carry the asker's contact
    details: ``HOIDAPID``, ``NGUON`` (source), ``TIEUDE``, ``NOIDUNG``, ``HOVATEN``, ``MADONVI``,
    ``TENDONVI``, ``MALINHVUC``, ``MATTHCDP``, ``NGAYGUI``, ``NOIDUNGTRALOI``, ``NGAYTRALOI``.
    """
    # an answered question without an answer text has no search text: it is not listed
    conditions: list[ColumnElement[bool]] = [
        Question.status == ANSWERED,
        Question.search_text.is_not(None),
    ]
    if source:
        conditions.append(Question.source == source)
    match = keyword_match(Question.search_text, keyword)
    if match is not None:
        conditions.append(match)
    order = [Question.updated_at.desc(), Question.id.desc()]
    found, total = paged(db, Question, conditions, order, offset, limit)
    rows: list[dict[str, Any]] = []
    for question in found:
        record, answer = question.record, question.answer or {}
        row = {
            "HOIDAPID": str(question.hoidap_id),
            "NGUON": question.source,
            "TIEUDE": record.get("TIEUDE"),
            "NOIDUNG": record.get("NOIDUNG"),
            "HOVATEN": record.get("HOVATEN"),
            "MADONVI": answer.get("MADONVI") or question.unit,
            "TENDONVI": record.get("TENDONVI"),
            "MALINHVUC": record.get("MALINHVUC") or record.get("MaLinhVuc"),
            "MATTHCDP": record.get("MATTHCDP"),
            "NGAYGUI": record.get("NGAYGUI"),
            "NOIDUNGTRALOI": answer_text(record, answer),
            "NGAYTRALOI": answer.get("NGAYTRALOI") or record.get("NGAYTRALOI"),
        }
        rows.append({name: str(value) for name, value in row.items() if value not in (None, "")})
    return rows, total


# -- bundled ministry sets ------------------------------------------------------------------------


def bundled() -> list[dict[str, Any]]:
    text = resources.files("lienthong.hub").joinpath("data/questions.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return list(data["questions"])


def load_bundled_if_empty(db: Session, validator: Validator) -> int:
    """Load the bundled ministry Q&A when there is none; returns the number of rows stored."""
    if db.scalar(select(func.count()).select_from(Question).where(Question.source == MINISTRY)):
        return 0
    now = _now()
    rows = []
    for item in bundled():
        record = {name: str(value) for name, value in item.items()}
        if not validator.validate_record("LayDanhSachHoiDapBoCoQuan", record).ok:
            continue
        rows.append(
            {
                "hoidap_id": int(record["HOIDAPID"]),
                "unit": record.get("MADONVI", ""),
                "source": MINISTRY,
                "status": ANSWERED if record.get("NOIDUNGTRALOI") else PENDING,
                "record": record,
                "record_hash": record_hash(record),
                "created_at": now,
                "updated_at": now,
                **_indexed(record.get("MADONVI", ""), record, None, now),
            }
        )
    try:
        if rows:
            db.execute(insert(Question), rows)
        db.commit()
    except IntegrityError:  # another worker loaded them first
        db.rollback()
        return 0
    return len(rows)
