"""The unit's monthly dossier statistics (DongBoThongKeHoSo), computed by the agent and sent.

QCVN 120 asks each ministry and province to send its monthly figures to the portal, and to
answer the portal when it asks for the figures of a period. The agent computes them from the
dossiers it has forwarded (``agent_dossiers``, kept by :mod:`lienthong.agent.dossiers`) with the
same function the hub uses on what it received (:func:`lienthong.spec.stats.monthly_stats`), for
a unit and the units under it in the agency-code hierarchy. For the same dossiers both give the
same figures; a gap in the hub's reconciliation (``DoiSoatThongKeHoSo``) then means dossiers that
did not arrive.

- :func:`unit_statistics` / :func:`statistics_range`: the figures of one month, or one row per
  month of a range (one database query for the whole range).
- :class:`StatsSender`: queues one DongBoThongKeHoSo per unit and period into the outbox
  (submitter ``agent-stats``), remembering each in ``agent_state`` (``stats.sent.UNIT.YYYY-MM``)
  in the same transaction, so a period is sent once, also across restarts; ``force`` resends.
- :class:`StatsScheduler`: a small thread that, once last month's send time has passed
  (``stats_send_day`` at ``stats_send_hour``, Vietnam time), sends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.agent.outbox import NewRow, Outbox, record_identity
from lienthong.agent.settings import AgentSettings
from lienthong.spec import Validator
from lienthong.spec.dates import VIETNAM
from lienthong.spec.identifiers import parse_agency_code, parse_dossier_code
from lienthong.spec.stats import month_bounds, monthly_stats
from lienthong.store.tables import AgentDossier, AgentOutbox, utcnow

__all__ = [
    "STATS_SERVICE",
    "STATS_SUBMITTER",
    "Period",
    "SentReport",
    "StatsScheduler",
    "StatsSender",
    "due_period",
    "label",
    "parse_month",
    "periods",
    "statistics_range",
    "unit_statistics",
]

logger = logging.getLogger("lienthong.agent.stats")

STATS_SERVICE = "DongBoThongKeHoSo"
STATS_SUBMITTER = "agent-stats"
#: The longest range ``statistics_range`` answers (months).
MAX_MONTHS = 120

Period = tuple[int, int]
"""(year, month)."""

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def parse_month(text: str) -> Period:
    """``YYYY-MM`` as ``(year, month)``; ValueError when it is not one."""
    found = _MONTH.match(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
        raise ValueError(f"not a month (YYYY-MM): {text[:20]!r}")
    return int(found.group(1)), int(found.group(2))


def label(period: Period) -> str:
    return f"{period[0]:04d}-{period[1]:02d}"


def _next(period: Period) -> Period:
    year, month = period
    return (year + 1, 1) if month == 12 else (year, month + 1)


def periods(first: Period, last: Period) -> list[Period]:
    """Every month from ``first`` to ``last`` included (ValueError when reversed or too long)."""
    if last < first:
        raise ValueError("the range ends before it starts")
    result = [first]
    while result[-1] < last:
        result.append(_next(result[-1]))
        if len(result) > MAX_MONTHS:
            raise ValueError(f"at most {MAX_MONTHS} months at a time")
    return result


def statistics_range(db: Session, unit: str, first: Period, last: Period) -> list[dict[str, str]]:
    """One DongBoThongKeHoSo record per month of ``first``..``last`` for ``unit`` and the units
    under it (the unit of a dossier is read from its code, as the hub does)."""
    target = parse_agency_code(unit)
    if target is None:
        raise ValueError(f"not an agency code: {unit[:40]}")
    months = periods(first, last)
    start = month_bounds(*months[0])[0].astimezone(dt.UTC)
    end = month_bounds(*months[-1])[1].astimezone(dt.UTC)
    # what monthly_stats would skip by date goes in the database (as hub.reports does): received
    # after the range, or processed before it
    rows = db.execute(
        select(AgentDossier.ma_ho_so, AgentDossier.record).where(
            AgentDossier.received_at < end,
            or_(AgentDossier.finished_at.is_(None), AgentDossier.finished_at >= start),
            or_(AgentDossier.returned_at.is_(None), AgentDossier.returned_at >= start),
        )
    )
    records = []
    for code, record in rows:
        parsed = parse_dossier_code(code)
        owner = parse_agency_code(parsed.unit) if parsed is not None else None
        if owner is not None and owner.is_within(target):
            records.append(record)
    return [monthly_stats(records, year, month).to_wire(unit) for year, month in months]


def unit_statistics(db: Session, unit: str, year: int, month: int) -> dict[str, str]:
    """The DongBoThongKeHoSo record of ``unit`` (and the units under it) for one month."""
    return statistics_range(db, unit, (year, month), (year, month))[0]


def due_period(now: dt.datetime, day: int, hour: int) -> Period | None:
    """The month whose statistics are due at ``now``: last month, once ``day`` at ``hour``
    (Vietnam time) of this month has passed; None before that."""
    local = now.astimezone(VIETNAM)
    threshold = local.replace(day=day, hour=hour, minute=0, second=0, microsecond=0)
    if local < threshold:
        return None
    return (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)


@dataclass(frozen=True, slots=True)
class SentReport:
    """One unit's figures for one period: queued (with the outbox id) or skipped (why)."""

    unit: str
    period: str
    outbox_id: int | None
    record: dict[str, str] | None
    skipped: str | None = None


