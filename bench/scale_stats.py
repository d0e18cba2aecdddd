"""Statistics at scale (issue 14): the time of DoiSoatThongKeHoSo for one unit and one month as
the store grows. Not part of ``make bench`` (growing a million dossiers takes minutes).

A fresh PostgreSQL schema is grown through the hub's own write path, without HTTP: envelopes of
1000 demo dossiers (lienthong.demo, renamed over many units and months) are validated by the
hub's validator and stored by ``sync_dossiers`` (the column path: COPY of the dossiers, and the
kept monthly statistics in the same transaction), one transaction per envelope. At each
milestone the reconciliation of one commune-level unit for one month is timed, each call in a
fresh session:

- new: :func:`lienthong.hub.reports.reconcile_statistics` (the kept ``dossier_month_stats``);
- old: the same with the figures computed from the dossiers themselves
  (:func:`lienthong.hub.reports.computed_statistics_from_dossiers`: every dossier still open
  in the month, its JSON, the unit filtered in Python), the code path before issue 14.

The old path's figures must equal the new path's (checked at each milestone). Its calls stop
after ``--old-budget`` seconds per milestone (at least 3 calls): at a million dossiers each
takes tens of seconds.

Run: ``python bench/scale_stats.py`` (``--sizes 10000,100000,1000000``); prints a Markdown
section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ingest import Unavailable, fresh_database
from machine import reference_speed
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lienthong.demo import dossiers
from lienthong.hub.auth import Principal
from lienthong.hub.dossiers import sync_dossiers
from lienthong.hub.reports import (
    STATISTICS,
    computed_statistics_from_dossiers,
    reconcile_statistics,
)
from lienthong.spec.identifiers import agency_registry
from lienthong.spec.validate import Validator
from lienthong.store import session_factory
from lienthong.store.tables import Dossier, UnitReport

BATCH = 1000
PROVINCES = 10
DISTRICTS = 10  # per province
COMMUNES = 10  # per district: 1000 units in all
FIRST_MONTH = (2024, 1)
MONTHS = 35  # 2024-01 to 2026-11
ASKED_MONTH = (2026, 6)


def provinces() -> list[str]:
    """Level-1 codes open over the whole period (the validator warns of closed ones)."""
    registry = agency_registry()
    return [
        code
        for code in (f"H{n:02d}" for n in range(1, 100))
        if registry.is_open(code, dt.date(2024, 1, 1))
        and registry.is_open(code, dt.date(2026, 12, 1))
    ][:PROVINCES]


def communes(province: str) -> list[str]:
    return [
        f"000.{c:02d}.{d:02d}.{province}"
        for d in range(1, DISTRICTS + 1)
        for c in range(1, COMMUNES + 1)
    ]


def _wire(day: dt.date, hour: int) -> str:
    return f"{day:%Y%m%d}{hour:02d}0000"


def batches(
    templates: list[dict[str, Any]], window: int | None = None
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(province unit, 1000 records) forever: each batch one province's communes, about 80%
    processed (a fifth of them late), the rest pending, a share of those overdue; distinct
    codes (unit, day, sequence). The receptions are spread over all the months (to grow a
    history every month of which has figures), or with ``window`` days, over that many days
    moving forward a day per batch (pushes as they come: the recent dossiers)."""
    sequence: dict[tuple[str, dt.date], int] = {}
    first = dt.date(*FIRST_MONTH, 1)
    counter = itertools.count()
    for province in itertools.cycle(provinces()):
        units = communes(province)
        records = []
        for template in templates:
            n = next(counter)
            unit = units[n % len(units)]
            if window is None:
                day = first + dt.timedelta(days=(n * 7919) % (MONTHS * 30))
            else:
                day = first + dt.timedelta(days=(n // BATCH + n % window) % (MONTHS * 30))
            number = sequence[(unit, day)] = sequence.get((unit, day), 0) + 1
            due = day + dt.timedelta(days=10 + n % 20)
            record = {
                **template,
                "MaHoSo": f"{unit}-{day:%y%m%d}-{number:04d}",
                "NgayTiepNhan": _wire(day, 8),
                "NgayHenTra": _wire(due, 17),
                "NgayKetThucXuLy": "",
                "NgayTra": "",
                "TrangThaiHoSo": "4",
            }
            if n % 5:  # processed: on time, or (one in five) a few days late
                done = due - dt.timedelta(days=3) if n % 5 != 1 else due + dt.timedelta(days=4)
                record.update(NgayKetThucXuLy=_wire(done, 9), NgayTra=_wire(done, 10))
                record["TrangThaiHoSo"] = "10"
            records.append(record)
        yield f"000.00.00.{province}", records


def validated(validator: Validator, province: str, records: list[dict[str, Any]]) -> Any:
    """The DongBoHoSoMC envelope of ``records`` (new dossiers), through the hub's validator."""
    envelope = {
        "session": "-",
        "madonvi": province,
        "service": "DongBoHoSoMC",
        "isUpdating": "False",
        "data": records,
    }
    return validator.validate_envelope(envelope, scan_unicode=False)


def timed(call: Callable[[], Any], calls: int, budget: float | None = None) -> tuple[float, int]:
    """(p50 in ms, number of calls) of ``call``; with ``budget`` seconds, stop after the
    third call once the budget is spent."""
    times = []
    started = time.perf_counter()
    for number in range(calls):
        begin = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - begin))
        if budget is not None and number >= 2 and time.perf_counter() - started > budget:
            break
    return statistics.median(times), len(times)


