"""The durable outbox: ordering and eligibility (property-based), settling, dead letters.

The database tests run on SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete

from lienthong.agent.outbox import (
    NewRow,
    Outbox,
    OutboxError,
    RowOutcome,
    plan_batch,
    record_identity,
)
from lienthong.store import session_factory
from lienthong.store.tables import AgentDeadLetterAction, AgentOutbox, utcnow
from lienthong.store.testing import writer_lock_is_free

NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
UNIT = "000.00.00.H56"


@dataclass
class FakeRow:
    id: int
    service: str
    order_key: str | None
    unit: str = UNIT
    params: dict[str, Any] = field(default_factory=dict)
    next_attempt_at: dt.datetime = NOW
    attempts: int = 0


def new_row(service: str, mahoso: str, **params: Any) -> NewRow:
    record = {"MaHoSo": mahoso, "service": service}
    key, order = record_identity(service, UNIT, record)
    return NewRow(service, UNIT, record, params, "motcua", key, order)


# -- identity --------------------------------------------------------------------------------


def test_dossier_services_share_one_order_key_per_dossier() -> None:
    code = "000.00.13.H56-260302-0001"
    assert record_identity("DongBoHoSoMC", UNIT, {"MaHoSo": code}) == (code, f"hoso:{code}")
    assert record_identity("CapNhatTienDoHoSoMC", UNIT, {"MaHoSo": code})[1] == f"hoso:{code}"
    assert record_identity("DongBoThongKeHoSo", UNIT, {"Thang": "3", "Nam": "2026"}) == (
        f"{UNIT} 2026-3",
        f"DongBoThongKeHoSo:{UNIT} 2026-3",
    )
    assert record_identity("DongBoHoiDap", UNIT, {"HOIDAPID": 42}) == ("42", "DongBoHoiDap:42")
    assert record_identity("DongBoHoSoMC", UNIT, {"MaHoSo": None}) == (None, None)


# -- planning (pure) -------------------------------------------------------------------------


SERVICES = ("DongBoHoSoMC", "CapNhatTienDoHoSoMC", "DongBoDanhGia")
rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(SERVICES), st.sampled_from(["a", "b", "c", "d", None]), st.booleans()
    ),
    min_size=1,
    max_size=60,
)


@given(rows_strategy, st.integers(min_value=1, max_value=8), st.randoms(use_true_random=False))
def test_any_interleaving_keeps_per_key_order_and_delivers_each_row_once(
    spec: list[tuple[str, str | None, bool]], limit: int, rng: Any
) -> None:
    pending = [
        FakeRow(i, service, key, params={"isUpdating": "True" if updating else "False"})
        for i, (service, key, updating) in enumerate(spec, 1)
    ]
    delivered: list[FakeRow] = []
    rounds = 0
    while pending:
        rounds += 1
        assert rounds <= 10 * len(spec), "no progress"
        batch = plan_batch(pending, limit, NOW)
        assert batch, "the oldest pending row is always eligible"
        assert len(batch) <= limit
        assert len({(r.service, r.unit, str(r.params)) for r in batch}) == 1  # one envelope
        # the portal takes some of the batch; the rest is retried later, in place
        taken = [row for row in batch if rng.random() < 0.7] or batch[:1]
        # a row is only taken after every earlier row of its key
        for row in taken:
            earlier = [p for p in pending if p.id < row.id and p.order_key == row.order_key]
            assert row.order_key is None or all(p in taken for p in earlier)
        delivered.extend(taken)
        pending = [row for row in pending if row not in taken]
    assert sorted(row.id for row in delivered) == list(range(1, len(spec) + 1))
    for key in ("a", "b", "c", "d"):
        ids = [row.id for row in delivered if row.order_key == key]
        assert ids == sorted(ids)


def test_interleaved_services_of_different_dossiers_fill_whole_batches() -> None:
    pending = []
    for i in range(10):
        pending.append(FakeRow(2 * i + 1, "DongBoHoSoMC", f"hoso:{i}"))
        pending.append(FakeRow(2 * i + 2, "CapNhatTienDoHoSoMC", f"hoso:{i}"))
    first = plan_batch(pending, 500, NOW)
    assert [row.service for row in first] == ["DongBoHoSoMC"] * 10
    rest = [row for row in pending if row not in first]
    assert [row.service for row in plan_batch(rest, 500, NOW)] == ["CapNhatTienDoHoSoMC"] * 10


def test_one_row_per_dossier_travels_at_a_time() -> None:
    pending = [FakeRow(i, "CapNhatTienDoHoSoMC", "hoso:x") for i in range(1, 6)]
    pending += [FakeRow(i, "CapNhatTienDoHoSoMC", f"hoso:{i}") for i in range(6, 9)]
    assert [row.id for row in plan_batch(pending, 500, NOW)] == [1, 6, 7, 8]


def test_a_row_waiting_for_its_retry_blocks_only_its_own_dossier() -> None:
    later = NOW + dt.timedelta(minutes=1)
    pending = [
        FakeRow(1, "DongBoHoSoMC", "hoso:x", next_attempt_at=later),
        FakeRow(2, "DongBoHoSoMC", "hoso:y"),
        FakeRow(3, "CapNhatTienDoHoSoMC", "hoso:x"),
        FakeRow(4, "DongBoHoSoMC", "hoso:x"),
        FakeRow(5, "DongBoHoSoMC", None),
    ]
    assert [row.id for row in plan_batch(pending, 500, NOW)] == [2, 5]


# -- the database ----------------------------------------------------------------------------


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(session_factory(engine))


def test_enqueue_commits_in_order_and_next_batch_reads_it_back(outbox: Outbox) -> None:
    ids = outbox.enqueue(
        [
            new_row("DongBoHoSoMC", f"000.00.13.H56-260302-000{i}", isUpdating="False")
            for i in range(1, 4)
        ]
    )
    assert ids == sorted(ids) and len(ids) == 3
    batch = outbox.next_batch(2)
    assert batch is not None and batch.ids == ids[:2]
    assert batch.params == {"isUpdating": "False"} and batch.unit == UNIT
    row = outbox.get(ids[0])
    assert row is not None and row.state == "pending" and row.attempts == 0
    assert row.created_at.tzinfo is not None


def test_settle_writes_each_outcome(outbox: Outbox) -> None:
    ids = outbox.enqueue(
        [
            new_row("DongBoHoSoMC", f"000.00.13.H56-260302-000{i}", isUpdating="False")
            for i in range(1, 5)
        ]
    )
    later = utcnow() + dt.timedelta(minutes=5)
    outbox.settle(
        [
            RowOutcome(ids[0], "delivered", {"status": "accepted"}),
            RowOutcome(ids[1], "resend_updating", {"status": "exists"}, "exists (3)"),
            RowOutcome(ids[2], "retry", None, "unavailable", later),
            RowOutcome(ids[3], "dead", {"status": "rejected", "error_code": "30"}, "rejected (30)"),
        ],
        state={"delivery.last_success": {"rows": 4}},
    )
    rows = [outbox.get(i) for i in ids]
    assert [r.state for r in rows if r] == ["delivered", "pending", "pending", "dead"]
    assert all(r is not None and r.attempts == 1 for r in rows)
    assert rows[0] is not None and rows[0].delivered_at is not None
    assert rows[1] is not None and rows[1].params == {"isUpdating": "True"}
    assert rows[2] is not None and rows[2].next_attempt_at == later.replace(
        microsecond=rows[2].next_attempt_at.microsecond
    )
    assert outbox.state("delivery.last_success") == {"rows": 4}
    summary = outbox.summary()
    assert summary.counts == {"pending": 2, "delivered": 1, "dead": 1, "dropped": 0}
    assert summary.max_pending_attempts == 1 and summary.oldest_pending_at is not None
    # only the re-sent dossier is due now; it goes alone, as "updating"
    batch = outbox.next_batch(10)
    assert batch is not None and batch.ids == [ids[1]] and batch.params == {"isUpdating": "True"}


def test_dead_letters_replay_and_drop_are_audited(outbox: Outbox) -> None:
    ids = outbox.enqueue(
        [new_row("CapNhatTienDoHoSoMC", f"000.00.13.H56-260302-000{i}") for i in (1, 2)]
    )
    outbox.settle([RowOutcome(i, "dead", {"error_code": "40"}, "rejected (40)") for i in ids])
    assert [row.id for row in outbox.dead_letters()] == ids
    corrected = {"MaHoSo": "000.00.13.H56-260302-0009"}
    outbox.replay(ids[0], "nguyen.van.a", record=corrected, identity=("x", "hoso:x"), note="fixed")
    outbox.drop(ids[1], "le.thi.b", note="duplicate")
    replayed, dropped = outbox.get(ids[0]), outbox.get(ids[1])
    assert replayed is not None and replayed.state == "pending" and replayed.record == corrected
    assert replayed.order_key == "hoso:x"
    assert dropped is not None and dropped.state == "dropped"
    audit = outbox.actions(ids[0]) + outbox.actions(ids[1])
    assert [(a.action, a.by, a.note) for a in audit] == [
        ("replay", "nguyen.van.a", "fixed"),
        ("drop", "le.thi.b", "duplicate"),
    ]
    assert audit[0].previous_record is not None and audit[0].previous_record["MaHoSo"].endswith(
        "0001"
    )
    with pytest.raises(OutboxError, match="not dead"):
        outbox.replay(ids[0], "x")
    with pytest.raises(OutboxError, match="no outbox row"):
        outbox.drop(999_999, "x")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(SERVICES[:2]), st.sampled_from("abc")), min_size=1, max_size=25
    ),
    st.lists(st.sampled_from(["delivered", "retry", "resend_updating"]), min_size=1, max_size=30),
)
def test_on_the_database_every_row_is_delivered_once_in_order(
    outbox: Outbox, spec: list[tuple[str, str]], answers: list[str]
) -> None:
    with outbox.sessions.begin() as db:
        db.execute(delete(AgentDeadLetterAction))
        db.execute(delete(AgentOutbox))
    ids = outbox.enqueue([new_row(service, key, isUpdating="False") for service, key in spec])
    keys = {row_id: key for row_id, (_, key) in zip(ids, spec, strict=True)}
    delivered: list[int] = []
    turn = 0
    while True:
        batch = outbox.next_batch(4)
        if batch is None:
            break
        outcomes = []
        for row in batch.rows:
            action = answers[turn % len(answers)]
            turn += 1
            if turn > 400:
                action = "delivered"  # make sure the loop ends
            outcomes.append(RowOutcome(row.id, action))
            if action == "delivered":
                delivered.append(row.id)
        outbox.settle(outcomes)
    assert sorted(delivered) == ids
    for key in "abc":
        in_order = [row_id for row_id in delivered if keys[row_id] == key]
        assert in_order == sorted(in_order)


def test_a_row_that_keeps_failing_travels_alone() -> None:
    """A record that makes the portal fail whole envelopes must not hold its batch hostage."""
    from lienthong.agent.outbox import ISOLATE_AFTER_ATTEMPTS

    poisoned = FakeRow(1, "DongBoHoSoMC", "hoso:a", attempts=ISOLATE_AFTER_ATTEMPTS)
    others = [FakeRow(i, "DongBoHoSoMC", f"hoso:{i}") for i in range(2, 6)]
    # healthy rows go first, without it; alone, it goes alone
    assert [row.id for row in plan_batch([poisoned, *others], 500, NOW)] == [2, 3, 4, 5]
    assert [row.id for row in plan_batch([*others, poisoned], 500, NOW)] == [2, 3, 4, 5]
    assert [row.id for row in plan_batch([poisoned], 500, NOW)] == [1]
    # its own dossier's later rows still wait behind it
    follower = FakeRow(9, "CapNhatTienDoHoSoMC", "hoso:a")
    assert [row.id for row in plan_batch([poisoned, follower], 500, NOW)] == [1]
    # a row failed fewer times still shares
    young = FakeRow(1, "DongBoHoSoMC", "hoso:a", attempts=ISOLATE_AFTER_ATTEMPTS - 1)
    assert [row.id for row in plan_batch([young, *others], 500, NOW)] == [1, 2, 3, 4, 5]
    worn = FakeRow(1, "DongBoHoSoMC", "hoso:a", attempts=ISOLATE_AFTER_ATTEMPTS + 4)
    fresher = FakeRow(2, "DongBoHoSoMC", "hoso:b", attempts=ISOLATE_AFTER_ATTEMPTS)
    assert [row.id for row in plan_batch([worn, fresher], 500, NOW)] == [2]


# -- writers of one process ------------------------------------------------------------------


def test_sqlite_writers_of_one_process_queue_on_a_lock_released_with_the_transaction(
    engine: Engine,
) -> None:
    """On SQLite a write transaction holds the process's writer lock from BEGIN IMMEDIATE to its
    end, whether it commits, rolls back on an error, or its session is closed unfinished; on
    PostgreSQL there is no such lock (the server orders writers)."""
    from lienthong.agent.outbox import begin_write

    sessions = session_factory(engine)
    sqlite = engine.dialect.name == "sqlite"
    with sessions.begin() as db:
        begin_write(db)
        assert writer_lock_is_free(engine) is not sqlite
        db.execute(delete(AgentOutbox))
    assert writer_lock_is_free(engine)
    with pytest.raises(RuntimeError), sessions.begin() as db:
        begin_write(db)
        raise RuntimeError("a failure inside the transaction")
    assert writer_lock_is_free(engine)
    db = sessions()
    begin_write(db)
    assert writer_lock_is_free(engine) is not sqlite
    db.close()
    assert writer_lock_is_free(engine)
    # and the outbox still takes rows afterwards (no lock left behind)
    outbox = Outbox(sessions)
    assert len(outbox.enqueue([new_row("DongBoHoSoMC", "000.00.13.H56-260302-0001")])) == 1
