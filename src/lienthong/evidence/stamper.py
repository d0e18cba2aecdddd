"""Batch time-stamps of the evidence chain, and failing closed when they cannot be had.

Every ``interval`` seconds the stamper gathers its side's entries no batch covers yet, in
``seq`` order (at most ``batch_max``), computes their Merkle root (RFC 9162) and asks the TSA
for one RFC 3161 time-stamp over it, outside any transaction; then, in one transaction, it
inserts the batch and marks its entries. ``(side, first_seq)`` is unique, so several workers
may stamp at once: the loser discards its token. One TSA call per batch, never per message.

A crash between an entry's commit and its batch leaves the entry uncovered: the next round
covers it. When a TSA is configured and the oldest uncovered entry is older than the fail-closed
window, :meth:`Stamper.fail_closed` says so and the hub refuses pushes (answer code 60) until
stamping recovers (docs/evidence.md, "Failing closed").
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.merkle import merkle_root
from lienthong.evidence.status import oldest_unstamped_at
from lienthong.security.timestamps import Timestamp, TimestampError, request_timestamp
from lienthong.store.db import begin_sqlite_write, insert_ignoring_duplicates
from lienthong.store.tables import EvidenceBatch, EvidenceEntry

__all__ = ["StampedBatch", "Stamper"]

logger = logging.getLogger("lienthong.evidence")

#: The oldest uncovered entry's time is looked up again at most this often (seconds).
OLDEST_CACHE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class StampedBatch:
    id: int
    side: str
    first_seq: int
    last_seq: int
    root: bytes
    gen_time: dt.datetime


class Stamper:
    """Time-stamps a side's chain in batches; a daemon thread once :meth:`start` ed."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        side: str = "hub",
        tsa_url: str = "",
        interval: float = 5.0,
        batch_max: int = 50_000,
        timeout: float = 10.0,
        fail_closed_after: dt.timedelta | None = dt.timedelta(hours=4),
    ) -> None:
        self.sessions = sessions
        self.side = side
        self.tsa_url = tsa_url
        self.interval = interval
        self.batch_max = max(1, batch_max)
        self.timeout = timeout
        self.fail_closed_after = fail_closed_after
        #: TSA calls that failed in this process (``lienthong_evidence_timestamp_failures_total``).
        self.failures = 0
        self.last_error: TimestampError | None = None
        self._oldest: dt.datetime | None = None
        self._oldest_checked = -OLDEST_CACHE_SECONDS
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """Whether a TSA is configured (else nothing is stamped and nothing fails closed)."""
        return bool(self.tsa_url)

    # -- one round ---------------------------------------------------------------------------

    def pending(self) -> list[tuple[int, str]]:
        """The side's oldest run of consecutive entries no batch covers, as ``(seq, digest)``
        (at most ``batch_max``; a batch stops before any gap)."""
        with self.sessions() as db:
            rows = [
                (int(seq), str(digest))
                for seq, digest in db.execute(
                    select(EvidenceEntry.seq, EvidenceEntry.digest)
                    .where(EvidenceEntry.side == self.side, EvidenceEntry.batch_id.is_(None))
                    .order_by(EvidenceEntry.seq)
                    .limit(self.batch_max)
                )
            ]
        count = next(
            (i for i in range(1, len(rows)) if rows[i][0] != rows[i - 1][0] + 1), len(rows)
        )
        return rows[:count]

    def stamp_once(self) -> StampedBatch | None:
        """Stamp the side's oldest uncovered entries (one batch, one TSA call); None when there
        were none, the TSA failed (counted, kept in :attr:`last_error`) or another worker
        stamped them first."""
        if not self.enabled:
            return None
        rows = self.pending()
        if not rows:
            self._remember_oldest(None)
            return None
        root = merkle_root([bytes.fromhex(digest) for _, digest in rows])
        try:
            stamp = request_timestamp(self.tsa_url, root, timeout=self.timeout)
        except TimestampError as problem:
            self.failures += 1
            self.last_error = problem
            logger.warning(
                "evidence time-stamp of %s entries %d-%d failed: %s",
                self.side,
                rows[0][0],
                rows[-1][0],
                problem.en,
            )
            self.refresh_oldest()
            return None
        self.last_error = None
        return self.record(rows, root, stamp)

    def record(
        self, rows: Sequence[tuple[int, str]], root: bytes, stamp: Timestamp
    ) -> StampedBatch | None:
        """Insert the batch of ``rows`` stamped by ``stamp`` and mark its entries, in one
        transaction; None (nothing written) when another worker covered any of them first."""
        first, last = rows[0][0], rows[-1][0]
        with self.sessions() as db:
            begin_sqlite_write(db.connection())
            batch_id = db.execute(
                insert_ignoring_duplicates(db, EvidenceBatch)
                .values(
                    side=self.side,
                    first_seq=first,
                    last_seq=last,
                    size=len(rows),
                    root=root.hex(),
                    response=stamp.response,
                    gen_time=stamp.time,
                    tsa_url=self.tsa_url[:255],
                    created_at=dt.datetime.now(dt.UTC),
                )
                .returning(EvidenceBatch.id)
            ).scalar_one_or_none()
            if batch_id is None:  # another worker stamped from the same entry first
                db.rollback()
                return None
            # RETURNING, not rowcount (psycopg may not report it)
            marked = db.execute(
                update(EvidenceEntry)
                .where(
                    EvidenceEntry.side == self.side,
                    EvidenceEntry.seq.between(first, last),
                    EvidenceEntry.batch_id.is_(None),
                )
                .values(batch_id=batch_id)
                .returning(EvidenceEntry.seq)
                .execution_options(synchronize_session=False)
            ).all()
            if len(marked) != len(rows):  # some were covered meanwhile: this batch is not theirs
                db.rollback()
                return None
            db.commit()
        self.refresh_oldest()
        return StampedBatch(batch_id, self.side, first, last, root, stamp.time)

    def stamp_all(self, stop: threading.Event | None = None) -> int:
        """Rounds until the side's entries are covered, a round does nothing or ``stop`` is set;
        the number of batches stamped."""
        stamped = 0
        while stop is None or not stop.is_set():
            batch = self.stamp_once()
            if batch is None:
                break
            stamped += 1
            if batch.last_seq - batch.first_seq + 1 < self.batch_max:
                break
        return stamped

    # -- failing closed ----------------------------------------------------------------------

    def _remember_oldest(self, oldest: dt.datetime | None) -> None:
        with self._lock:
            self._oldest, self._oldest_checked = oldest, time.monotonic()

    def refresh_oldest(self) -> dt.datetime | None:
        with self.sessions() as db:
            oldest = oldest_unstamped_at(db, self.side)
        self._remember_oldest(oldest)
        return oldest

    def oldest_unstamped(self) -> dt.datetime | None:
        """When the oldest uncovered entry was written, looked up at most once a second."""
        with self._lock:
            if time.monotonic() - self._oldest_checked < OLDEST_CACHE_SECONDS:
                return self._oldest
        return self.refresh_oldest()

    def fail_closed(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        """The age of the oldest uncovered entry when it is past the window (pushes must then
        be refused), else None; always None without a TSA or a window."""
        if not self.enabled or self.fail_closed_after is None:
            return None
        oldest = self.oldest_unstamped()
        if oldest is None:
            return None
        age = (now or dt.datetime.now(dt.UTC)) - oldest
        return age if age > self.fail_closed_after else None

    # -- the thread --------------------------------------------------------------------------

    def start(self) -> None:
        """Stamp every ``interval`` seconds in a daemon thread (nothing without a TSA)."""
        if not self.enabled or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"lienthong-evidence-stamper-{self.side}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread after its current round (which waits at most the TSA's timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5 if timeout is None else timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.stamp_all(self._stop)
            except Exception:  # the database went away, or a bug: the next round tries again
                logger.exception("evidence time-stamping failed")
