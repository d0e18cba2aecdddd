"""Dossiers: DongBoHoSoMC (current state), CapNhatTienDoHoSoMC (history), TraCuuHoSo (lookup).

The current status (``dossiers.status``, ``status_at``) is that of the latest *claim*: the
stored record (``TrangThaiHoSo``, at :func:`record_time_text`) or any stored step
(``TrangThai``, at ``ThoiDiemXuLy``), by its own time, whatever order the pushes arrive in;
:func:`claim_key` orders them. The record itself is stored exactly as sent.

Each push batch is validated, authorized and persisted in one transaction with bulk statements:
one SELECT for the dossiers the batch names, one INSERT and one UPDATE for all of them. A clean
batch of new dossiers (``isUpdating`` False) is inserted at once, without the SELECT: a dossier
stored already fails the insert, which is undone, and the batch takes the general path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat, tee
from typing import Any, TypeGuard

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lienthong.hub.auth import Principal
from lienthong.hub.errors import HubError
from lienthong.hub.month_stats import record_old_dossiers, record_wire_dossiers
from lienthong.spec.dates import parse_wire_date
from lienthong.spec.identifiers import parse_dossier_code
from lienthong.spec.validate import EnvelopeResult, RecordResult
from lienthong.store.bulk import (
    RawJson,
    in_values,
    insert_columns,
    insert_rows,
    wire_date_column,
)
from lienthong.store.hashing import canonical_json
from lienthong.store.tables import Dossier, DossierEvent


def _wire_date(value: object) -> dt.datetime | None:
    return parse_wire_date(value) if isinstance(value, str) and value else None


def _when(record: dict[str, Any], name: str) -> dt.datetime | None:
    value = record.get(name)
    return parse_wire_date(value) if isinstance(value, str) and value else None


@dataclass(slots=True)
class Outcome:
    """What happened to one record of a push."""

    index: int
    key: str | None
    status: str
    """accepted | updated | unchanged | exists | rejected"""
    code: str = "00"
    issues: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    message_en: str = ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "key": self.key,
            "status": self.status,
            "error_code": self.code,
        }
        if self.issues:
            body["issues"] = self.issues
        if self.message:
            body["message"] = self.message
            body["message_en"] = self.message_en
        return body


def rejected(result: RecordResult) -> Outcome:
    return Outcome(
        result.index,
        result.key,
        "rejected",
        "15",
        [issue.as_dict() for issue in result.issues],
    )


def outside_units(
    index: int, key: str | None, unit: str, what_vi: str = "Mã hồ sơ", what_en: str = "dossier"
) -> Outcome:
    """Code 30 for one record: it belongs to ``unit``, which the account may not act for."""
    return Outcome(
        index,
        key,
        "rejected",
        "30",
        message=f"{what_vi} thuộc đơn vị {unit}, ngoài phạm vi của tài khoản",
        message_en=f"The {what_en} belongs to unit {unit}, outside the account's units",
    )


def _validated_unit(code: str) -> str:
    """The unit of a dossier code that passed validation (``dossier_code.format``): in both
    formats the unit is what precedes the last two ``-`` parts, and holds no ``-`` itself."""
    return code.rsplit("-", 2)[0]


def _dossier_unit(code: str) -> str:
    parsed = parse_dossier_code(code)
    return parsed.unit if parsed is not None else code.rsplit("-", 2)[0]


#: The dates of a DongBoHoSoMC record that say something happened (``NgayHenTra``, a promise,
#: is not one), and those of each of its supplement rounds (``DanhSachHoSoBoSung``).
RECORD_TIME_FIELDS = ("NgayTiepNhan", "NgayKetThucXuLy", "NgayTra")
SUPPLEMENT_TIME_FIELDS = ("NgayBoSung", "NgayTiepNhanBoSung")
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def _is_wire_date_time(value: object) -> TypeGuard[str]:
    return type(value) is str and len(value) == 14 and value.isascii() and value.isdigit()


def record_time_text(
    received: object, finished: object, returned: object, supplements: object
) -> str | None:
    """The own time of a DongBoHoSoMC record's status, as a wire date: the latest of its
    processing dates (:data:`RECORD_TIME_FIELDS`: ``received``, ``finished``, ``returned``,
    and :data:`SUPPLEMENT_TIME_FIELDS` of each round of ``supplements``). A record cannot
    report a date that has not come yet, so it describes the dossier at that moment or later.
    Wire dates of one zone and width compare as text."""
    dates = [received, finished, returned]
    if type(supplements) is list:
        dates += [
            round_.get(name)
            for round_ in supplements
            if type(round_) is dict
            for name in SUPPLEMENT_TIME_FIELDS
        ]
    return max(filter(_is_wire_date_time, dates), default=None)


#: Lines that are each empty or 14 ASCII digits (a wire date-time's shape).
_WIRE_OR_EMPTY_LINES = re.compile(r"(?:[0-9]{14})?(?:\n(?:[0-9]{14})?)*")


def record_time_texts(
    received: Sequence[Any],
    finished: Sequence[Any],
    returned: Sequence[Any],
    supplements: Sequence[Any],
) -> list[str | None]:
    """:func:`record_time_text` of records given as columns, the same result in one C-level
    ``max`` per record when the dates are text (about 2 ms less per 1000 records): the
    latest text is the latest wire date when every winner has a wire date's shape (one
    regular-expression pass). Otherwise, and for records with supplement rounds, one by one."""
    try:
        latest = list(
            map(
                max,
                [value or "" for value in received],
                [value or "" for value in finished],
                [value or "" for value in returned],
            )
        )
        joined = "\n".join(latest)
    except TypeError:  # a value that is not text
        return list(map(record_time_text, received, finished, returned, supplements))
    if joined.count("\n") != len(latest) - 1 or not _WIRE_OR_EMPTY_LINES.fullmatch(joined):
        return list(map(record_time_text, received, finished, returned, supplements))
    texts: list[str | None] = [value or None for value in latest]
    if any(supplements):
        for index, rounds in enumerate(supplements):
            if rounds:
                texts[index] = record_time_text(
                    received[index], finished[index], returned[index], rounds
                )
    return texts


def _status_rank(status: object) -> int:
    text = str(status)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else -1


def claim_key(at: dt.datetime | None, status: object) -> tuple[bool, dt.datetime, int]:
    """The order of status claims: the latest own time wins; a claim without a time never
    overrides one with a time; at equal times the higher ``TrangThaiHoSo`` code wins (the
    codes follow the course of a dossier: 2 received, 4 processing, 9 finished, 10 returned).
    A total order of the claims' content, so the arrival order never matters."""
    return (at is not None, at or _EARLIEST, _status_rank(status))


