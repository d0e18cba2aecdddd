"""The hub's monthly dossier statistics (DongBoThongKeHoSo) kept as the dossiers are written.

The figures of a unit and a month (:func:`lienthong.spec.stats.monthly_stats` of the dossiers of
the unit and the units under it) used to be computed by reading every dossier still open in the
month, JSON and all: a time that grew with the store. Here each dossier write adds its share to
``dossier_month_stats`` (:class:`lienthong.store.tables.DossierMonthStats`) in the same
transaction, and an update first takes back the share of the record it replaces. A unit's
figures for a month then read that unit's rows up to the month: a time that grows with the
months of history, never with the dossiers.

Each dossier counts in the row of its own unit and of each unit above it (the unit path
``H22``, ``H22.10``, ``H22.10.05``), so a unit's rows are found by equality on the primary key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from lienthong.spec.identifiers import parse_agency_code
from lienthong.spec.stats import (
    MONTH_CHANGE_FIELDS,
    MonthChanges,
    MonthlyStats,
    add_month_changes,
    month_start,
    stats_from_month_sums,
    wire_month_changes,
)
from lienthong.store.tables import Dossier, DossierMonthStats

_TABLE: Table = DossierMonthStats.__table__  # type: ignore[assignment]

__all__ = [
    "dossier_unit_path",
    "month_figures",
    "rebuild_month_stats",
    "record_old_dossiers",
    "record_wire_dossiers",
    "unit_path",
]


def unit_path(unit: str) -> str | None:
    """The unit's levels joined by ``.`` (``000.00.20.G09`` and ``G09.20`` both ``G09.20``), or
    ``None`` when ``unit`` is not an agency code."""
    parsed = parse_agency_code(unit)
    return None if parsed is None else ".".join(parsed.levels)


@lru_cache(maxsize=4096)
def _paths_up(path: str) -> tuple[str, ...]:
    """The path and those of every unit above it: ``H22.10`` -> (``H22``, ``H22.10``)."""
    levels = path.split(".")
    return tuple(".".join(levels[: n + 1]) for n in range(len(levels)))


def dossier_unit_path(code: str) -> str | None:
    """The unit path of the unit in a dossier code the hub accepted (``None`` when that unit is
    not an agency code). Accepted codes passed the validator's ``dossier_code`` checks (format,
    unit, calendar date), so their unit is what precedes the last two ``-`` parts in both
    formats: no parse per dossier, one per unit."""
    return _unit_path_cached(code.rsplit("-", 2)[0])


@lru_cache(maxsize=8192)
def _unit_path_cached(unit: str) -> str | None:
    return unit_path(unit)


def record_wire_dossiers(
    db: Session,
    codes: Sequence[str],
    statuses: Sequence[object],
    received: Sequence[object],
    finished: Sequence[object],
    returned: Sequence[object],
    due: Sequence[object],
    sign: int = 1,
) -> None:
    """Add (``sign`` 1) the share of dossiers written from their wire values, given as columns
    (``MaHoSo``, ``TrangThaiHoSo``, ``NgayTiepNhan``, ``NgayKetThucXuLy``, ``NgayTra``,
    ``NgayHenTra``)."""
    paths = list(map(dossier_unit_path, codes))
    _apply(db, wire_month_changes(paths, statuses, received, finished, returned, due, sign))


def record_old_dossiers(db: Session, rows: Iterable[Any]) -> None:
    """Take back the share of stored dossiers about to be replaced: ``rows`` with
    ``ma_ho_so``, ``record_status`` and the stored dates (``received_at``, ``finished_at``,
    ``returned_at``, ``due_at``)."""
    _apply(db, _stored_changes(rows, -1))


def _stored_changes(rows: Iterable[Any], sign: int) -> dict[Hashable, MonthChanges]:
    """:func:`lienthong.spec.stats.add_month_changes` of stored dossiers, per unit path."""
    changes: dict[Hashable, MonthChanges] = {}
    for row in rows:
        path = dossier_unit_path(row.ma_ho_so)
        if path is not None:
            add_month_changes(
                changes.setdefault(path, {}),
                sign,
                row.record_status,
                row.received_at,
                row.finished_at,
                row.returned_at,
                row.due_at,
            )
    return changes


def _apply(db: Session, changes: Mapping[Hashable, MonthChanges]) -> None:
    """Add the changes to the rows of each unit and the units above it: one upsert statement,
    rows in key order so that concurrent writers lock them in the same order. Through the
    driver: on PostgreSQL the rows go as arrays (``unnest``), one round trip."""
    totals: dict[tuple[str, int], list[int]] = {}
    for path, months in changes.items():
        ups = _paths_up(str(path))
        for month, counts in months.items():
            for up in ups:
                total = totals.get((up, month))
                if total is None:
                    totals[(up, month)] = counts.copy()
                else:
                    for field, count in enumerate(counts):
                        total[field] += count
    if not totals:
        return
    rows = [
        (up, _month_text(month), *counts)
        for (up, month), counts in sorted(totals.items())
        if any(counts)
    ]
    if not rows:
        return
    connection = db.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_POSTGRESQL_UPSERT, tuple(map(list, zip(*rows, strict=True))))
    else:
        connection.exec_driver_sql(_SQLITE_UPSERT, rows)


@lru_cache(maxsize=1024)
def _month_text(index: int) -> str:
    """The stored form of a month row's date (ISO, as SQLAlchemy's ``Date`` on SQLite)."""
    return month_start(index).isoformat()


_COLUMNS = ", ".join(("unit_path", "month", *MONTH_CHANGE_FIELDS))
_ADD = ", ".join(
    f"{name} = dossier_month_stats.{name} + excluded.{name}" for name in MONTH_CHANGE_FIELDS
)
_SQLITE_UPSERT = (
    f"INSERT INTO dossier_month_stats ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT (unit_path, month) DO UPDATE SET {_ADD}"
)
_POSTGRESQL_UPSERT = (
    f"INSERT INTO dossier_month_stats ({_COLUMNS}) SELECT * FROM unnest("
    "%s::varchar[], %s::date[], %s::int[], %s::int[], %s::int[], %s::int[], %s::int[]) "
    f"ON CONFLICT (unit_path, month) DO UPDATE SET {_ADD}"
)


def month_figures(db: Session, unit: str, year: int, month: int) -> MonthlyStats:
    """The figures of ``unit`` (and the units under it) for a month, from its month rows: one
    aggregate over the unit's rows up to the month (counts with filters)."""
    path = unit_path(unit)
    if path is None:
        raise ValueError(f"not an agency code: {unit}")
    this_month = dt.date(year, month, 1)
    table = DossierMonthStats

    def in_month(column: Any) -> Any:
        return func.coalesce(func.sum(column).filter(table.month == this_month), 0)

    def before(column: Any) -> Any:
        return func.coalesce(func.sum(column).filter(table.month < this_month), 0)

    def up_to(column: Any) -> Any:
        return func.coalesce(func.sum(column), 0)

    row = db.execute(
        select(
            in_month(table.received),
            in_month(table.processed_on_time),
            in_month(table.processed_late),
            up_to(table.pending),
            before(table.pending),
            up_to(table.overdue),
        ).where(table.unit_path == path, table.month <= this_month)
    ).one()
    return stats_from_month_sums(year, month, *(int(value) for value in row))


def rebuild_month_stats(db: Session, batch: int = 5000) -> int:
    """Recompute ``dossier_month_stats`` from the stored dossiers (their columns, never their
    JSON), e.g. after a restore from an older backup. Returns the number of dossiers read."""
    db.execute(_TABLE.delete())
    query = select(
        Dossier.id,
        Dossier.ma_ho_so,
        Dossier.record_status,
        Dossier.received_at,
        Dossier.finished_at,
        Dossier.returned_at,
        Dossier.due_at,
    ).order_by(Dossier.id)
    last, count = 0, 0
    while True:
        rows = db.execute(query.where(Dossier.id > last).limit(batch)).all()
        if not rows:
            return count
        _apply(db, _stored_changes(rows, 1))
        last, count = rows[-1].id, count + len(rows)