def old_reconcile(db: Session, unit: str, year: int, month: int) -> dict[str, str]:
    """DoiSoatThongKeHoSo before issue 14: the figures from the dossiers, then the report."""
    computed = computed_statistics_from_dossiers(db, unit, year, month)
    db.scalar(
        select(UnitReport.record).where(
            UnitReport.kind == STATISTICS,
            UnitReport.unit == unit,
            UnitReport.period == f"{year:04d}-{month:02d}",
        )
    )
    return computed


def run(sizes: list[int], calls: int, old_budget: float) -> list[dict[str, Any]]:
    validator = Validator()
    templates = dossiers(BATCH, seed=20260302)
    units = tuple(f"000.00.00.{p}" for p in provinces())
    principal = Principal(1, "bench", units, frozenset({"*"}))
    asked = communes(provinces()[0])[0]
    year, month = ASKED_MONTH
    results = []
    with (
        tempfile.TemporaryDirectory() as work,
        fresh_database("postgresql", Path(work), "scale") as (
            _,
            engine,
        ),
    ):
        sessions = session_factory(engine)
        stored, grow_seconds = 0, 0.0
        source = batches(templates)
        for size in sizes:
            begin = time.perf_counter()
            while stored < size:
                province, records = next(source)
                result = validated(validator, province, records)
                with sessions() as db:
                    outcomes = sync_dossiers(db, principal, province, False, result)
                    db.commit()
                bad = [o for o in outcomes if o.status != "accepted"]
                if bad:
                    raise SystemExit(f"a record was not accepted: {bad[0].as_dict()}")
                stored += len(records)
            grow_seconds += time.perf_counter() - begin
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                count = connection.scalar(select(func.count()).select_from(Dossier))

            def new() -> Any:
                with sessions() as db:
                    return reconcile_statistics(db, asked, year, month)[1]

            def old() -> Any:
                with sessions() as db:
                    return old_reconcile(db, asked, year, month)

            new_gaps = new()
            new_ms, new_calls = timed(new, calls)
            old_figures = old()
            assert {gap.field: gap.computed for gap in new_gaps} == {
                name: old_figures[name] for name in (gap.field for gap in new_gaps)
            }, "the kept figures differ from the full computation"
            old_ms, old_calls = timed(old, calls, old_budget)
            received = next(g.computed for g in new_gaps if g.field == "SoNhanTrongKy")
            results.append(
                {
                    "dossiers": count,
                    "grow_s": grow_seconds,
                    "new_ms": new_ms,
                    "new_calls": new_calls,
                    "old_ms": old_ms,
                    "old_calls": old_calls,
                    "received": received,
                }
            )
            print(
                f"{count:>9,} dossiers: new p50 {new_ms:.2f} ms ({new_calls} calls), "
                f"old p50 {old_ms:.1f} ms ({old_calls} calls); grown in {grow_seconds:.0f} s",
                file=sys.stderr,
            )
    return results


def report(results: list[dict[str, Any]], sizes: list[int], calls: int) -> list[str]:
    first = results[0]["new_ms"] if results else 0.0
    lines = [
        "## Statistics at scale (issue 14)",
        "",
        "DoiSoatThongKeHoSo (the reconciliation of one unit's DongBoThongKeHoSo) for one "
        f"commune-level unit and one month ({ASKED_MONTH[0]}-{ASKED_MONTH[1]:02d}), as a fresh "
        "PostgreSQL store grows through the hub's write path without HTTP (envelopes of 1000 "
        "demo dossiers validated and stored by `sync_dossiers`, one transaction each; "
        f"{PROVINCES * DISTRICTS * COMMUNES} commune units in {PROVINCES} provinces, receptions "
        f"over {MONTHS} months, about 80% processed). Each call in a fresh session; p50 of "
        f"{calls} calls (the old path: fewer at the larger sizes, count shown).",
        "",
        "- new: the figures from the kept `dossier_month_stats` rows of the unit "
        "(`lienthong.hub.month_stats`);",
        "- old: the code path before issue 14, every dossier still open in the month read with "
        "its JSON and the unit filtered in Python (`computed_statistics_from_dossiers`). Both "
        "give the same figures (checked at each size).",
        "",
        f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; reference speed at the end of the run: {reference_speed():.1f} ms "
        "(see the top of this file).",
        f"Command: `python bench/scale_stats.py --sizes {','.join(map(str, sizes))}`.",
        "",
        "| dossiers | new p50 (ms) | new / first size | old p50 (ms) | old calls | old / new |",
        "|---|---|---|---|---|---|",
    ]
    for row in results:
        lines.append(
            f"| {row['dossiers']:,} | {row['new_ms']:.2f} | {row['new_ms'] / first:.2f}x "
            f"| {row['old_ms']:,.1f} | {row['old_calls']} | {row['old_ms'] / row['new_ms']:,.0f}x |"
        )
    if results:
        lines += [
            "",
            f"Growing the store to {results[-1]['dossiers']:,} dossiers took "
            f"{results[-1]['grow_s']:.0f} s (validation and storage, about "
            f"{results[-1]['dossiers'] / results[-1]['grow_s']:,.0f} dossiers/s).",
        ]
    return lines