#: Dossier columns read from the record (the record itself is stored whole).
_SUMMARY_TEXT = {"ma_tthc": "MaTTHC", "status": "TrangThaiHoSo", "record_status": "TrangThaiHoSo"}
_SUMMARY_DATES = {
    "received_at": "NgayTiepNhan",
    "due_at": "NgayHenTra",
    "returned_at": "NgayTra",
    "finished_at": "NgayKetThucXuLy",
}


DateColumn = Callable[[Sequence[Any]], list[Any]]


def _datetimes(values: Sequence[Any]) -> list[dt.datetime | None]:
    return list(map(_wire_date, values))


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """The summary columns of one record, dates as datetimes (see :func:`_summary_columns`)."""
    return {name: value[0] for name, value in _summary_columns([record], _datetimes).items()}


def _summary_columns(
    records: list[dict[str, Any]],
    dates: DateColumn,
    fields: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, list[Any]]:
    """The summary columns of validated records, column by column: text ("" when absent) and
    dates (through ``dates``: datetimes, or SQLite's stored text). ``fields``: the records'
    wire fields as columns when the validator has them (``clean_columns``)."""

    def wire_column(wire: str) -> Sequence[Any]:
        column = fields.get(wire) if fields is not None else None
        return column if column is not None else [record.get(wire) for record in records]

    columns: dict[str, list[Any]] = {
        name: [value or "" for value in wire_column(wire)] for name, wire in _SUMMARY_TEXT.items()
    }
    for name, wire in _SUMMARY_DATES.items():
        columns[name] = dates(wire_column(wire))
    # the time of the record's status (record_time_text), column by column
    received, finished, returned = (wire_column(name) for name in RECORD_TIME_FIELDS)
    columns["status_at"] = dates(
        record_time_texts(received, finished, returned, wire_column("DanhSachHoSoBoSung"))
    )
    return columns


