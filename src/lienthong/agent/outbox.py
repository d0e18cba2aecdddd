"""The durable outbox: every accepted record is a row until the portal has taken it.

- :meth:`Outbox.enqueue` writes the rows of one submission in ONE transaction: "accepted" means
  committed, so a crash after the local API answered never loses a record.
- :func:`plan_batch` picks what to send next (pure, see its docstring for the ordering rule).
- :meth:`Outbox.settle` writes what the portal answered, row by row, in one transaction. Rows
  are marked delivered only after the answer was read (at-least-once; the portal answers
  ``unchanged`` to a re-send, so a crash between send and settle duplicates nothing).
- The dead-letter store: :meth:`dead_letters`, :meth:`replay`, :meth:`drop`, each audited.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, defer, sessionmaker

from lienthong.agent.dossiers import DOSSIER_SERVICE, upsert_dossiers
from lienthong.spec.identifiers import parse_agency_code, parse_dossier_code
from lienthong.store.db import begin_sqlite_write
from lienthong.store.tables import (
    AgentDeadLetterAction,
    AgentDossier,
    AgentOutbox,
    AgentReceipt,
    AgentState,
    utcnow,
)

if TYPE_CHECKING:
    from lienthong.agent.receipts import ReceiptCheck

__all__ = [
    "DOSSIER_SERVICES",
    "PENDING",
    "RECEIPTS_STATE",
    "Batch",
    "NewRow",
    "Outbox",
    "OutboxError",
    "OutboxSummary",
    "RowOutcome",
    "begin_write",
    "plan_batch",
    "record_identity",
]

PENDING, DELIVERED, DEAD, DROPPED = "pending", "delivered", "dead", "dropped"
STATES = (PENDING, DELIVERED, DEAD, DROPPED)

#: Services whose records belong to a dossier: they share one order key per ``MaHoSo``, so a
#: progress step never overtakes its dossier and a dossier's versions arrive in order.
DOSSIER_SERVICES = frozenset({"DongBoHoSoMC", "CapNhatTienDoHoSoMC"})

#: The natural id of a record of the other push services (as the hub keys them).
_KEY_FIELDS: Mapping[str, str] = {
    "DongBoPAKNDiaPhuong": "MaPAKN",
    "DongBoKetQuaXuLyPAKN": "PAKNID",
    "DongBoHoiDap": "HOIDAPID",
    "DongBoKetQuaHoiDapGuiTuDVCQG": "HOIDAPID",
}


def record_identity(
    service: str, unit: str, record: Mapping[str, Any], fallback_key_field: str | None = None
) -> tuple[str | None, str | None]:
    """``(record_key, order_key)`` of a record. Rows with the same order key are delivered in
    submission order; ``None`` (unreadable key) means no ordering constraint."""
    key: str | None
    if service in DOSSIER_SERVICES:
        key = _text(record.get("MaHoSo"))
        return key, (f"hoso:{key}" if key else None)
    if service == "DongBoDanhGia":
        owner = _text(record.get("Madonvi")) or unit
        period = _text(record.get("NgayTongHop"))
        key = f"{owner} {period}" if period else None
    elif service == "DongBoThongKeHoSo":
        owner = _text(record.get("Madonvi")) or unit
        year, month = _text(record.get("Nam")), _text(record.get("Thang"))
        yearly = _text(record.get("LoaiThongKe")) == "2"
        key = f"{owner} {year}" if yearly else (f"{owner} {year}-{month}" if year else None)
    else:
        name = _KEY_FIELDS.get(service, fallback_key_field or "")
        key = _text(record.get(name)) if name else None
    return key, (f"{service}:{key}"[:255] if key else None)


def _text(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
        return str(value)[:200]
    return None


def record_unit(service: str, record: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(field, unit)`` a record belongs to, when it names an agency code (the key must be
    allowed it)."""
    if service in DOSSIER_SERVICES:
        code = record.get("MaHoSo")
        parsed = parse_dossier_code(code) if isinstance(code, str) else None
        return ("MaHoSo", parsed.unit) if parsed is not None else None
    name = {
        "DongBoDanhGia": "Madonvi",
        "DongBoThongKeHoSo": "Madonvi",
        "DongBoPAKNDiaPhuong": "MaDonViXuLy",
        "DongBoKetQuaXuLyPAKN": "MaDonVi",
        "DongBoHoiDap": "MADONVI",
        "DongBoKetQuaHoiDapGuiTuDVCQG": "MADONVI",
    }.get(service)
    value = record.get(name) if name else None
    if not name or not isinstance(value, str) or parse_agency_code(value) is None:
        # no unit, or the sender's own code (OpenCPS's "STP"): the envelope's madonvi, which
        # the key was checked for, is the record's unit, as at the hub
        return None
    return (name, value)


