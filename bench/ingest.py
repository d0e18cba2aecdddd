"""Hub ingest benchmark (`make bench`, section "Hub ingest"). Issue 3, section 7.

A real hub runs as a separate process (``python -m uvicorn lienthong.hub.app:create_app
--factory --workers 1``), once on SQLite (a fresh file) and once on PostgreSQL (a fresh schema,
chosen with ``options=-csearch_path=...`` in the database URL). This process is the client: one
``httpx.Client`` (HTTP/1.1 keep-alive) logs in, then POSTs DongBoHoSoMC envelopes of 1000
realistic dossiers (lienthong.demo, distinct MaHoSo, ``isUpdating`` "False"). Validation,
authorization, the message log and persistence are all on: the hub has no way to turn them off.

In the same run, the floor: the same rows (the value dicts the hub writes, see
``lienthong.hub.dossiers.sync_dossiers``) written with one bulk ``insert(Dossier)`` per
1000-row batch into a fresh database of the same kind. Then the latency of single-dossier
pushes (one record per call, sequential).

Run alone: ``python bench/ingest.py`` (prints the Markdown section), or
``python bench/ingest.py --profile`` (cProfile of ``Hub.envelope`` + ``Hub.log`` in-process on
SQLite with a 1000-record body: where a batch's time goes).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import io
import math
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from machine import reference_speed
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from lienthong.demo import dossiers
from lienthong.hub.settings import HubSettings
from lienthong.spec.dates import parse_wire_date
from lienthong.store import (
    Accounts,
    canonical_json,
    make_engine,
    record_hash,
    session_factory,
    upgrade,
)
from lienthong.store.bulk import RawJson, insert_rows
from lienthong.store.db import normalize_url, redact_url
from lienthong.store.tables import Dossier, MessageLog
from lienthong.store.testing import postgresql_url

BATCH = 1000
UNIT = "000.00.00.H56"
USERNAME = "bench"
PASSWORD = "bench-password"
DSTCODE = "VN:GOV:000.00.00.G22:vpcpdvcprovider"

#: Targets of issue 3, section 7 (records/s on one worker; share of the floor).
TARGETS = {"sqlite": 20_000, "postgresql": 12_000}
FLOOR_SHARE_TARGET = 0.5


class BenchError(RuntimeError):
    """The hub did not start, or answered something other than full acceptance."""


@dataclass
class Rates:
    """Per-batch rates (records/s) of the measured batches."""

    rates: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    def cell(self) -> str:
        return f"{self.median:,.0f} records/s ({min(self.rates):,.0f} - {max(self.rates):,.0f})"


@dataclass
class Outcome:
    """The result for one kind of database."""

    kind: str
    url: str = ""
    error: str | None = None
    ingest: Rates | None = None
    floor: Rates | None = None
    driver_write: Rates | None = None
    """The same rows through ``lienthong.store.bulk.insert_rows`` (the hub's own write path)."""
    latencies_ms: list[float] = field(default_factory=list)
    hub_cpu_ms_per_batch: float | None = None
    reference_ms: float | None = None
    """:func:`machine.reference_speed` just before the hub's batches: a shared VM's speed drifts
    within a run, and this section's figures move with it."""
    batches: int = 0
    failed: bool = False
    """The hub misbehaved (as opposed to: the database server is not reachable)."""


# -- data -----------------------------------------------------------------------------------------


def make_records(
    batches: int, singles: int
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """``batches`` lists of 1000 dossiers and ``singles`` more, every MaHoSo distinct.

    ``dossiers()`` restarts its sequence each day and puts the date in the code, so one long run
    gives distinct codes (about 200 a day).
    """
    records = dossiers(batches * BATCH + singles, seed=20260302)
    codes = {record["MaHoSo"] for record in records}
    assert len(codes) == len(records), "demo dossier codes are not distinct"
    chunks = [records[i * BATCH : (i + 1) * BATCH] for i in range(batches)]
    return chunks, records[batches * BATCH :]


def envelope_bytes(session: str, records: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "session": session,
            "madonvi": UNIT,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": records,
        }
    )


def _when(record: dict[str, Any], name: str) -> dt.datetime | None:
    value = record.get(name)
    return parse_wire_date(value) if isinstance(value, str) and value else None


def dossier_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The value dicts the hub inserts for new dossiers (hub/dossiers.py, sync_dossiers)."""
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "ma_ho_so": str(record["MaHoSo"]),
            "unit": UNIT,
            "ma_tthc": str(record.get("MaTTHC", "")),
            "status": str(record.get("TrangThaiHoSo", "")),
            "received_at": _when(record, "NgayTiepNhan"),
            "due_at": _when(record, "NgayHenTra"),
            "returned_at": _when(record, "NgayTra"),
            "finished_at": _when(record, "NgayKetThucXuLy"),
            "record": record,
            "record_hash": record_hash(record),
            "updated_at": now,
            "created_at": now,
        }
        for record in records
    ]


# -- databases ------------------------------------------------------------------------------------


class Unavailable(RuntimeError):
    """The database server cannot be reached."""


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path, tag: str) -> Iterator[tuple[str, Engine]]:
    """(URL, engine) of a fresh, upgraded database of ``kind``; removed afterwards.

    SQLite: a new file in ``workdir``. PostgreSQL: a new schema ``lt_bench_<pid>_<tag>``
    selected by ``options=-csearch_path=...`` in the URL, so a separate process using the URL
    lands in it too; dropped with CASCADE at the end.
    """
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'{tag}.db'}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            yield url, engine
        finally:
            engine.dispose()
        return
    base = normalize_url(postgresql_url())
    admin = create_engine(
        base,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )
    schema = f"lt_bench_{os.getpid()}_{tag}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except SQLAlchemyError as exc:
        admin.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise Unavailable(
            f"PostgreSQL at {redact_url(base)} is not reachable: {reason[0] if reason else exc}"
        ) from exc
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield url.render_as_string(hide_password=False), engine
    finally:
        engine.dispose()
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql("SET lock_timeout = '10s'")
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            admin.dispose()


# -- the hub process ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


@contextlib.contextmanager
def hub_process(
    url: str, workdir: Path, settings: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A hub on a free port in its own process (one uvicorn worker), with ``settings`` added to
    its environment; yields (base URL, process)."""
    port = _free_port()
    env = {
        **os.environ,
        "LIENTHONG_DATABASE_URL": url,
        "LIENTHONG_PORT": str(port),
        **(settings or {}),
    }
    log_path = workdir / f"hub-{port}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "lienthong.hub.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with served_process(command, env, port, log_path, "hub") as served:
        yield served


@contextlib.contextmanager
def served_process(
    command: list[str], env: dict[str, str], port: int, log_path: Path, name: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``command`` (a server on ``port``, output to ``log_path``), wait until its
    ``/healthz`` answers, yield (base URL, process); stop it afterwards (terminate, then kill)."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchError(f"the {name} exited ({process.returncode}): {_tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"the {name} did not answer /healthz in 60 s: {_tail(log_path)}")
            time.sleep(0.05)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return " | ".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- measurements ---------------------------------------------------------------------------------


def _post(
    client: httpx.Client,
    path: str,
    body: bytes,
    expected: int,
    headers: dict[str, str] | None = None,
) -> float:
    """POST one envelope; the elapsed seconds. Raises unless all ``expected`` were accepted."""
    started = time.perf_counter()
    response = client.post(
        path,
        content=body,
        headers={"content-type": "application/json", "dstcode": DSTCODE, **(headers or {})},
    )
    elapsed = time.perf_counter() - started
    try:
        answer = response.json()
    except ValueError as exc:
        raise BenchError(f"HTTP {response.status_code}, not JSON: {response.text[:300]}") from exc
    records = answer.get("records") or []
    accepted = sum(1 for record in records if record.get("status") == "accepted")
    # success as the hub spells it: "0" by default, "00" or 0 for accounts that ask for it
    succeeded = answer.get("error_code") in ("0", "00", 0)
    if response.status_code != 200 or not succeeded or accepted != expected:
        raise BenchError(
            f"HTTP {response.status_code}, error_code {answer.get('error_code')!r}, "
            f"{accepted}/{expected} accepted: {str(answer)[:400]}"
        )
    return elapsed


def ingest_over_http(
    outcome: Outcome,
    url: str,
    workdir: Path,
    chunks: list[list[dict[str, Any]]],
    singles: list[dict[str, Any]],
    warmup: int,
) -> None:
    settings = HubSettings.from_env()
    with (
        hub_process(url, workdir) as (base, process),
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        login = client.post(
            settings.login_path, json={"username": USERNAME, "password": PASSWORD}
        ).json()
        if login.get("error_code") not in ("0", "00", 0):
            raise BenchError(f"login refused: {login}")
        session = str(login["session"])
        bodies = [envelope_bytes(session, chunk) for chunk in chunks]
        for body in bodies[:warmup]:
            _post(client, settings.integration_path, body, BATCH)
        cpu_before = _cpu_seconds(process.pid)
        rates = [
            BATCH / _post(client, settings.integration_path, body, BATCH)
            for body in bodies[warmup:]
        ]
        cpu = _cpu_seconds(process.pid) - cpu_before
        outcome.ingest = Rates(rates)
        outcome.batches = len(rates)
        outcome.hub_cpu_ms_per_batch = cpu * 1000 / len(rates) if cpu > 0 else None

        single_bodies = [envelope_bytes(session, [record]) for record in singles]
        for body in single_bodies[: warmup * 10]:
            _post(client, settings.integration_path, body, 1)
        outcome.latencies_ms = [
            _post(client, settings.integration_path, body, 1) * 1000
            for body in single_bodies[warmup * 10 :]
        ]


def check_stored(engine: Engine, expected: int, pushes: int) -> None:
    """The hub really stored every dossier, and logged every push with its raw body."""
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(Dossier))
        logged = connection.scalar(
            select(func.count())
            .select_from(MessageLog)
            .where(MessageLog.service == "DongBoHoSoMC", MessageLog.raw_body.is_not(None))
        )
    if stored != expected or logged != pushes:
        raise BenchError(
            f"{stored} dossiers stored and {logged} pushes logged, for {expected} dossiers "
            f"sent in {pushes} pushes"
        )


def floor_bulk_insert(engine: Engine, chunks: list[list[dict[str, Any]]], warmup: int) -> Rates:
    """One ``insert(Dossier)`` executemany + commit per 1000-row batch (rows prepared before)."""
    prepared = [dossier_rows(chunk) for chunk in chunks]
    rates = []
    for position, rows in enumerate(prepared):
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(insert(Dossier), rows)
        elapsed = time.perf_counter() - started
        if position >= warmup:
            rates.append(len(rows) / elapsed)
    return Rates(rates)


def driver_write(engine: Engine, chunks: list[list[dict[str, Any]]], warmup: int) -> Rates:
    """``insert_rows`` (the hub's driver-level write: executemany on SQLite, COPY on PostgreSQL)
    + commit per batch, JSON serialized beforehand."""
    prepared = [
        [{**row, "record": RawJson(canonical_json(row["record"]))} for row in dossier_rows(chunk)]
        for chunk in chunks
    ]
    sessions = session_factory(engine)
    rates = []
    for position, rows in enumerate(prepared):
        started = time.perf_counter()
        with sessions() as db:
            insert_rows(db, Dossier, rows)
            db.commit()
        elapsed = time.perf_counter() - started
        if position >= warmup:
            rates.append(len(rows) / elapsed)
    return Rates(rates)


def run_kind(
    kind: str,
    chunks: list[list[dict[str, Any]]],
    singles: list[dict[str, Any]],
    warmup: int,
) -> Outcome:
    outcome = Outcome(kind)
    with tempfile.TemporaryDirectory(prefix="lt-bench-") as tmp:
        workdir = Path(tmp)
        try:
            with fresh_database(kind, workdir, "hub") as (url, engine):
                outcome.url = redact_url(url)
                Accounts(session_factory(engine)).add(USERNAME, PASSWORD, [UNIT])
                engine.dispose()
                outcome.reference_ms = reference_speed(5)
                ingest_over_http(outcome, url, workdir, chunks, singles, warmup)
                check_stored(engine, len(chunks) * BATCH + len(singles), len(chunks) + len(singles))
            with fresh_database(kind, workdir, "floor") as (_, engine):
                outcome.floor = floor_bulk_insert(engine, chunks, warmup)
            with fresh_database(kind, workdir, "driver") as (_, engine):
                outcome.driver_write = driver_write(engine, chunks, warmup)
        except Unavailable as exc:
            outcome.error = str(exc)
        except BenchError as exc:
            outcome.error = f"benchmark failed: {exc}"
            outcome.failed = True
    return outcome


def ingest_bench(batches: int = 20, warmup: int = 2, singles: int = 300) -> list[Outcome]:
    """The measurements on SQLite, then PostgreSQL; an unreachable server is noted, not raised."""
    chunks, single_records = make_records(batches + warmup, singles + warmup * 10)
    outcomes = []
    for kind in ("sqlite", "postgresql"):
        outcome = run_kind(kind, chunks, single_records, warmup)
        outcomes.append(outcome)
        if outcome.error:
            print(f"ingest [{kind}]: {outcome.error}", file=sys.stderr)
        else:
            assert outcome.ingest and outcome.floor
            p50, p99 = percentile(outcome.latencies_ms, 50), percentile(outcome.latencies_ms, 99)
            print(
                f"ingest [{kind}]: {outcome.ingest.median:,.0f} records/s, floor "
                f"{outcome.floor.median:,.0f} records/s, single push p50 {p50:.1f} ms p99 {p99:.1f} ms",
                file=sys.stderr,
            )
    return outcomes


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# -- report ---------------------------------------------------------------------------------------


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def report_section(outcomes: list[Outcome], batches: int, warmup: int) -> list[str]:
    """Markdown lines of the "Hub ingest" section of docs/benchmarks.md."""
    lines = [
        "## Hub ingest: DongBoHoSoMC over HTTP, one uvicorn worker",
        "",
        "The hub runs as a separate process (`python -m uvicorn lienthong.hub.app:create_app "
        "--factory --workers 1`) on a fresh database; the benchmark process is the client (one "
        "`httpx.Client`, HTTP/1.1 keep-alive) on the same machine, so both share its cores. "
        f"After login it POSTs envelopes of {BATCH} realistic dossiers (lienthong.demo, distinct "
        '`MaHoSo`, `isUpdating` "False", about 1 MB each): '
        f"{warmup} warm-up batches, then {batches} measured. Every answer is checked: error_code "
        f'"0" (or "00") and {BATCH} records accepted. Validation, authorization, the message log (with '
        "the raw body kept as evidence) and persistence are all on.",
        "",
        "The floor: the same rows the hub writes, in the same table, with one bulk "
        f"`insert(Dossier)` (executemany) and commit per {BATCH}-row batch, on a fresh database of "
        "the same kind, rows prepared beforehand. Since the hub writes new dossiers through the "
        "driver directly (`lienthong.store.bulk.insert_columns`: executemany on SQLite, COPY on "
        "PostgreSQL, values converted column by column, the JSON serialized once for the hash "
        "and the column), that path alone is measured too, on a third fresh database, and the share against it is shown "
        "beside the share against the floor. Rates are the median per-batch records/s with "
        "the min - max range. Single-dossier pushes: one record per call, "
        f"{warmup * 10} warm-up calls, then sequential calls (count in the table), round-trip "
        "time at the client.",
        "",
    ]
    for outcome in outcomes:
        title = "SQLite" if outcome.kind == "sqlite" else "PostgreSQL"
        lines += [f"### {title}", ""]
        if outcome.error or outcome.ingest is None or outcome.floor is None:
            lines += [f"Not measured: {outcome.error}", ""]
            continue
        target = TARGETS[outcome.kind]
        share = outcome.ingest.median / outcome.floor.median
        p50, p99 = percentile(outcome.latencies_ms, 50), percentile(outcome.latencies_ms, 99)
        lines += [
            f"Database: `{outcome.url}` (fresh schema per run)."
            if outcome.kind == "postgresql"
            else "Database: a fresh SQLite file (WAL, synchronous=NORMAL) in a temporary directory.",
            "",
            *(
                [
                    f"Reference speed just before these runs: {outcome.reference_ms:.1f} ms "
                    "(see the top of this file).",
                    "",
                ]
                if outcome.reference_ms is not None
                else []
            ),
            "| measure | result | target (issue 3) |",
            "|---|---|---|",
            f"| hub ingest over HTTP, {BATCH}-record batches | {outcome.ingest.cell()} "
            f"| >= {target:,} records/s: {_verdict(outcome.ingest.median >= target)} |",
            f"| floor: bulk insert only | {outcome.floor.cell()} | |",
            f"| ingest / floor | {share:.0%} "
            f"| >= {FLOOR_SHARE_TARGET:.0%}: {_verdict(share >= FLOOR_SHARE_TARGET)} |",
            *(
                [
                    f"| the hub's own write path alone (executemany or COPY, JSON serialized "
                    f"beforehand) | {outcome.driver_write.cell()} | |",
                    f"| ingest / that write path | "
                    f"{outcome.ingest.median / outcome.driver_write.median:.0%} | |",
                ]
                if outcome.driver_write is not None
                else []
            ),
            f"| single-dossier push p50 / p99 (ms) | {p50:.1f} / {p99:.1f} "
            f"({len(outcome.latencies_ms)} calls) | |",
            "",
        ]
        if outcome.hub_cpu_ms_per_batch is not None:
            per_batch = statistics.mean(BATCH / rate for rate in outcome.ingest.rates) * 1000
            lines += [
                f"Hub process CPU time per {BATCH}-record batch (mean of the measured batches): "
                f"{outcome.hub_cpu_ms_per_batch:,.0f} ms, against {per_batch:,.0f} ms of "
                "wall-clock time per batch at the client.",
                "",
            ]
    return lines


# -- profile --------------------------------------------------------------------------------------


def profile(top: int = 25, rounds: int = 5) -> str:
    """cProfile of the in-process work of a 1000-record push on SQLite (no HTTP).

    ``Hub.handle`` (parse, session, authorization, validation, store, the answer's JSON and the
    message log row with the raw body, one commit), as the endpoint calls it. After one
    warm-up batch: ``rounds`` batches timed without the profiler, with the time spent in the
    cyclic garbage collector (``gc.callbacks``; the collector runs inside whatever function
    allocates, so cProfile spreads its cost over unrelated lines), then ``rounds`` batches
    under cProfile with the collector off, so that the attribution is stable. Returns the
    summary and the pstats text (cumulative, then internal time).
    """
    from lienthong.hub.app import Call, Hub

    chunks, _ = make_records(2 * rounds + 1, 0)
    with tempfile.TemporaryDirectory(prefix="lt-prof-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        hub = Hub(HubSettings(database_url=url))
        hub.accounts.add(USERNAME, PASSWORD, [UNIT])
        login = hub.login(orjson.dumps({"username": USERNAME, "password": PASSWORD}), "127.0.0.1")
        session = str(login.body["session"])
        bodies = [envelope_bytes(session, chunk) for chunk in chunks]
        del chunks  # only bytes (untracked by the collector) stay, as in the hub's own process
        gc.collect()

        def one(body: bytes) -> None:
            call = Call("integration", "127.0.0.1", DSTCODE, len(body), time.perf_counter())
            answer = hub.handle(call, body)
            assert answer.body["error_code"] in ("0", "00"), str(answer.body)[:300]

        one(bodies[0])
        collections = {0: 0, 1: 0, 2: 0}
        in_gc = [0.0, 0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                in_gc[1] = time.perf_counter()
            else:
                in_gc[0] += time.perf_counter() - in_gc[1]
                collections[info["generation"]] += 1

        gc.callbacks.append(on_gc)
        try:
            started = time.perf_counter()
            for body in bodies[1 : rounds + 1]:
                one(body)
            plain = time.perf_counter() - started
        finally:
            gc.callbacks.remove(on_gc)
        profiler = cProfile.Profile()
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            profiler.enable()
            for body in bodies[rounds + 1 :]:
                one(body)
            profiler.disable()
            elapsed = time.perf_counter() - started
        finally:
            gc.enable()
        hub.engine.dispose()
    out = io.StringIO()
    out.write(
        f"{rounds} batches of {BATCH} without the profiler: {plain / rounds * 1000:.0f} ms per "
        f"batch ({rounds * BATCH / plain:,.0f} records/s), of which {in_gc[0] / rounds * 1000:.0f}"
        f" ms in the garbage collector ({collections[0] / rounds:.0f} / {collections[1] / rounds:.1f}"
        f" / {collections[2] / rounds:.1f} collections of generation 0 / 1 / 2 per batch)\n"
        f"{rounds} batches under cProfile, collector off: {elapsed / rounds * 1000:.0f} ms per "
        "batch\n"
    )
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile Hub.envelope in-process")
    args = parser.parse_args()
    if args.profile:
        print(profile())
        return
    outcomes = ingest_bench(args.batches, args.warmup)
    print("\n".join(report_section(outcomes, args.batches, args.warmup)))


if __name__ == "__main__":
    main()
