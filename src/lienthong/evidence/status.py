"""What a side's chain looks like now, from a few cheap queries (no row loaded but one): the
figures of ``lienthong evidence status``, the hub's and the agent's ``/metrics``
(:func:`chain_metrics`) and the fail-closed check; and how far its archives
(:mod:`lienthong.evidence.archive`) have come."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lienthong.store.tables import EvidenceArchive, EvidenceBatch, EvidenceEntry, EvidenceHead

__all__ = [
    "ArchiveStatus",
    "SideStatus",
    "archive_status",
    "chain_metrics",
    "last_archive",
    "oldest_unstamped_at",
    "side_status",
]


@dataclass(frozen=True, slots=True)
class SideStatus:
    side: str
    #: The chain's length (its head's ``seq``: the chain is gapless).
    entries: int
    #: Entries no time-stamped batch covers yet.
    unstamped: int
    #: When the oldest of them was written (None: every entry is covered).
    oldest_unstamped_at: dt.datetime | None
    batches: int
    #: The newest batch's time-stamp (``genTime``) and TSA (None: no batch yet).
    last_timestamp_at: dt.datetime | None
    last_tsa_url: str | None

    def oldest_unstamped_age(self, now: dt.datetime) -> float | None:
        """Seconds since the oldest uncovered entry was written."""
        if self.oldest_unstamped_at is None:
            return None
        return max(0.0, (now - self.oldest_unstamped_at).total_seconds())

    def last_timestamp_age(self, now: dt.datetime) -> float | None:
        if self.last_timestamp_at is None:
            return None
        return max(0.0, (now - self.last_timestamp_at).total_seconds())


def oldest_unstamped_at(db: Session, side: str) -> dt.datetime | None:
    """When the side's first entry no batch covers was written (an index answers it)."""
    return db.scalar(
        select(EvidenceEntry.at)
        .where(EvidenceEntry.side == side, EvidenceEntry.batch_id.is_(None))
        .order_by(EvidenceEntry.seq)
        .limit(1)
    )


def side_status(db: Session, side: str) -> SideStatus:
    head = db.scalar(select(EvidenceHead.seq).where(EvidenceHead.side == side)) or 0
    batches, covered = db.execute(
        select(func.count(), func.max(EvidenceBatch.last_seq)).where(EvidenceBatch.side == side)
    ).one()
    last = db.execute(
        select(EvidenceBatch.gen_time, EvidenceBatch.tsa_url)
        .where(EvidenceBatch.side == side)
        .order_by(EvidenceBatch.first_seq.desc())
        .limit(1)
    ).first()
    if covered is None:  # every batch may have been archived (their entries were all stamped)
        archived = last_archive(db, side)
        covered = archived.last_seq if archived is not None else 0
    return SideStatus(
        side=side,
        entries=int(head),
        # batches cover a prefix of the chain: what lies after the last one is uncovered
        unstamped=max(0, int(head) - int(covered or 0)),
        oldest_unstamped_at=oldest_unstamped_at(db, side),
        batches=int(batches),
        last_timestamp_at=last.gen_time if last is not None else None,
        last_tsa_url=last.tsa_url if last is not None else None,
    )


def chain_metrics(
    prefix: str,
    state: SideStatus,
    *,
    now: dt.datetime,
    timestamping: bool,
    fail_closed: bool,
    failures: int,
    tsa_setting: str,
    fail_closed_means: str,
) -> Iterator[Metric]:
    """The Prometheus families of a side's chain, named ``<prefix>_entries`` ...: the hub's
    (``lienthong_evidence``) and the agent's (``lienthong_agent_evidence``) are the same figures.
    ``tsa_setting`` names the setting of the TSA, ``fail_closed_means`` what failing closed
    stops (in the help texts)."""
    oldest = state.oldest_unstamped_age(now)
    stamped = state.last_timestamp_age(now)
    for name, text, value in (
        ("entries", f"Entries of the {state.side}'s evidence chain", state.entries),
        (
            "unstamped_entries",
            "Evidence entries no time-stamped batch covers yet",
            state.unstamped,
        ),
        (
            "unstamped_oldest_age_seconds",
            "Seconds since the oldest entry without a time-stamp was written (-1: none)",
            -1.0 if oldest is None else oldest,
        ),
        (
            "last_timestamp_age_seconds",
            "Seconds since the newest batch's time-stamp (-1: no batch yet)",
            -1.0 if stamped is None else stamped,
        ),
        (
            "timestamping",
            f"1 when a time-stamp authority is configured ({tsa_setting}), else 0",
            1 if timestamping else 0,
        ),
        (
            "fail_closed",
            f"1 while {fail_closed_means} for want of a time-stamp, else 0",
            1 if fail_closed else 0,
        ),
    ):
        yield GaugeMetricFamily(f"{prefix}_{name}", text, value=value)
    yield CounterMetricFamily(
        f"{prefix}_timestamp_failures",
        "Time-stamp requests that failed in this process (the TSA down, slow or wrong)",
        value=failures,
    )


@dataclass(frozen=True, slots=True)
class ArchiveStatus:
    side: str
    #: The last entry archived (0: none).
    archived_last_seq: int
    #: The newest segment's file name and when it was made (None: none yet).
    last_segment: str | None
    last_segment_at: dt.datetime | None
    #: The oldest entry still in the database (None: none).
    oldest_at: dt.datetime | None

    def lag(self, now: dt.datetime, retention: dt.timedelta) -> float:
        """Archive lag: seconds the oldest entry still in the database is past the retention
        (0 when it is not)."""
        if self.oldest_at is None:
            return 0.0
        return max(0.0, (now - retention - self.oldest_at).total_seconds())

    def last_segment_age(self, now: dt.datetime) -> float | None:
        if self.last_segment_at is None:
            return None
        return max(0.0, (now - self.last_segment_at).total_seconds())


def last_archive(db: Session, side: str) -> EvidenceArchive | None:
    """The side's newest archive segment: the database's chain goes on from its last entry."""
    return db.scalars(
        select(EvidenceArchive)
        .where(EvidenceArchive.side == side)
        .order_by(EvidenceArchive.last_seq.desc())
        .limit(1)
    ).first()


def archive_status(db: Session, side: str) -> ArchiveStatus:
    """The last segment of a side and the oldest entry left in the database."""
    last = last_archive(db, side)
    archived = int(last.last_seq) if last is not None else 0
    oldest = db.scalar(
        select(EvidenceEntry.at)
        .where(EvidenceEntry.side == side, EvidenceEntry.seq > archived)
        .order_by(EvidenceEntry.seq)
        .limit(1)
    )
    return ArchiveStatus(
        side,
        archived,
        last.name if last is not None else None,
        last.created_at if last is not None else None,
        oldest,
    )