class OutboxError(ValueError):
    """An operation on the outbox that cannot be done (unknown row, wrong state, bad record)."""

    def __init__(self, message: str, issues: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


@dataclass(frozen=True, slots=True)
class NewRow:
    """One record to queue."""

    service: str
    unit: str
    record: dict[str, Any]
    params: dict[str, Any]
    submitter: str
    record_key: str | None
    order_key: str | None


class _Plannable(Protocol):
    """What :func:`plan_batch` reads of a row (an :class:`AgentOutbox`, or a test double)."""

    @property
    def id(self) -> int: ...
    @property
    def service(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def order_key(self) -> str | None: ...
    @property
    def next_attempt_at(self) -> dt.datetime: ...
    @property
    def attempts(self) -> int: ...


#: A row that has failed this many attempts travels alone: if one record makes the portal fail
#: the whole envelope (a 5xx on some content), it stops holding the rest of its batch hostage.
ISOLATE_AFTER_ATTEMPTS = 3

R = TypeVar("R", bound=_Plannable)


@dataclass(frozen=True, slots=True)
class _Slot:
    """The columns of a pending row that :func:`plan_batch` reads."""

    id: int
    service: str
    unit: str
    params: dict[str, Any]
    order_key: str | None
    next_attempt_at: dt.datetime
    attempts: int


def _envelope_key(row: _Plannable) -> tuple[str, str, str]:
    return row.service, row.unit, json.dumps(row.params, sort_keys=True, ensure_ascii=False)


def plan_batch(pending: Sequence[R], limit: int, now: dt.datetime) -> list[R]:
    """The rows to send next, as one envelope: all of one service, unit and parameters.

    ``pending`` is a prefix of the pending rows in ``id`` (submission) order. A row is eligible
    when it is due and no earlier row with its order key is still undelivered, including rows
    of this same batch: at most one row per order key travels at a time, so if the portal
    refuses or loses the first, a later update of the same dossier can never overtake it (an
    older version resent after a newer one would overwrite it). Rows of other dossiers never
    wait for each other, so interleaved services still fill whole batches; the rows of the other
    service go in the next batch. A row that failed ``ISOLATE_AFTER_ATTEMPTS`` times is sent on
    its own, and only when no healthy row is due.
    """
    batch: list[R] = []
    first_alone: R | None = None
    chosen_key: tuple[str, str, str] | None = None
    blocked: set[str] = set()
    for row in pending:
        if len(batch) >= limit:
            break
        order_key = row.order_key
        if order_key is not None and order_key in blocked:
            continue
        if order_key is not None:
            blocked.add(order_key)  # taken or waiting: later rows of this key wait either way
        if row.next_attempt_at > now:
            continue
        if row.attempts >= ISOLATE_AFTER_ATTEMPTS:
            # of the rows that travel alone, the least tried goes first: the one that keeps
            # failing falls behind the others that once shared its envelope
            if first_alone is None or row.attempts < first_alone.attempts:
                first_alone = row
            continue
        if chosen_key is None:
            chosen_key = _envelope_key(row)
        if _envelope_key(row) == chosen_key:
            batch.append(row)
    # healthy rows first, so that a row failing again and again cannot starve them
    return batch if batch or first_alone is None else [first_alone]


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows to send as one envelope."""

    service: str
    unit: str
    params: dict[str, Any]
    rows: list[AgentOutbox]

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.rows]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [row.record for row in self.rows]


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What to write on one row after an attempt."""

    row_id: int
    action: str
    """``delivered``, ``resend_updating``, ``retry`` or ``dead`` (a :class:`RecordAction`)."""
    answer: dict[str, Any] | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None


@dataclass(slots=True)
class OutboxSummary:
    """Counts and ages for a status view."""

    counts: dict[str, int] = field(default_factory=dict)
    oldest_pending_at: dt.datetime | None = None
    max_pending_attempts: int = 0


class Outbox:
    """The outbox tables of one agent database."""

    def __init__(self, sessions: sessionmaker[Session], scan_window: int = 2000) -> None:
        self.sessions = sessions
        self.scan_window = scan_window

    # -- intake ------------------------------------------------------------------------------

    def enqueue(
        self,
        rows: Sequence[NewRow],
        now: dt.datetime | None = None,
        state: Mapping[str, dict[str, Any]] | None = None,
    ) -> list[int]:
        """Queue ``rows`` in one transaction; returns their ids (in order) once committed.

        In the same transaction: the ``DongBoHoSoMC`` records become the current state of their
        dossiers in ``agent_dossiers`` (the input of the agent's statistics, see
        :mod:`lienthong.agent.dossiers`), and the ``state`` facts are written."""
        if not rows:
            return []
        now = now or utcnow()
        values = [
            {
                "service": row.service,
                "unit": row.unit,
                "record_key": row.record_key,
                "order_key": row.order_key,
                "record": row.record,
                "params": row.params,
                "submitter": row.submitter,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for row in rows
        ]
        with self.sessions.begin() as db:
            begin_write(db, serialize_ids=True)
            # one bulk INSERT ... RETURNING (multi-row VALUES), ids in the order of ``rows``
            ids = list(
                db.scalars(
                    insert(AgentOutbox).returning(AgentOutbox.id, sort_by_parameter_order=True),
                    values,
                )
            )
            upsert_dossiers(
                db,
                (
                    (row_id, row.unit, row.record)
                    for row_id, row in zip(ids, rows, strict=True)
                    if row.service == DOSSIER_SERVICE
                ),
                now,
            )
            for key, value in (state or {}).items():
                _put_state(db, key, value, now)
            return ids

    def get(self, row_id: int) -> AgentOutbox | None:
        with self.sessions() as db:
            return db.get(AgentOutbox, row_id)

    # -- delivery ----------------------------------------------------------------------------

    def next_batch(self, limit: int, now: dt.datetime | None = None) -> Batch | None:
        """The next envelope to send (see :func:`plan_batch`), or None when nothing is due."""
        now = now or utcnow()
        window = max(self.scan_window, 4 * limit)
        with self.sessions() as db:
            # the plan reads a few light columns of the window; only the chosen rows are loaded
            # whole (their records), so a backlog costs one small scan per batch
            pending = [
                _Slot(*row)
                for row in db.execute(
                    select(
                        AgentOutbox.id,
                        AgentOutbox.service,
                        AgentOutbox.unit,
                        AgentOutbox.params,
                        AgentOutbox.order_key,
                        AgentOutbox.next_attempt_at,
                        AgentOutbox.attempts,
                    )
                    .where(AgentOutbox.state == PENDING)
                    .order_by(AgentOutbox.id)
                    .limit(window)
                )
            ]
            chosen = [slot.id for slot in plan_batch(pending, limit, now)]
            if not chosen:
                return None
            rows = list(
                db.scalars(
                    select(AgentOutbox)
                    .where(AgentOutbox.id.in_(chosen), AgentOutbox.state == PENDING)
                    .order_by(AgentOutbox.id)
                )
            )
        if not rows:
            return None
        first = rows[0]
        return Batch(first.service, first.unit, dict(first.params), rows)

    def next_due_at(self) -> dt.datetime | None:
        """When the earliest pending row becomes due (None when nothing is pending)."""
        with self.sessions() as db:
            return db.scalar(
                select(func.min(AgentOutbox.next_attempt_at)).where(AgentOutbox.state == PENDING)
            )

    def settle(
        self,
        outcomes: Iterable[RowOutcome],
        now: dt.datetime | None = None,
        state: Mapping[str, dict[str, Any]] | None = None,
        receipt: ReceiptCheck | None = None,
        envelope: tuple[str, str] | None = None,
        evidence: Callable[[Session, int | None], None] | None = None,
    ) -> None:
        """Write the outcome of an attempt on each row (and agent state facts) in one transaction.

        Only rows still pending are touched, so an operator's action in between is never undone.
        ``receipt``: the check of the answer's receipt, for the envelope ``(service, unit)`` of
        these rows: kept (when one came or was due), named by every row, and counted.
        ``evidence``: called last in the transaction with the session and the kept receipt's id,
        to append the envelope's evidence entry: the rows settle with it or not at all.
        """
        now = now or utcnow()
        by_id = {outcome.row_id: outcome for outcome in outcomes}
        with self.sessions.begin() as db:
            begin_write(db)
            receipt_id = None
            if receipt is not None:
                receipt_id = _keep_receipt(db, receipt, envelope or ("", ""), len(by_id), now)
            if by_id:
                rows = db.scalars(
                    select(AgentOutbox)
                    .options(defer(AgentOutbox.record))  # not needed to settle: not loaded
                    .where(AgentOutbox.id.in_(list(by_id)), AgentOutbox.state == PENDING)
                ).all()
                for row in rows:
                    self._apply(row, by_id[row.id], now)
                    if receipt_id is not None:
                        row.receipt_id = receipt_id
            for key, value in (state or {}).items():
                _put_state(db, key, value, now)
            if evidence is not None:
                evidence(db, receipt_id)

    @staticmethod
    def _apply(row: AgentOutbox, outcome: RowOutcome, now: dt.datetime) -> None:
        row.attempts += 1
        row.last_attempt_at = now
        if outcome.answer is not None:
            row.last_answer = outcome.answer
        if outcome.action == "delivered":  # an error here: the answer's receipt was invalid
            row.state, row.delivered_at, row.last_error = DELIVERED, now, outcome.error
        elif outcome.action == "dead":
            row.state, row.last_error = DEAD, outcome.error
        elif outcome.action == "resend_updating":
            # the portal has another version of the dossier: resend as the current state
            row.params = {**row.params, "isUpdating": "True"}
            row.next_attempt_at, row.last_error = now, outcome.error
        else:
            row.next_attempt_at = outcome.retry_at or now
            row.last_error = outcome.error

    def release(self, row_ids: Sequence[int], error: str, retry_at: dt.datetime) -> None:
        """Put rows back for a later attempt without counting one (nothing was sent)."""
        with self.sessions.begin() as db:
            begin_write(db)
            for row in db.scalars(
                select(AgentOutbox).where(
                    AgentOutbox.id.in_(list(row_ids)), AgentOutbox.state == PENDING
                )
            ):
                row.next_attempt_at, row.last_error = retry_at, error

    # -- state and status ----------------------------------------------------------------------

    def put_state(self, key: str, value: dict[str, Any]) -> None:
        with self.sessions.begin() as db:
            _put_state(db, key, value, utcnow())

    def state(self, key: str) -> dict[str, Any] | None:
        with self.sessions() as db:
            row = db.get(AgentState, key)
            return dict(row.value) if row is not None else None

    def summary(self) -> OutboxSummary:
        with self.sessions() as db:
            counts = dict.fromkeys(STATES, 0)
            for state_name, count in db.execute(
                select(AgentOutbox.state, func.count()).group_by(AgentOutbox.state)
            ):
                counts[str(state_name)] = int(count)
            oldest, attempts = db.execute(
                select(func.min(AgentOutbox.created_at), func.max(AgentOutbox.attempts)).where(
                    AgentOutbox.state == PENDING
                )
            ).one()
        return OutboxSummary(counts, oldest, int(attempts or 0))

    # -- dead letters ------------------------------------------------------------------------

    def dead_letters(self, limit: int = 100, service: str | None = None) -> list[AgentOutbox]:
        with self.sessions() as db:
            query = select(AgentOutbox).where(AgentOutbox.state == DEAD)
            if service:
                query = query.where(AgentOutbox.service == service)
            return list(db.scalars(query.order_by(AgentOutbox.id).limit(limit)))

    def actions(self, row_id: int) -> list[AgentDeadLetterAction]:
        with self.sessions() as db:
            return list(
                db.scalars(
                    select(AgentDeadLetterAction)
                    .where(AgentDeadLetterAction.outbox_id == row_id)
                    .order_by(AgentDeadLetterAction.id)
                )
            )

    def replay(
        self,
        row_id: int,
        by: str,
        *,
        record: dict[str, Any] | None = None,
        identity: tuple[str | None, str | None] | None = None,
        note: str | None = None,
    ) -> AgentOutbox:
        """Put a dead row back to pending at its place in the sequence, optionally with a
        corrected ``record`` (already validated by the caller, with its new ``identity``)."""
        with self.sessions.begin() as db:
            row = self._dead_row(db, row_id)
            previous = None
            if record is not None:
                previous, row.record = row.record, record
                if identity is not None:
                    row.record_key, row.order_key = identity
                if row.service == DOSSIER_SERVICE:  # the corrected version replaces this row's
                    db.execute(delete(AgentDossier).where(AgentDossier.outbox_id == row.id))
                    upsert_dossiers(db, [(row.id, row.unit, record)])
            row.state, row.next_attempt_at = PENDING, utcnow()
            db.add(
                AgentDeadLetterAction(
                    outbox_id=row.id,
                    action="replay",
                    by=by[:128],
                    at=utcnow(),
                    note=note,
                    previous_record=previous,
                )
            )
            return row

    def replay_all(self, by: str, service: str | None = None, note: str | None = None) -> list[int]:
        """Replay every dead row (of ``service``); returns their ids."""
        ids = [row.id for row in self.dead_letters(limit=1_000_000, service=service)]
        for row_id in ids:
            self.replay(row_id, by, note=note)
        return ids

    def drop(self, row_id: int, by: str, note: str | None = None) -> AgentOutbox:
        """Give up on a dead row: it is kept (state ``dropped``) but never sent again."""
        with self.sessions.begin() as db:
            row = self._dead_row(db, row_id)
            row.state = DROPPED
            db.add(
                AgentDeadLetterAction(
                    outbox_id=row.id, action="drop", by=by[:128], at=utcnow(), note=note
                )
            )
            return row

    @staticmethod
    def _dead_row(db: Session, row_id: int) -> AgentOutbox:
        row = db.get(AgentOutbox, row_id, with_for_update=True)
        if row is None:
            raise OutboxError(f"no outbox row {row_id}")
        if row.state != DEAD:
            raise OutboxError(f"outbox row {row_id} is {row.state}, not dead")
        return row


def begin_write(db: Session, *, serialize_ids: bool = False) -> None:
    """Start ``db``'s transaction as a writer, for several processes sharing the agent database
    (the agent, and ``lienthong agent backfill`` or the ``dlq`` commands next to it).

    - SQLite (WAL): ``BEGIN IMMEDIATE`` takes the write lock first (waiting up to the busy
      timeout). Without it the driver begins the transaction only at the first write, so the
      reads before it (the rows ``settle`` updates, a state row) would not be part of it: another
      process could change them in between. Threads of one process (the local API taking
      records, the delivery worker settling them) first queue on a lock of their own
      (:func:`lienthong.store.db.begin_sqlite_write`).
    - PostgreSQL, with ``serialize_ids``: a transaction-level advisory lock (per schema) held by
      every transaction that queues rows. Ids come from a sequence when the rows are inserted,
      but become visible when they commit; serialized, the ids of one transaction are all lower
      than those of any transaction committed after it, so the worker, which reads pending rows
      in id order, never sends a later row of a dossier before an earlier one still uncommitted.
    """
    connection = db.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        begin_sqlite_write(connection)
    elif dialect == "postgresql" and serialize_ids:
        connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtext('lienthong.agent_outbox:' || current_schema()))"
        )


#: ``agent_state`` key of the receipt counts (``valid``, ``invalid``, ``missing``,
#: ``last_invalid``).
RECEIPTS_STATE = "delivery.receipts"


def _keep_receipt(
    db: Session, check: ReceiptCheck, envelope: tuple[str, str], rows: int, now: dt.datetime
) -> int | None:
    """Count a receipt check in ``agent_state``; keep it as a receipt row when one came or was
    due (its id, for the rows), in the transaction of the rows it speaks of."""
    receipt_id = None
    if check.kept:
        kept = AgentReceipt(
            at=now,
            service=envelope[0][:64],
            unit=envelope[1][:40],
            rows=rows,
            request_sha256=check.request_sha256,
            receipt=check.receipt,
            signature=check.signature,
            format=check.format,
            status=check.status,
            result=check.result(),
        )
        db.add(kept)
        db.flush()
        receipt_id = kept.id
    found = db.get(AgentState, RECEIPTS_STATE)
    counts = dict(found.value) if found is not None else {}
    counts[check.status] = int(counts.get(check.status, 0)) + 1
    if check.status == "invalid":
        counts["last_invalid"] = {
            "at": now.isoformat(timespec="seconds"),
            "service": envelope[0],
            "madonvi": envelope[1],
            "rows": rows,
            "receipt_id": receipt_id,
            "reason": check.reason,
            "message": check.vi[:500],
            "message_en": check.en[:500],
        }
    _put_state(db, RECEIPTS_STATE, counts, now)
    return receipt_id


def _put_state(db: Session, key: str, value: dict[str, Any], now: dt.datetime) -> None:
    row = db.get(AgentState, key)
    if row is None:
        db.add(AgentState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
