"""insert_rows: the driver-level bulk insert writes what the ORM reads back, on both databases."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from lienthong.store.bulk import RawJson, insert_columns, insert_rows
from lienthong.store.hashing import canonical_json
from lienthong.store.tables import Dossier

HANOI = timezone(timedelta(hours=7))


def _row(code: str, received: datetime | None, record: object) -> dict[str, object]:
    now = datetime(2026, 11, 30, 23, 59, 59, 123456, tzinfo=UTC)
    return {
        "ma_ho_so": code,
        "unit": "000.00.00.H56",
        "ma_tthc": "1.000001",
        "status": "2",
        "received_at": received,
        "due_at": None,
        "returned_at": None,
        "finished_at": None,
        "record": record,
        "record_hash": "0" * 64,
        "created_at": now,
        "updated_at": now,
    }


def test_rows_read_back_through_the_orm(sessions: sessionmaker[Session]) -> None:
    record = {"MaHoSo": "H56.01-261130-0001", "TenNguoiNop": "Nguyễn Văn Ánh", "Số": [1, 2.5]}
    local_midnight = datetime(2026, 12, 1, 0, 0, 0, tzinfo=HANOI)  # 2026-11-30 17:00 UTC
    with sessions() as db:
        insert_rows(
            db,
            Dossier,
            [
                _row("H56.01-261130-0001", local_midnight, RawJson(canonical_json(record))),
                _row("H56.01-261130-0002", None, {"plain": "dict", "n": None}),
            ],
        )
        db.commit()
    with sessions() as db:
        first, second = db.scalars(select(Dossier).order_by(Dossier.ma_ho_so)).all()
    assert first.record == record
    assert first.received_at == local_midnight
    assert first.received_at is not None and first.received_at.tzinfo is not None
    assert first.received_at.utcoffset() == timedelta(0)
    assert first.created_at == datetime(2026, 11, 30, 23, 59, 59, 123456, tzinfo=UTC)
    assert second.received_at is None
    assert second.record == {"plain": "dict", "n": None}


def test_json_is_stored_as_text_the_database_can_query(sessions: sessionmaker[Session]) -> None:
    """On SQLite the JSON goes to the driver as UTF-8 bytes: it must still be stored as TEXT
    (not a BLOB), so that SQL's JSON functions and text comparisons see it."""
    name = "Nguyễn Thị Ánh Tuyết"
    with sessions() as db:
        insert_rows(
            db,
            Dossier,
            [
                _row("H56.01-261130-0003", None, RawJson(canonical_json({"TenNguoiNop": name}))),
                _row("H56.01-261130-0004", None, {"TenNguoiNop": name}),
            ],
        )
        db.commit()
        bind = db.get_bind()
        if bind.dialect.name == "sqlite":
            query = "SELECT typeof(record), json_extract(record, '$.TenNguoiNop') FROM dossiers"
        else:
            query = "SELECT jsonb_typeof(record), record->>'TenNguoiNop' FROM dossiers"
        rows = [tuple(row) for row in db.execute(text(f"{query} ORDER BY ma_ho_so"))]
    expected_type = "text" if bind.dialect.name == "sqlite" else "object"
    assert rows == [(expected_type, name), (expected_type, name)]


def test_iterator_columns_store_what_lists_store(sessions: sessionmaker[Session]) -> None:
    """Columns may be iterators, consumed once (PostgreSQL streams their rows to COPY as they
    are made); rows of unequal columns are refused and the transaction stores none of them."""
    records = [{"MaHoSo": f"H56.01-261130-{n:04d}", "TenNguoiNop": "Trần Thị Ánh"} for n in (7, 8)]
    rows = [_row(str(record["MaHoSo"]), None, {}) for record in records]
    columns: dict[str, Any] = {name: [row[name] for row in rows] for name in rows[0]}
    columns["ma_ho_so"] = (str(record["MaHoSo"]) for record in records)
    columns["record"] = map(RawJson, map(canonical_json, records))
    columns["record_hash"] = iter(["1" * 64, "2" * 64])
    with sessions() as db:
        insert_columns(db, Dossier, columns)
        db.commit()
    with sessions() as db:
        stored = db.scalars(select(Dossier).order_by(Dossier.ma_ho_so)).all()
    assert [(d.ma_ho_so, d.record, d.record_hash) for d in stored] == [
        (records[0]["MaHoSo"], records[0], "1" * 64),
        (records[1]["MaHoSo"], records[1], "2" * 64),
    ]
    short = {**columns, "ma_ho_so": iter(["H56.01-261130-0009", "H56.01-261130-0010"])}
    short["record"] = iter([RawJson(b"{}")])  # one value for two rows
    short["record_hash"] = iter(["3" * 64, "4" * 64])
    with sessions() as db:
        with pytest.raises(ValueError):
            insert_columns(db, Dossier, short)
        db.rollback()
        assert len(db.scalars(select(Dossier)).all()) == 2


