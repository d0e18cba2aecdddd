"""Scheduled pulls: what the portal shares for the agent's units, kept in ``agent_pulled_items``.

Jobs, each with its own interval (``[pulls]`` settings; 0 turns one off):

- ``DanhSachPAKNChoXuLy`` (pending petitions) and ``LayDanhSachHoiDapGuiTuDVCQG`` (questions
  citizens sent on the portal), for each unit, paged with ``trangHienTai`` /
  ``soBanGhiMoiTrang`` until a short page;
- ``LayDanhSachHoiDapBoCoQuan`` (the ministries' Q&A sets), paged the same way;
- the catalog: ``LayDanhSachTTHC``, then ``LayThuTuc`` for up to ``procedure_details`` codes per
  run, round-robin over the list (the cursor is kept in ``agent_state``);
- the category lists ``LayDanhMuc*`` of ``pulls.categories``.

The per-unit lists are stored under their unit. The catalog, the category lists and the
ministry sets are the same for everyone: they are pulled once (for the first unit) and stored
under the unit ``""``.

Each item is stored by its natural id (:data:`ITEM_KEY_FIELDS`; for a category, the list's
code field). A new item, or one whose content changed (``record_hash``), also queues a webhook
notification (``pulled.new`` / ``pulled.changed``) in the same transaction. Every run writes
``agent_state`` ``pull.<service>`` (last success, last error, counts). A failure is recorded and
retried at the next interval; it never stops the thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lienthong.agent.intake import key_field_of
from lienthong.agent.portal import Portal, PortalAnswer, PortalError, open_portal
from lienthong.agent.settings import AgentSettings
from lienthong.spec import Catalog
from lienthong.store.tables import AgentPulledItem, AgentState, AgentWebhookDelivery, utcnow

__all__ = [
    "GLOBAL_UNIT",
    "ITEM_KEY_FIELDS",
    "PAGED_SERVICES",
    "PER_UNIT_SERVICES",
    "PullError",
    "PullResult",
    "PulledStore",
    "Puller",
    "StoreCounts",
    "item_key",
    "record_hash",
]

logger = logging.getLogger("lienthong.agent.pulls")

PAKN, QUESTIONS, QA_SETS = (
    "DanhSachPAKNChoXuLy",
    "LayDanhSachHoiDapGuiTuDVCQG",
    "LayDanhSachHoiDapBoCoQuan",
)
PROCEDURE_LIST, PROCEDURE = "LayDanhSachTTHC", "LayThuTuc"

#: Pulled for each unit, stored under it.
PER_UNIT_SERVICES = frozenset({PAKN, QUESTIONS})
#: Lists that page with ``trangHienTai`` / ``soBanGhiMoiTrang``.
PAGED_SERVICES = frozenset({PAKN, QUESTIONS, QA_SETS})
#: The unit shared lists (catalog, categories, ministry sets) are stored under.
GLOBAL_UNIT = ""

#: The natural id of an item of each service (categories: the list's first required field).
ITEM_KEY_FIELDS: Mapping[str, str] = {
    PAKN: "Id",
    QUESTIONS: "HOIDAPID",
    QA_SETS: "HOIDAPID",
    PROCEDURE_LIST: "MATTHC",
    PROCEDURE: "MATTHC",
}

_STATE_PREFIX = "pull."
_CURSOR_KEY = "pull.LayThuTuc.cursor"


class PullError(Exception):
    """The portal answered a share call with something other than a result list."""


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON (sorted keys)."""
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


def item_key(record: Mapping[str, Any], key_field: str | None) -> str:
    """The item's natural id, or ``sha256:<hash>`` when the record has none."""
    value = record.get(key_field) if key_field else None
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:200]
    return "sha256:" + record_hash(record)[:40]


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


# -- storage -------------------------------------------------------------------------------------