def sync_dossiers(
    db: Session, principal: Principal, unit: str, updating: bool, result: EnvelopeResult
) -> list[Outcome]:
    """DongBoHoSoMC: insert new dossiers; with ``isUpdating`` True, update existing ones.

    ``isUpdating`` False on an existing dossier answers "exists" (code 3): existing clients then
    resend with True. ``isUpdating`` True on a missing dossier inserts it (status ``accepted``):
    the sender's intent, the current state of that dossier, is clear, and refusing would lose it.
    A record identical to the stored one changes nothing (status ``unchanged``).
    """
    columns = result.clean_columns
    if columns is not None and result.records:
        clean = _sync_new_clean_batch(db, principal, unit, updating, result, columns)
        if clean is not None:
            return clean
    outcomes: list[Outcome | None] = [None] * len(result.records)
    candidates: dict[str, tuple[int, dict[str, Any]]] = {}
    permitted: dict[str, bool] = {}  # unit -> may the account act for it (a batch has few)
    duplicates = False
    for position, record_result in enumerate(result.records):
        record = record_result.record
        if record is None or (record_result.issues and not record_result.ok):
            outcomes[position] = rejected(record_result)
            continue
        code = str(record["MaHoSo"])
        owner = _validated_unit(code)
        allowed = permitted.get(owner)
        if allowed is None:
            allowed = permitted[owner] = principal.may_act_for(owner)
        if not allowed:
            outcomes[position] = outside_units(record_result.index, code, owner)
            continue
        duplicates = duplicates or code in candidates
        candidates[code] = (position, record)  # a later copy of the same dossier wins
    existing = _stored(db, list(candidates)) if candidates else {}
    now = dt.datetime.now(dt.UTC)
    new_codes: list[str] = []
    new_records: list[dict[str, Any]] = []
    new_json: list[RawJson] = []
    new_hashes: list[str] = []
    updates: list[dict[str, Any]] = []
    for code, (position, record) in candidates.items():
        index = result.records[position].index
        canonical = canonical_json(record)  # serialized once: hashed, then stored as is
        digest = _sha256_hex(canonical)
        row = existing.get(code)
        if row is None:
            new_codes.append(code)
            new_records.append(record)
            new_json.append(RawJson(canonical))
            new_hashes.append(digest)
            outcomes[position] = Outcome(index, code, "accepted")
        elif row.record_hash == digest:
            outcomes[position] = Outcome(index, code, "unchanged")
        elif not updating:
            outcomes[position] = Outcome(
                index,
                code,
                "exists",
                "3",
                message="Hồ sơ đã tồn tại",
                message_en="The dossier already exists",
            )
        else:
            updates.append(
                {
                    **_summary(record),
                    "record": record,
                    "record_hash": digest,
                    "updated_at": now,
                    "id": row.id,
                }
            )
            outcomes[position] = Outcome(index, code, "updated")
    if new_codes:
        _insert_new(db, unit, now, new_codes, new_records, new_json, new_hashes)
    if updates:
        _settle_statuses(db, updates, existing)
        db.execute(update(Dossier), updates)
        # the monthly statistics: the replaced records' share out, the new records' in
        replaced = {row["id"] for row in updates}
        record_old_dossiers(db, [row for row in existing.values() if row.id in replaced])
        new = [candidates[row.ma_ho_so][1] for row in existing.values() if row.id in replaced]
        _record_month_stats(db, [str(record["MaHoSo"]) for record in new], new)
    if not duplicates:  # every position was answered above
        return [outcome for outcome in outcomes if outcome is not None]
    # duplicates of one dossier inside the batch: every copy gets the answer of the kept one
    final = [outcome for outcome in outcomes if outcome is not None]
    by_code = {o.key: o for o in final}
    for position, record_result in enumerate(result.records):
        if outcomes[position] is None:
            kept = by_code.get(str(record_result.key))
            if kept is None:
                outcomes[position] = Outcome(record_result.index, record_result.key, "unchanged")
            else:
                outcomes[position] = Outcome(
                    record_result.index,
                    kept.key,
                    kept.status,
                    kept.code,
                    list(kept.issues),
                    kept.message,
                    kept.message_en,
                )
    return [outcome for outcome in outcomes if outcome is not None]


def _settle_statuses(
    db: Session, updates: list[dict[str, Any]], existing: Mapping[str, Any]
) -> None:
    """The status of each updated dossier (``updates``: rows with the new record's ``status``
    and ``status_at``): the replaced record is no longer a claim, so the latest of the new
    record and the stored steps. The stored status is the latest of the old claims, steps
    among them: a new record at least as late wins without looking at the steps."""
    stored = {row.id: claim_key(row.status_at, row.status) for row in existing.values()}
    behind = {
        row["id"]: row
        for row in updates
        if claim_key(row["status_at"], row["status"]) < stored[row["id"]]
    }
    if not behind:
        return
    query = select(DossierEvent.dossier_id, DossierEvent.status, DossierEvent.processed_at)
    for event in db.execute(query.where(in_values(db, DossierEvent.dossier_id, list(behind)))):
        row = behind[event.dossier_id]
        if claim_key(event.processed_at, event.status) > claim_key(row["status_at"], row["status"]):
            row["status"], row["status_at"] = event.status, event.processed_at