def test_range_queries_see_bulk_rows_like_orm_rows(sessions: sessionmaker[Session]) -> None:
    """The stored form is the ORM's: comparisons in SQL give the same answer for both paths."""
    moment = datetime(2026, 11, 15, 8, 0, 0, tzinfo=UTC)
    with sessions() as db:
        insert_rows(db, Dossier, [_row("H56.01-261115-0001", moment, {})])
        orm_row = Dossier(**_row("H56.01-261115-0002", moment, {}))
        db.add(orm_row)
        db.commit()
    with sessions() as db:
        found = db.scalars(
            select(Dossier.ma_ho_so).where(
                Dossier.received_at >= moment, Dossier.received_at < moment + timedelta(seconds=1)
            )
        ).all()
    assert sorted(found) == ["H56.01-261115-0001", "H56.01-261115-0002"]


def test_a_naive_datetime_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as db, pytest.raises(ValueError, match="naive"):
        insert_rows(db, Dossier, [_row("H56.01-261115-0003", datetime(2026, 11, 15), {})])


def test_no_rows_writes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        insert_rows(db, Dossier, [])
        assert db.scalars(select(Dossier)).all() == []


def test_sqlite_text_of_wire_dates_is_what_the_orm_writes() -> None:
    """The shortcut (same day, seven hours earlier) agrees with the datetime path, including
    hours before 07:00 (the previous day in UTC), month and year ends, and bad values."""
    from lienthong.spec.dates import parse_wire_date
    from lienthong.store.bulk import _sqlite_datetime, sqlite_text_of_wire_date

    values = [
        "20260302073512",
        "20260302070000",
        "20260302065959",
        "20260301000000",
        "20260101030000",
        "20240229230000",
        "20241231235959",
        "20250229100000",
        "2026030207351",
        "",
        None,
        "20260302246000",
    ]
    for value in values:
        parsed = parse_wire_date(value) if isinstance(value, str) and value else None
        assert sqlite_text_of_wire_date(value) == _sqlite_datetime(parsed), value


@given(st.datetimes(min_value=datetime(1900, 1, 1, 7), max_value=datetime(2199, 12, 31)))
def test_sqlite_text_of_any_wire_date(moment: datetime) -> None:
    from lienthong.spec.dates import VIETNAM, format_wire_date, parse_wire_date
    from lienthong.store.bulk import _sqlite_datetime, sqlite_text_of_wire_date

    wire = format_wire_date(moment.replace(tzinfo=VIETNAM))
    assert sqlite_text_of_wire_date(wire) == _sqlite_datetime(parse_wire_date(wire))


def test_a_column_of_wire_dates_converts_like_each_value() -> None:
    from lienthong.store.bulk import sqlite_text_of_wire_date, wire_date_column

    column: list[object] = ["20260302073512", None, "20260302073512", "20260301000000", "", "x"]
    assert wire_date_column(column, "sqlite") == [sqlite_text_of_wire_date(v) for v in column]
    assert wire_date_column(column, "sqlite")[0] == "2026-03-02 00:35:12.000000"
    assert wire_date_column(column, "postgresql") == [
        "2026-03-02 07:35:12+07",
        None,
        "2026-03-02 07:35:12+07",
        "2026-03-01 00:00:00+07",
        None,
        None,
    ]
    assert wire_date_column(["20250229100000", "20240229100000"], "postgresql") == [
        None,
        "2024-02-29 10:00:00+07",
    ]
    assert wire_date_column([["20260302073512"], None], "sqlite") == [None, None]  # unhashable