def ingest_cost(rounds: int) -> list[str]:
    """What keeping the statistics adds to a 1000-record push: ``sync_dossiers`` of fresh
    batches (new dossiers, the column path, commit included) with the statistics kept and with
    their update left out, alternated (A, B, A, B, ...) so that the load of a shared machine
    falls on both alike; p50 per batch (wall clock, and CPU time of this process: the hub's
    Python, and SQLite's own work), on SQLite and PostgreSQL. Three kinds of push: the
    demo's (one unit, one month: the hub ingest benchmark's), a province's 100 communes over
    a week, and the worst case, 100 communes over all 35 months in one push."""
    import lienthong.hub.dossiers as hub_dossiers

    kept = hub_dossiers.record_wire_dossiers
    validator = Validator()
    templates = dossiers(BATCH, seed=20260302)
    units = (*(f"000.00.00.{p}" for p in provinces()), "000.00.00.H56")
    principal = Principal(1, "bench", units, frozenset({"*"}))
    lines = [
        "| database | push | with the statistics kept (ms) | without (ms) | added "
        "| CPU of this process, with / without (ms) |"
    ]
    lines.append("|---|---|---|---|---|---|")

    def demo() -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for number in itertools.count():
            records = dossiers(BATCH, seed=number)
            for record in records:  # distinct codes: one commune of the district per push
                _, day, sequence = record["MaHoSo"].rsplit("-", 2)
                record["MaHoSo"] = f"000.{number % 100:02d}.13.H56-{day}-{sequence}"
            yield "000.00.00.H56", records

    kinds = {
        "demo (1 unit, 1 month)": demo,
        "100 communes, a week": lambda: batches(templates, window=7),
        "100 communes, 35 months": lambda: batches(templates),
    }
    for kind, label in itertools.product(("sqlite", "postgresql"), kinds):
        times: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        with (
            tempfile.TemporaryDirectory() as work,
            fresh_database(kind, Path(work), "cost") as (
                _,
                engine,
            ),
        ):
            sessions = session_factory(engine)
            source = kinds[label]()
            for number in range(2 * rounds + 4):
                keep = number % 2 == 0
                province, records = next(source)
                result = validated(validator, province, records)
                hub_dossiers.record_wire_dossiers = kept if keep else (lambda *args: None)  # type: ignore[assignment]
                try:
                    begin, begin_cpu = time.perf_counter(), time.process_time()
                    with sessions() as db:
                        sync_dossiers(db, principal, province, False, result)
                        db.commit()
                    if number >= 4:  # after two warm-up batches of each
                        times[keep].append(1000 * (time.perf_counter() - begin))
                        cpu[keep].append(1000 * (time.process_time() - begin_cpu))
                finally:
                    hub_dossiers.record_wire_dossiers = kept
        with_stats, without = statistics.median(times[True]), statistics.median(times[False])
        with_cpu, without_cpu = statistics.median(cpu[True]), statistics.median(cpu[False])
        lines.append(
            f"| {kind} | {label} | {with_stats:.1f} | {without:.1f} | "
            f"{with_stats - without:+.1f} ms ({100 * (with_stats / without - 1):+.1f}%) "
            f"| {with_cpu:.1f} / {without_cpu:.1f} "
            f"({100 * (with_cpu / without_cpu - 1):+.1f}%) |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--old-budget", type=float, default=60.0, help="seconds per size")
    parser.add_argument(
        "--ingest-cost",
        type=int,
        metavar="ROUNDS",
        help="only measure what keeping the statistics adds to a 1000-record push",
    )
    args = parser.parse_args()
    if args.ingest_cost:
        print("\n".join(ingest_cost(args.ingest_cost)))
        return
    sizes = sorted(int(size) for size in args.sizes.split(","))
    try:
        results = run(sizes, args.calls, args.old_budget)
    except Unavailable as error:
        raise SystemExit(f"PostgreSQL is not available: {error}") from error
    print("\n".join(report(results, sizes, args.calls)))


if __name__ == "__main__":
    main()