def state_key(unit: str, period: Period) -> str:
    return f"stats.sent.{unit}.{label(period)}"


class StatsSender:
    """Computes and queues the DongBoThongKeHoSo records of the agent's units."""

    def __init__(
        self,
        settings: AgentSettings,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        validator: Validator,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.outbox = outbox
        self.validator = validator

    def figures(self, unit: str, first: Period, last: Period | None = None) -> list[dict[str, str]]:
        with self.sessions() as db:
            return statistics_range(db, unit, first, last or first)

    def send(
        self,
        period: Period,
        units: Sequence[str] | None = None,
        *,
        force: bool = False,
        by: str = STATS_SUBMITTER,
    ) -> list[SentReport]:
        """Queue ``period``'s figures for each unit (default: the agent's ``units``), unless it
        was already queued (``force`` queues it again). Each row is committed together with the
        ``agent_state`` fact that remembers it."""
        reports = []
        for unit in units or self.settings.units:
            key = state_key(unit, period)
            already = self.outbox.state(key)
            if already is not None and not force:
                reports.append(SentReport(unit, label(period), None, None, "already sent"))
                continue
            record = self.figures(unit, period)[0]
            checked = self.validator.validate_record(STATS_SERVICE, record)
            if not checked.ok:  # a bug: the figures are ours; keep the evidence, send nothing
                issues = "; ".join(f"{i.path}: {i.en}" for i in checked.issues if i.is_error)
                raise ValueError(f"statistics of {unit} {label(period)} are invalid: {issues}")
            record_key, order_key = record_identity(STATS_SERVICE, unit, record)
            now = utcnow()
            fact = {
                "at": now.isoformat(timespec="seconds"),
                "by": by,
                "forced": force,
                "record": record,
            }
            row = NewRow(STATS_SERVICE, unit, record, {}, STATS_SUBMITTER, record_key, order_key)
            [outbox_id] = self.outbox.enqueue([row], now, state={key: fact})
            # the outbox id is known only now; it is shown by status views, nothing depends on it
            self.outbox.put_state(key, {**fact, "outbox_id": outbox_id})
            logger.info("statistics of %s for %s queued (row %d)", unit, label(period), outbox_id)
            reports.append(SentReport(unit, label(period), outbox_id, record))
        return reports

    def in_service_during(self, period: Period) -> bool:
        """Whether the agent queued anything before ``period`` ended: a new agent does not send
        all-zero figures for months it never saw (an operator can still force them)."""
        end = month_bounds(*period)[1].astimezone(dt.UTC)
        with self.sessions() as db:
            return (
                db.scalar(select(AgentOutbox.id).where(AgentOutbox.created_at < end).limit(1))
                is not None
            )

    def check(self, now: dt.datetime | None = None) -> list[SentReport]:
        """Send last month's figures if they are due and not sent yet (the scheduler's job)."""
        if not self.settings.stats_auto_send or not self.settings.units:
            return []
        now = now or utcnow()
        period = due_period(now, self.settings.stats_send_day, self.settings.stats_send_hour)
        if period is None:
            return []
        if all(self.outbox.state(state_key(unit, period)) for unit in self.settings.units):
            return []
        if not self.in_service_during(period):
            return []
        return self.send(period)


class StatsScheduler:
    """A daemon thread that calls :meth:`StatsSender.check` every ``interval`` seconds."""

    def __init__(self, sender: StatsSender, interval: float = 60.0) -> None:
        self.sender = sender
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lienthong-agent-stats", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sender.check()
            except Exception:  # the agent's database, or a bug: try again at the next tick
                logger.exception("monthly statistics check failed")
            self._stop.wait(self.interval)