@dataclass(slots=True)
class StoreCounts:
    """What one store call did."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def add(self, other: StoreCounts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged


class PulledStore:
    """``agent_pulled_items`` and the webhook notifications of what is new or changed."""

    def __init__(self, sessions: sessionmaker[Session], *, notify: bool = True) -> None:
        self.sessions = sessions
        self.notify = notify
        """Queue ``pulled.new`` / ``pulled.changed`` webhook deliveries (a webhook is set)."""

    def store(
        self,
        service: str,
        unit: str,
        items: Iterable[tuple[str, dict[str, Any]]],
        now: dt.datetime | None = None,
    ) -> StoreCounts:
        """Insert or update ``(item_key, record)`` items in ONE transaction, with the webhook
        rows of the new and changed ones. A key given twice: the last record wins."""
        latest = dict(items)
        try:
            return self._store(service, unit, latest, now or utcnow())
        except IntegrityError:
            # another process (``lienthong agent pull`` next to the running agent) inserted
            # the same item in between: once more, now that it is there
            return self._store(service, unit, latest, now or utcnow())

    def _store(
        self, service: str, unit: str, latest: dict[str, dict[str, Any]], now: dt.datetime
    ) -> StoreCounts:
        counts = StoreCounts()
        keys = list(latest)
        with self.sessions.begin() as db:
            existing: dict[str, AgentPulledItem] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                for row in db.scalars(
                    select(AgentPulledItem).where(
                        AgentPulledItem.service == service,
                        AgentPulledItem.unit == unit,
                        AgentPulledItem.item_key.in_(chunk),
                    )
                ):
                    existing[row.item_key] = row
            for key, record in latest.items():
                digest = record_hash(record)
                found = existing.get(key)
                if found is None:
                    db.add(
                        AgentPulledItem(
                            service=service,
                            unit=unit,
                            item_key=key,
                            record=record,
                            record_hash=digest,
                            first_seen_at=now,
                            updated_at=now,
                        )
                    )
                    counts.new += 1
                    event = "pulled.new"
                elif found.record_hash != digest:
                    found.record, found.record_hash, found.updated_at = record, digest, now
                    counts.changed += 1
                    event = "pulled.changed"
                else:
                    counts.unchanged += 1
                    continue
                if self.notify:
                    db.add(
                        AgentWebhookDelivery(
                            event=event,
                            payload={
                                "service": service,
                                "unit": unit,
                                "item_key": key,
                                "record": record,
                            },
                            state="pending",
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
        return counts

    def get(self, service: str, unit: str, key: str) -> AgentPulledItem | None:
        with self.sessions() as db:
            return db.scalar(
                select(AgentPulledItem).where(
                    AgentPulledItem.service == service,
                    AgentPulledItem.unit == unit,
                    AgentPulledItem.item_key == key,
                )
            )

    def find(
        self,
        *,
        service: str | None = None,
        units: Sequence[str] | None = None,
        key: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[AgentPulledItem]:
        """Items oldest change first (``updated_at``, then ``id``), filtered."""
        query = select(AgentPulledItem)
        if service:
            query = query.where(AgentPulledItem.service == service)
        if units is not None:
            query = query.where(AgentPulledItem.unit.in_(list(units)))
        if key is not None:
            query = query.where(AgentPulledItem.item_key == key)
        if since is not None:
            query = query.where(AgentPulledItem.updated_at >= since)
        query = query.order_by(AgentPulledItem.updated_at, AgentPulledItem.id).limit(limit)
        with self.sessions() as db:
            return list(db.scalars(query))

    def units(self) -> list[str]:
        """Every unit items are stored under."""
        with self.sessions() as db:
            return [str(unit) for unit in db.scalars(select(AgentPulledItem.unit).distinct())]


# -- pulling -------------------------------------------------------------------------------------


@dataclass(slots=True)
class PullResult:
    """One service pulled for one unit."""

    service: str
    unit: str
    ok: bool
    items: int = 0
    counts: StoreCounts = field(default_factory=StoreCounts)
    error: str | None = None


@dataclass(slots=True)
class _Job:
    name: str
    """The service named in ``pull.<name>`` (the catalog job: ``LayDanhSachTTHC``)."""
    interval: float
    due: float = 0.0


class Puller:
    """Runs the pulls: :meth:`pull_now` at once, or a background thread on the intervals."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: AgentSettings,
        catalog: Catalog,
        portal: Portal | None = None,
        *,
        notify: bool = True,
        on_stored: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.catalog = catalog
        self.store = PulledStore(sessions, notify=notify)
        self._portal = portal
        self._own_portal = False
        self._on_stored = on_stored
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- configuration ------------------------------------------------------------------------

    @property
    def units(self) -> tuple[str, ...]:
        return self.settings.pulls.units or self.settings.units

    def jobs(self) -> list[_Job]:
        """The configured pulls, with their intervals (off ones left out)."""
        pulls = self.settings.pulls
        jobs = [
            _Job(PAKN, pulls.pakn_interval_seconds),
            _Job(QUESTIONS, pulls.questions_interval_seconds),
            _Job(QA_SETS, pulls.qa_sets_interval_seconds),
            _Job(PROCEDURE_LIST, pulls.catalog_interval_seconds),
            *(_Job(name, pulls.categories_interval_seconds) for name in pulls.categories),
        ]
        return [job for job in jobs if job.interval > 0]

    def services(self) -> list[str]:
        """Every service :meth:`pull_now` pulls by default."""
        return [job.name for job in self.jobs()]

    def _portal_client(self) -> Portal:
        if self._portal is None:
            # the CLI (``lienthong agent pull``) with delivery off: a client of our own
            self._portal = open_portal(
                self.settings.portal, timeout=self.settings.request_timeout_seconds
            )
            self._own_portal = True
        return self._portal

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lienthong-agent-pulls", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._own_portal and self._portal is not None:
            self._portal.close()
            self._portal, self._own_portal = None, False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        jobs = self.jobs()
        start = self._clock()
        for job in jobs:
            job.due = start
        while jobs and not self._stop.is_set():
            now = self._clock()
            for job in jobs:
                if job.due > now or self._stop.is_set():
                    continue
                try:
                    self.pull_now([job.name])
                except Exception:  # a bug or the agent's own database: never let the thread die
                    logger.exception("pull of %s failed", job.name)
                job.due = self._clock() + job.interval
            self._stop.wait(max(0.0, min(job.due for job in jobs) - self._clock()))

    # -- pulling -----------------------------------------------------------------------------

    def pull_now(self, services: Sequence[str] | None = None) -> list[PullResult]:
        """Pull ``services`` (default: every configured one) now, for every unit; one result per
        service and unit. Failures are in the results and in ``agent_state``, never raised."""
        names = list(services) if services else self.services()
        results: list[PullResult] = []
        with self._lock:  # the thread and the CLI/tests never pull at the same time
            for name in names:
                results.extend(self._pull_service(name))
        if self._on_stored is not None and any(r.counts.new or r.counts.changed for r in results):
            self._on_stored()
        return results

    def _pull_service(self, service: str) -> list[PullResult]:
        if not self.units:
            result = PullResult(service, GLOBAL_UNIT, False, error="no unit to pull for")
            self._record(service, [result])
            return [result]
        if service in PER_UNIT_SERVICES:
            results = [self._pull_one(service, unit, unit) for unit in self.units]
        elif service == PROCEDURE_LIST:
            results = self._pull_catalog(self.units[0])  # records pull.LayThuTuc itself
        else:
            results = [self._pull_one(service, self.units[0], GLOBAL_UNIT)]
        self._record(service, results[:1] if service == PROCEDURE_LIST else results)
        return results

    def _pull_one(self, service: str, madonvi: str, stored_unit: str) -> PullResult:
        try:
            rows = self._fetch(service, madonvi)
            key_field = ITEM_KEY_FIELDS.get(service) or key_field_of(
                self.catalog.packets.get(service)
            )
            counts = self.store.store(
                service, stored_unit, [(item_key(row, key_field), row) for row in rows]
            )
        except (PortalError, PullError) as exc:
            return PullResult(service, stored_unit, False, error=str(exc)[:500])
        except SQLAlchemyError as exc:  # the agent's own database (busy, unreachable)
            logger.exception("storing %s failed", service)
            return PullResult(service, stored_unit, False, error=f"database: {type(exc).__name__}")
        return PullResult(service, stored_unit, True, len(rows), counts)

    def _pull_catalog(self, madonvi: str) -> list[PullResult]:
        """``LayDanhSachTTHC``, then ``LayThuTuc`` for the next ``procedure_details`` codes."""
        listed = self._pull_one(PROCEDURE_LIST, madonvi, GLOBAL_UNIT)
        limit = self.settings.pulls.procedure_details
        if not listed.ok or limit <= 0:
            return [listed]
        codes = [
            row.item_key
            for row in self.store.find(service=PROCEDURE_LIST, units=[GLOBAL_UNIT], limit=100_000)
        ]
        codes.sort()
        if not codes:
            return [listed]
        cursor = int((self._state(_CURSOR_KEY) or {}).get("next", 0)) % len(codes)
        chosen = (codes[cursor:] + codes[:cursor])[: min(limit, len(codes))]
        detail = PullResult(PROCEDURE, GLOBAL_UNIT, True)
        records: list[tuple[str, dict[str, Any]]] = []
        try:
            for code in chosen:
                rows = self._fetch(PROCEDURE, madonvi, {"maTTHC": code})
                records.extend((item_key(row, "MATTHC"), row) for row in rows)
        except (PortalError, PullError) as exc:
            detail.ok, detail.error = False, str(exc)[:500]
        if records:
            detail.counts = self.store.store(PROCEDURE, GLOBAL_UNIT, records)
            detail.items = len(records)
        if detail.ok:
            self._put_state(_CURSOR_KEY, {"next": (cursor + len(chosen)) % len(codes)})
        self._record(PROCEDURE, [detail])
        return [listed, detail]

    def _fetch(
        self, service: str, madonvi: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every row of a share (all pages of a paged list)."""
        portal = self._portal_client()
        if service not in PAGED_SERVICES:
            return self._rows(service, portal.share(service, madonvi, params))
        size, rows = self.settings.pulls.page_size, []
        previous: list[dict[str, Any]] | None = None
        for page in range(1, self.settings.pulls.max_pages + 1):
            paged = {**(params or {}), "trangHienTai": str(page), "soBanGhiMoiTrang": str(size)}
            batch = self._rows(service, portal.share(service, madonvi, paged))
            if batch == previous:  # a portal that ignores the paging: the same page again
                break
            rows.extend(batch)
            if len(batch) < size or self._stop.is_set():
                break
            previous = batch
        return rows

    @staticmethod
    def _rows(service: str, answer: PortalAnswer) -> list[dict[str, Any]]:
        body = answer.body
        if answer.error_code != "00" or body is None:
            detail = ""
            if body is not None:
                detail = str(body.get("message_en") or body.get("message") or "")[:200]
            raise PullError(
                f"{service}: HTTP {answer.http_status}, error_code {answer.error_code}"
                + (f": {detail}" if detail else "")
            )
        result = body.get("result")
        if not isinstance(result, list):
            raise PullError(f"{service}: the answer has no result list")
        return [row for row in result if isinstance(row, dict)]

    # -- state ---------------------------------------------------------------------------------

    def _state(self, key: str) -> dict[str, Any] | None:
        with self.sessions() as db:
            row = db.get(AgentState, key)
            return dict(row.value) if row is not None else None

    def _put_state(self, key: str, value: dict[str, Any]) -> None:
        now = utcnow()
        with self.sessions.begin() as db:
            row = db.get(AgentState, key)
            if row is None:
                db.add(AgentState(key=key, value=value, updated_at=now))
            else:
                row.value, row.updated_at = value, now

    def _record(self, service: str, results: Sequence[PullResult]) -> None:
        """``pull.<service>``: when it last ran, last succeeded, last failed and why."""
        key = _STATE_PREFIX + service
        at = _iso(utcnow())
        state = self._state(key) or {}
        state["last_at"] = at
        failed = [result for result in results if not result.ok]
        if failed:
            state["last_error"] = "; ".join(
                f"{result.unit or '*'}: {result.error}" for result in failed
            )[:1000]
            state["last_error_at"] = at
            state["failures"] = int(state.get("failures", 0)) + 1
            logger.warning("pull of %s failed: %s", service, state["last_error"])
        else:
            state["last_success_at"] = at
            state["failures"] = 0
        if any(result.ok for result in results):
            state["items"] = sum(result.items for result in results if result.ok)
            state["new"] = sum(result.counts.new for result in results)
            state["changed"] = sum(result.counts.changed for result in results)
        self._put_state(key, state)