WIRE_DATES = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 31), timezones=st.just(HANOI)
).map(lambda moment: moment.replace(microsecond=0))


_EXAMPLES = itertools.count()


_WIRE_DATE_VALUES = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31)).map(
        lambda moment: moment.strftime("%Y%m%d%H%M%S")
    ),
    st.sampled_from(
        [
            "20250229100000",  # no such day
            "20260431120000",
            "20260230063000",
            "20240229063000",  # a leap day before 07:00: the previous day in UTC
            "2026030207351",  # too short
            "20261301000000",
            "20260302246000",
            "18991231235959",
            "2026-03-02 07:35",
            "20260302073512\n20260302073512",
            "",
        ]
    ),
    st.none(),
    st.integers(0, 3),
)


@given(st.lists(_WIRE_DATE_VALUES, max_size=40))
def test_a_wire_date_column_is_each_value_converted_alone(values: list[object]) -> None:
    """The column conversion (one shape check over all values, then slices) gives what the
    careful converter gives value by value, whatever the column holds."""
    from lienthong.store.bulk import (
        _postgresql_text_of_wire_date,
        sqlite_text_of_wire_date,
        wire_date_column,
    )

    assert wire_date_column(values, "sqlite") == list(map(sqlite_text_of_wire_date, values))
    assert wire_date_column(values, "postgresql") == list(
        map(_postgresql_text_of_wire_date, values)
    )


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moments=st.lists(WIRE_DATES, min_size=1, max_size=5))
def test_wire_date_columns_read_back_as_the_moments_they_name(
    sessions: sessionmaker[Session], moments: list[datetime]
) -> None:
    """Wire-date text goes in (stored by SQLite, parsed by PostgreSQL) and the moment comes out."""
    from lienthong.spec.dates import format_wire_date
    from lienthong.store.bulk import insert_columns, wire_date_column

    example = next(_EXAMPLES)
    codes = [f"H56.01-261201-{example:05d}-{number}" for number in range(len(moments))]
    with sessions() as db:
        dialect = db.get_bind().dialect.name
        rows = [_row(code, None, {}) for code in codes]
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        columns["received_at"] = wire_date_column([format_wire_date(m) for m in moments], dialect)
        insert_columns(db, Dossier, columns)
        db.commit()
    with sessions() as db:
        query = select(Dossier.ma_ho_so, Dossier.received_at).where(Dossier.ma_ho_so.in_(codes))
        stored = {code: received for code, received in db.execute(query)}
    assert [stored[code] for code in codes] == moments


def test_in_values_finds_the_keys_given(sessions: sessionmaker[Session]) -> None:
    """One parameter for a batch of keys (an array on PostgreSQL, JSON on SQLite): text keys,
    integer keys, unknown keys, duplicates, Vietnamese text and an empty list."""
    from lienthong.store.bulk import in_values

    codes = [f"H56.01-261130-{n:04d}" for n in range(1, 6)]
    with sessions() as db:
        insert_rows(db, Dossier, [_row(code, None, {}) for code in codes])
        db.commit()
    with sessions() as db:
        wanted = [codes[0], codes[3], codes[3], "không có", "x' OR '1'='1"]
        found = db.scalars(
            select(Dossier.ma_ho_so).where(in_values(db, Dossier.ma_ho_so, wanted))
        ).all()
        assert sorted(found) == [codes[0], codes[3]]
        ids = db.scalars(select(Dossier.id).order_by(Dossier.id)).all()
        by_id = db.scalars(
            select(Dossier.ma_ho_so).where(in_values(db, Dossier.id, [ids[1], ids[4], 10**12]))
        ).all()
        assert sorted(by_id) == [codes[1], codes[4]]
        assert db.scalars(select(Dossier.id).where(in_values(db, Dossier.id, []))).all() == []
