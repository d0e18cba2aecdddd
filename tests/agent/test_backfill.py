"""``lienthong agent backfill``: validated, chunked, resumable loads into the outbox
(``[sqlite]`` and ``[postgresql]``), and their delivery by a running agent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from lienthong.agent import Client
from lienthong.agent.backfill import Backfill, BackfillError, FileIdentity
from lienthong.agent.outbox import NewRow, Outbox, begin_write
from lienthong.agent.service import AgentService
from lienthong.cli.main import app
from lienthong.store.db import make_engine, session_factory
from lienthong.store.tables import AgentDossier, AgentOutbox, Dossier
from tests.agent.conftest import (
    API_KEY,
    UNIT,
    Pair,
    agent_settings,
    demo_dossiers,
    step,
    wait_until,
)


@pytest.fixture
def offline(engine: Engine) -> Iterator[AgentService]:
    """An agent service on ``engine`` that only queues (no worker)."""
    service = AgentService(agent_settings("http://127.0.0.1:9", deliver=False), engine=engine)
    yield service
    service.stop()


def write_lines(path: Path, records: list[Any], bad: dict[int, str] | None = None) -> Path:
    """One JSON record per line; ``bad`` puts raw text at those (0-based) positions first."""
    lines = []
    for position, record in enumerate(records):
        if bad and position in bad:
            lines.append(bad[position])
        lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def queued(engine: Engine) -> list[tuple[int, str | None, str]]:
    with engine.connect() as connection:
        return [
            (row.id, row.record_key, row.submitter)
            for row in connection.execute(
                select(AgentOutbox.id, AgentOutbox.record_key, AgentOutbox.submitter).order_by(
                    AgentOutbox.id
                )
            )
        ]


def test_a_load_reports_bad_lines_and_queues_the_others_in_file_order(
    offline: AgentService, engine: Engine, tmp_path: Path
) -> None:
    records = demo_dossiers(25)
    records[7]["NgayHenTra"] = "20260230170000"  # not a real date
    records[9] = {**records[9], "MaHoSo": records[9]["MaHoSo"].replace("H56", "H60")}
    path = write_lines(tmp_path / "hs.jsonl", records, {3: "{not json", 12: "   "})
    loader = Backfill(offline.intake, offline.outbox, chunk_records=4)
    seen: list[tuple[int, int, int]] = []
    report = loader.run(path, "DongBoHoSoMC", UNIT, progress=lambda *a: seen.append(a))

    assert report.finished and report.queued == 23 and report.refused == 3
    assert report.lines == 27
    problems = {(p.line, p.code, p.path) for p in report.problems}
    assert problems == {
        (4, "json.invalid", "$"),
        (9, "field.date", "$.NgayHenTra"),  # record 7: line 9, after the bad line 4
        (11, "unit.forbidden", "$.MaHoSo"),
    }
    rows = queued(engine)
    expected = [r["MaHoSo"] for i, r in enumerate(records) if i not in (7, 9)]
    assert [key for _, key, _ in rows] == expected
    assert {submitter for _, _, submitter in rows} == {"backfill"}
    with offline.sessions() as db:  # rows carry their envelope parameters
        assert {tuple(r.params.items()) for r in db.scalars(select(AgentOutbox))} == {
            (("isUpdating", "False"),)
        }
        # the dossier states (statistics input) are written in the chunk's transaction too
        assert db.scalar(select(func.count()).select_from(AgentDossier)) == 23
    assert seen[-1][0] == seen[-1][1] == path.stat().st_size  # progress reached the end
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    state = offline.outbox.state(report.state_key)
    assert state is not None and state["finished_at"] and state["offset"] == path.stat().st_size
    assert state["queued"] == 23 and state["refused"] == 3 and state["line"] == 27


class Killed(BaseException):
    """Stands for the process being killed (not an Exception: nothing may catch it)."""


@pytest.mark.parametrize("after_commit", [True, False], ids=["after-commit", "before-commit"])
def test_a_killed_load_resumes_without_losing_or_duplicating_rows(
    offline: AgentService,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    after_commit: bool,
) -> None:
    records = demo_dossiers(30)
    path = write_lines(tmp_path / "hs.jsonl", records, {11: "[1, 2"})
    real_enqueue = Outbox.enqueue
    calls = []

    def dying_enqueue(self: Outbox, rows: list[NewRow], *args: Any, **kwargs: Any) -> list[int]:
        calls.append(len(rows))
        if len(calls) == 3:
            if after_commit:
                real_enqueue(self, rows, *args, **kwargs)
            raise Killed
        return real_enqueue(self, rows, *args, **kwargs)

    monkeypatch.setattr(Outbox, "enqueue", dying_enqueue)
    loader = Backfill(offline.intake, offline.outbox, chunk_records=5)
    with pytest.raises(Killed):
        loader.run(path, "DongBoHoSoMC", UNIT)
    # chunks of 5 lines; the third (lines 11-15) holds the bad line 12
    assert len(queued(engine)) == (14 if after_commit else 10)

    monkeypatch.setattr(Outbox, "enqueue", real_enqueue)
    report = loader.run(path, "DongBoHoSoMC", UNIT)
    assert report.resumed_at_line == (15 if after_commit else 10)
    assert report.finished and report.queued == 30 and report.refused == 1
    rows = queued(engine)
    assert [key for _, key, _ in rows] == [r["MaHoSo"] for r in records]  # once each, in order
    # the bad line is reported by the run that read it, once
    assert [p.line for p in report.problems] == ([] if after_commit else [12])


def test_a_finished_file_is_not_loaded_twice_unless_restarted(
    offline: AgentService, engine: Engine, tmp_path: Path
) -> None:
    records = demo_dossiers(6)
    path = write_lines(tmp_path / "hs.jsonl", records)
    loader = Backfill(offline.intake, offline.outbox)
    first = loader.run(path, "DongBoHoSoMC", UNIT)
    assert first.queued_now == 6
    copy = tmp_path / "renamed.jsonl"  # the same content under another name: the same load
    copy.write_bytes(path.read_bytes())
    again = loader.run(copy, "DongBoHoSoMC", UNIT)
    assert again.already_finished and again.queued_now == 0 and again.queued == 6
    assert len(queued(engine)) == 6
    restarted = loader.run(path, "DongBoHoSoMC", UNIT, restart=True)
    assert restarted.queued_now == 6 and len(queued(engine)) == 12
    # a changed file is another load
    write_lines(path, [*records, *demo_dossiers(8)[6:]])
    changed = loader.run(path, "DongBoHoSoMC", UNIT)
    assert changed.queued_now == 8 and not changed.already_finished


def test_a_file_that_changed_under_a_load_is_refused(offline: AgentService, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "hs.jsonl", demo_dossiers(4))
    identity = FileIdentity.of(path)
    key = identity.state_key("DongBoHoSoMC", UNIT)
    # progress recorded in the middle of a line: the file is not the one that was loaded
    offline.outbox.put_state(key, {"offset": 10, "line": 1, "queued": 1, "refused": 0})
    with pytest.raises(BackfillError, match="changed"):
        Backfill(offline.intake, offline.outbox).run(path, "DongBoHoSoMC", UNIT)


def test_envelope_problems_stop_the_load_before_anything_is_queued(
    offline: AgentService, engine: Engine, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "hs.jsonl", demo_dossiers(3))
    loader = Backfill(offline.intake, offline.outbox)
    with pytest.raises(BackfillError, match="service"):
        loader.run(path, "TraCuuHoSo", UNIT)  # a share service: nothing to deliver
    with pytest.raises(BackfillError, match="isUpdating"):
        loader.run(path, "DongBoHoSoMC", UNIT, {"isUpdating": "maybe"})
    assert queued(engine) == []


def test_progress_steps_are_ordered_behind_their_dossiers(
    offline: AgentService, engine: Engine, tmp_path: Path
) -> None:
    records = demo_dossiers(3)
    loader = Backfill(offline.intake, offline.outbox)
    loader.run(write_lines(tmp_path / "hs.jsonl", records), "DongBoHoSoMC", UNIT)
    steps = [step(r["MaHoSo"], "20260302080000", "2", "Tiếp nhận hồ sơ") for r in records]
    report = loader.run(
        write_lines(tmp_path / "steps.jsonl", steps), "CapNhatTienDoHoSoMC", UNIT, {}
    )
    assert report.queued == 3
    with offline.sessions() as db:
        keys = [row.order_key for row in db.scalars(select(AgentOutbox).order_by(AgentOutbox.id))]
    assert keys == [f"hoso:{r['MaHoSo']}" for r in records] * 2


def test_backfill_while_the_agent_delivers(
    start_pair: Callable[..., Pair], agent_engine: Engine, tmp_path: Path
) -> None:
    """A separate loader (as the CLI is) on the database of a running agent: the worker delivers
    what it queues, and the local API keeps working meanwhile."""
    pair = start_pair(batch_size=40)
    records = demo_dossiers(150)
    path = write_lines(tmp_path / "hs.jsonl", records[:120])
    loader_service = AgentService(agent_settings(pair.hub_url, deliver=False), engine=agent_engine)
    try:
        with Client(pair.agent_url, API_KEY) as client:
            report = Backfill(loader_service.intake, loader_service.outbox, chunk_records=25).run(
                path, "DongBoHoSoMC", UNIT
            )
            live = client.submit("DongBoHoSoMC", records[120:], madonvi=UNIT, isUpdating="False")
        assert report.queued == 120 and live.ok
    finally:
        loader_service.stop()
    pair.wait_settled(60)
    assert pair.agent.outbox.summary().counts["delivered"] == 150
    with pair.hub.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Dossier)) == 150


# -- the command -----------------------------------------------------------------------------


def cli(database: str, *args: str) -> Any:
    env = {"COLUMNS": "200", "LIENTHONG_AGENT_DATABASE_URL": database}
    return CliRunner().invoke(app, ["agent", *args], env=env)


def test_the_command_reports_bad_lines_and_resumes(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'agent.db'}"
    records = demo_dossiers(10)
    records[4]["TrangThaiHoSo"] = "11"
    path = write_lines(tmp_path / "hs.jsonl", records)
    errors = tmp_path / "errors.jsonl"
    result = cli(database, "backfill", str(path), "-u", UNIT, "--errors", str(errors), "--quiet")
    assert result.exit_code == 1, result.output
    assert "9 records queued" in result.output and "1 lines refused" in result.output
    assert "field.enum" in result.output or "TrangThaiHoSo" in result.output
    refused = [json.loads(line) for line in errors.read_text("utf-8").splitlines()]
    assert [(r["line"], r["path"]) for r in refused] == [(5, "$.TrangThaiHoSo")]
    again = cli(database, "backfill", str(path), "-u", UNIT, "--quiet")
    assert again.exit_code == 0 and "already loaded" in again.output
    missing_unit = cli(database, "backfill", str(path), "--quiet")
    assert missing_unit.exit_code == 2 and "--unit" in missing_unit.output


def test_a_load_killed_with_sigkill_resumes_exactly(tmp_path: Path) -> None:
    """The real command in its own process, killed (SIGKILL) once it has committed a chunk."""
    database = f"sqlite:///{tmp_path / 'agent.db'}"
    records = demo_dossiers(3000)
    path = write_lines(tmp_path / "hs.jsonl", records)
    env = {
        **os.environ,
        "LIENTHONG_AGENT_DATABASE_URL": database,
        "LIENTHONG_AGENT_DELIVER": "false",
        "COLUMNS": "200",
    }
    command = [sys.executable, "-m", "lienthong.cli.main", "agent", "backfill", str(path)]
    command += ["-u", UNIT, "--chunk", "100", "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    engine = make_engine(database)
    try:

        def some_rows() -> bool:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                return len(queued(engine)) >= 300
            except Exception:  # the tables are not created yet
                return False

        wait_until(some_rows, 60, "a few committed chunks")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        partial = len(queued(engine))
        assert 300 <= partial < 3000
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "resumed after line" in rerun.stdout
        rows = queued(engine)
        assert [key for _, key, _ in rows] == [r["MaHoSo"] for r in records]
    finally:
        if process.poll() is None:
            process.kill()
        engine.dispose()


# -- several writers on one agent database -------------------------------------------------------


def test_queuing_transactions_are_serialized_so_ids_follow_commits(engine: Engine) -> None:
    """While one transaction that queues rows is open, another waits for it (SQLite: the write
    lock of BEGIN IMMEDIATE; PostgreSQL: the advisory lock). So a row committed later never has
    a lower id than one committed earlier, which the worker (reading in id order) relies on."""
    sessions = session_factory(engine)
    outbox = Outbox(sessions)
    first, second = demo_dossiers(2)

    def new_row(record: dict[str, Any]) -> NewRow:
        code = record["MaHoSo"]
        return NewRow("DongBoHoSoMC", UNIT, record, {}, "t", code, f"hoso:{code}")

    later: list[int] = []
    finished = threading.Event()

    def queue_second() -> None:
        later.extend(outbox.enqueue([new_row(second)]))
        finished.set()

    thread = threading.Thread(target=queue_second)
    with sessions.begin() as db:
        begin_write(db, serialize_ids=True)
        row = AgentOutbox(
            service="DongBoHoSoMC",
            unit=UNIT,
            record_key=first["MaHoSo"],
            order_key="hoso:x",
            record=first,
            params={},
            submitter="t",
            state="pending",
        )
        db.add(row)
        db.flush()
        thread.start()
        assert not finished.wait(0.5), "a second writer queued while the first was open"
        earlier = row.id
    thread.join(10)
    assert finished.is_set() and later[0] > earlier


def test_two_loads_of_one_file_at_once_are_refused(
    offline: AgentService, engine: Engine, tmp_path: Path
) -> None:
    """The second load of a file being loaded stops at once; the first queues it once."""
    import threading

    path = write_lines(tmp_path / "hs.jsonl", demo_dossiers(8))
    inside, finish = threading.Event(), threading.Event()

    def slow_progress(offset: int, size: int, records: int) -> None:
        inside.set()
        finish.wait(10)

    first = Backfill(offline.intake, offline.outbox, chunk_records=4)
    outcome: list[Any] = []
    worker = threading.Thread(
        target=lambda: outcome.append(first.run(path, "DongBoHoSoMC", UNIT, progress=slow_progress))
    )
    worker.start()
    try:
        assert inside.wait(10)
        second = Backfill(offline.intake, offline.outbox)
        with pytest.raises(BackfillError, match="another backfill is loading this file"):
            second.run(path, "DongBoHoSoMC", UNIT)
    finally:
        finish.set()
        worker.join(10)
    assert outcome and outcome[0].queued_now == 8
    assert len(queued(engine)) == 8
    # once the first has finished, the file can be loaded again (here: recognised as done)
    assert Backfill(offline.intake, offline.outbox).run(path, "DongBoHoSoMC", UNIT).already_finished