def _stored(db: Session, codes: list[str]) -> dict[str, Any]:
    """The stored dossiers among ``codes``: code -> row (id, ma_ho_so, record_hash, status,
    status_at, and what the monthly statistics read: record_status and the dates)."""
    query = select(
        Dossier.id,
        Dossier.ma_ho_so,
        Dossier.record_hash,
        Dossier.status,
        Dossier.status_at,
        Dossier.record_status,
        Dossier.received_at,
        Dossier.finished_at,
        Dossier.returned_at,
        Dossier.due_at,
    )
    return {
        row.ma_ho_so: row for row in db.execute(query.where(in_values(db, Dossier.ma_ho_so, codes)))
    }


def _insert_new(
    db: Session,
    unit: str,
    now: dt.datetime,
    codes: Sequence[str],
    records: list[dict[str, Any]],
    canonical: Iterable[RawJson],
    hashes: Iterable[str],
    fields: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    # dates go as text made straight from the wire date (stored by SQLite, parsed by
    # PostgreSQL): no datetime objects for a thousand rows
    dialect = db.get_bind().dialect.name

    def dates(values: Sequence[Any]) -> list[Any]:
        return wire_date_column(values, dialect)

    count = len(codes)
    insert_columns(
        db,
        Dossier,
        {
            "ma_ho_so": codes,
            "unit": [unit] * count,
            **_summary_columns(records, dates, fields),
            "record": canonical,
            "record_hash": hashes,
            "created_at": [now] * count,
            "updated_at": [now] * count,
        },
    )
    _record_month_stats(db, codes, records, fields)


def _record_month_stats(
    db: Session,
    codes: Sequence[str],
    records: list[dict[str, Any]],
    fields: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Add the records' share to the monthly statistics (:mod:`lienthong.hub.month_stats`),
    column by column as the records were stored."""

    def wire_column(wire: str) -> Sequence[Any]:
        column = fields.get(wire) if fields is not None else None
        return column if column is not None else [record.get(wire) for record in records]

    received, finished, returned, due = map(wire_column, _STATS_DATES)
    record_wire_dossiers(db, codes, wire_column("TrangThaiHoSo"), received, finished, returned, due)


#: The wire dates the monthly statistics read, in the order record_wire_dossiers takes them.
_STATS_DATES = ("NgayTiepNhan", "NgayKetThucXuLy", "NgayTra", "NgayHenTra")


def _sync_new_clean_batch(
    db: Session,
    principal: Principal,
    unit: str,
    updating: bool,
    result: EnvelopeResult,
    columns: Mapping[str, Sequence[Any]],
) -> list[Outcome] | None:
    """The usual push, stored without a loop per record: every record clean (the validator's
    ``clean_columns``), every dossier new to the hub, of the account's units, and named once.
    None when the batch is not that, with nothing stored: the general path of
    :func:`sync_dossiers` decides.

    With ``isUpdating`` False the sender says the dossiers are new: they are inserted without
    looking first, and a stored one among them (a resend) fails the insert, which is undone
    to its savepoint. With True they are looked up first, as updates name stored dossiers."""
    codes = columns.get("MaHoSo")
    if codes is None or not _TEXT_ONLY.issuperset(map(type, codes)):
        return None
    distinct = set(codes)
    if len(distinct) != len(codes) or len(codes) != len(result.records):
        return None
    if not all(map(principal.may_act_for, set(map(_validated_unit, distinct)))):
        return None
    records = [record_result.record for record_result in result.records]
    if not _DICT_ONLY.issuperset(map(type, records)):
        return None
    if updating and _stored(db, list(codes)):
        return None
    # each record serialized once, hashed, then stored as is; as the rows are made, so that
    # PostgreSQL parses the first ones meanwhile (insert_columns)
    stored, hashed = tee(map(canonical_json, records))
    savepoint = db.begin_nested()
    try:
        _insert_new(
            db,
            unit,
            dt.datetime.now(dt.UTC),
            codes,
            records,  # type: ignore[arg-type]  # proved dicts just above
            map(RawJson, stored),
            map(_sha256_hex, hashed),
            columns,
        )
    except IntegrityError:  # a dossier of the batch is stored already (the only unique key)
        savepoint.rollback()
        return None
    savepoint.commit()
    return list(map(Outcome, range(len(codes)), codes, repeat("accepted")))


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_TEXT_ONLY = frozenset({str})
_DICT_ONLY = frozenset({dict})


def sync_progress(db: Session, principal: Principal, result: EnvelopeResult) -> list[Outcome]:
    """CapNhatTienDoHoSoMC: append steps to the history of dossiers the hub already has.

    A step for an unknown dossier is rejected (code 40), never stored as an orphan; a step sent
    twice is stored once (status ``unchanged``).
    """
    valid = [(r, r.record) for r in result.records if r.ok and r.record is not None]
    codes = {str(record["MaHoSo"]) for _, record in valid}
    dossiers = (
        {
            row.ma_ho_so: row
            for row in db.execute(
                select(
                    Dossier.id, Dossier.ma_ho_so, Dossier.unit, Dossier.status, Dossier.status_at
                ).where(in_values(db, Dossier.ma_ho_so, list(codes)))
            )
        }
        if codes
        else {}
    )
    ids = [row.id for row in dossiers.values()]
    known_events: set[tuple[int, str]] = set()
    if ids:
        query = select(DossierEvent.dossier_id, DossierEvent.record_hash)
        for event in db.execute(query.where(in_values(db, DossierEvent.dossier_id, ids))):
            known_events.add((event.dossier_id, event.record_hash))
    outcomes: list[Outcome] = []
    rows: list[dict[str, Any]] = []
    # the latest claim per dossier, from the stored one (claim_key): a step sent late, older
    # than the dossier's record or another step, does not set the status
    latest: dict[int, tuple[tuple[bool, dt.datetime, int], dt.datetime | None, str]] = {}
    now = dt.datetime.now(dt.UTC)
    for record_result in result.records:
        if not record_result.ok or record_result.record is None:
            outcomes.append(rejected(record_result))
            continue
        record = record_result.record
        code = str(record["MaHoSo"])
        owner = _validated_unit(code)
        if not principal.may_act_for(owner):  # before existence, so existence does not leak
            outcomes.append(outside_units(record_result.index, code, owner))
            continue
        dossier = dossiers.get(code)
        if dossier is None:
            outcomes.append(
                Outcome(
                    record_result.index,
                    code,
                    "rejected",
                    "40",
                    message="Hồ sơ chưa được đồng bộ (DongBoHoSoMC) nên không cập nhật được tiến độ",
                    message_en="The dossier was never synced (DongBoHoSoMC); its progress cannot be recorded",
                )
            )
            continue
        canonical = canonical_json(record)
        digest = _sha256_hex(canonical)
        if (dossier.id, digest) in known_events:
            outcomes.append(Outcome(record_result.index, code, "unchanged"))
            continue
        known_events.add((dossier.id, digest))
        processed = _when(record, "ThoiDiemXuLy")
        status = str(record.get("TrangThai", ""))
        rows.append(
            {
                "dossier_id": dossier.id,
                "status": status,
                "processed_at": processed,
                "record": RawJson(canonical),
                "record_hash": digest,
                "created_at": now,
            }
        )
        current = latest.get(dossier.id)
        key = claim_key(processed, status)
        if key > (current[0] if current else claim_key(dossier.status_at, dossier.status)):
            latest[dossier.id] = (key, processed, status)
        outcomes.append(Outcome(record_result.index, code, "accepted"))
    insert_rows(db, DossierEvent, rows)
    if latest:
        db.execute(
            update(Dossier),
            [
                {"id": dossier_id, "status": status, "status_at": at, "updated_at": now}
                for dossier_id, (_, at, status) in latest.items()
            ],
        )
    return outcomes


def lookup(db: Session, principal: Principal, code: str) -> list[dict[str, Any]]:
    """TraCuuHoSo: the dossier with its processing history (``QuaTrinhXuLy``), or [] if unknown.

    An empty result means "not synced yet" (existing clients then send isUpdating False). A code
    of another unit is refused (30) whether or not it exists, so existence does not leak.
    """
    owner = _dossier_unit(code)
    if not principal.may_act_for(owner):
        raise HubError(
            "30", f"mã hồ sơ thuộc đơn vị {owner}", f"the dossier code belongs to unit {owner}"
        )
    dossier = db.scalar(select(Dossier).where(Dossier.ma_ho_so == code))
    if dossier is None:
        return []
    events = db.scalars(
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id)
        .order_by(DossierEvent.processed_at, DossierEvent.id)
    ).all()
    return [{**dossier.record, "QuaTrinhXuLy": [event.record for event in events]}]
