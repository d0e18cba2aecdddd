"""Bulk inserts through the driver's ``executemany``, inside the session's transaction.

The ORM's bulk insert costs more than the database write itself for 1000-row batches: it
runs every value through its type processors one by one. Here each column's conversion is
decided once per table and dialect, and JSON that was already serialized (to hash it) is
passed as text instead of being serialized a second time.

The stored form is the one SQLAlchemy itself writes (``UtcDateTime`` as naive UTC text on
SQLite, ``timestamptz`` on PostgreSQL; JSON as text, ``jsonb`` on PostgreSQL), so rows written
here read back through the ORM like any other.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Table,
    bindparam,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lienthong.spec.dates import WIRE_DATE_SHAPE, parse_wire_date
from lienthong.store.tables import Base, UtcDateTime

__all__ = [
    "RawJson",
    "in_values",
    "insert_columns",
    "insert_rows",
    "sqlite_text_of_wire_date",
    "wire_date_column",
]


@dataclass(frozen=True, slots=True)
class RawJson:
    """A JSON value already serialized (UTF-8 bytes): stored as is, not serialized again."""

    data: bytes


Converter = Callable[[Any], Any]


def _sqlite_datetime(value: dt.datetime | str | None) -> str | None:
    if value is None or type(value) is str:
        return value  # already the stored text (sqlite_text_of_wire_date)
    assert isinstance(value, dt.datetime)
    return _sqlite_text(value)


def sqlite_text_of_wire_date(value: object) -> str | None:
    """The stored SQLite text of a wire date (``yyyyMMddHHmmss``, Vietnam time): what
    ``_sqlite_datetime(parse_wire_date(value))`` gives, without building a datetime when the
    time is 07:00 or later (UTC is then the same day, seven hours earlier). ``None`` when the
    value is empty or not a wire date-time."""
    if type(value) is not str or not value:
        return None
    return _sqlite_text_of_wire_string(value)


def wire_date_column(values: Sequence[object], dialect: str) -> list[Any]:
    """A column of wire dates (``yyyyMMddHHmmss``, Vietnam time) as :func:`insert_columns`
    takes it, each distinct value converted once (a column of a batch repeats its dates):
    SQLite's stored text (:func:`sqlite_text_of_wire_date`), or for PostgreSQL's COPY the
    text ``2026-03-02 15:33:05+07``, which the server parses. ``None`` for an empty value or
    one that is not a wire date-time."""
    convert = sqlite_text_of_wire_date if dialect == "sqlite" else _postgresql_text_of_wire_date
    try:
        distinct = set(values)
    except TypeError:  # an unhashable value: none of them is a date, but say so one by one
        return list(map(convert, values))
    texts = _texts_of_wire_dates(distinct, dialect == "sqlite")
    if texts is None:  # not all of them are wire dates: one by one
        texts = {value: convert(value) for value in distinct}
    return list(map(texts.__getitem__, values))


_WIRE_DATE_LINES = re.compile(f"(?:{WIRE_DATE_SHAPE})(?:\n(?:{WIRE_DATE_SHAPE}))*")
_STR_ONLY = frozenset({str})


def _texts_of_wire_dates(distinct: set[Any], sqlite: bool) -> dict[Any, str | None] | None:
    """The text of each of ``distinct`` when every one is empty or has the shape of a wire
    date-time, proved by one regular-expression pass over them all; None otherwise. Each
    value then costs a few slices: the per-value shape check cost about 2 ms per 1000
    records. Days 29-31 (the calendar) and, on SQLite, hours before 07:00 (the previous day
    in UTC) take the careful path."""
    texts: dict[Any, str | None] = dict.fromkeys(distinct)  # empty values stay None
    dates = [value for value in distinct if value]
    if not dates:
        return texts
    if not _STR_ONLY.issuperset(map(type, dates)):
        return None
    joined = "\n".join(dates)
    if joined.count("\n") != len(dates) - 1 or _WIRE_DATE_LINES.fullmatch(joined) is None:
        return None
    if sqlite:
        same_day = _SAME_DAY_UTC_HOUR.get
        for value in dates:
            hour = same_day(value[8:10])
            if hour is None or value[6:8] > "28":
                texts[value] = _sqlite_text_of_wire_string(value)
            else:
                texts[value] = _sqlite_text_of_shaped(value, hour)
    else:
        for value in dates:
            texts[value] = (
                _postgresql_text_of_wire_date(value)
                if value[6:8] > "28"
                else _postgresql_text_of_shaped(value)
            )
    return texts


def _sqlite_text_of_shaped(value: str, utc_hour: str) -> str:
    """The stored text of a wire date of the right shape whose UTC time is ``utc_hour`` on the
    same day."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]} {utc_hour}:{value[10:12]}:{value[12:]}.000000"


def _postgresql_text_of_shaped(value: str) -> str:
    """COPY text of a real wire date: the server parses it with its offset."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]} {value[8:10]}:{value[10:12]}:{value[12:]}+07"


def _postgresql_text_of_wire_date(value: object) -> str | None:
    if type(value) is not str or not _WIRE_DATE.fullmatch(value):
        return None
    if value[6:8] > "28" and parse_wire_date(value) is None:  # see WIRE_DATE_SHAPE
        return None
    return _postgresql_text_of_shaped(value)


_WIRE_DATE = re.compile(WIRE_DATE_SHAPE)
#: Vietnam hour -> UTC hour, for the hours that stay on the same day.
_SAME_DAY_UTC_HOUR = {f"{hour:02d}": f"{hour - 7:02d}" for hour in range(7, 24)}


def _sqlite_text_of_wire_string(value: str) -> str | None:
    hour = _SAME_DAY_UTC_HOUR.get(value[8:10])
    if hour is not None and _WIRE_DATE.fullmatch(value):
        if value[6:8] > "28" and parse_wire_date(value) is None:  # see WIRE_DATE_SHAPE
            return None
        return _sqlite_text_of_shaped(value, hour)
    parsed = parse_wire_date(value)
    return None if parsed is None else _sqlite_text(parsed)


@lru_cache(maxsize=65536)
def _sqlite_text(value: dt.datetime) -> str:
    # cached: a batch repeats its timestamps (the wire dates are cached the same way)
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {value.isoformat()}: give it a time zone")
    # the text SQLAlchemy's SQLite DATETIME writes: naive UTC, always with microseconds
    return (value.replace(tzinfo=None) - offset).isoformat(" ", "microseconds")


def _postgresql_datetime(value: dt.datetime | str | None) -> dt.datetime | str | None:
    if type(value) is str:
        return value  # text the server parses (wire_date_column)
    assert value is None or isinstance(value, dt.datetime)
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"naive datetime {value.isoformat()}: give it a time zone")
    return value


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, RawJson):
        return value.data.decode("utf-8")
    return orjson.dumps(value).decode("utf-8")


ColumnConverter = Callable[[Iterable[Any]], Iterable[Any]]
_TEXT_OR_NONE = frozenset({str, type(None)})


def _same(values: Iterable[Any]) -> Iterable[Any]:
    return values


def _each_distinct(convert: Converter) -> Callable[[Sequence[Any]], list[Any]]:
    """A column converter that converts each distinct value once (a batch repeats its
    timestamps: ``created_at`` is one value for the whole batch)."""

    def column(values: Sequence[Any]) -> list[Any]:
        try:
            converted = {value: convert(value) for value in set(values)}
        except TypeError:  # an unhashable value: let ``convert`` say what is wrong with it
            return list(map(convert, values))
        return list(map(converted.__getitem__, values))

    return column


_sqlite_datetime_values = _each_distinct(_sqlite_datetime)
_postgresql_datetime_values = _each_distinct(_postgresql_datetime)


def _sqlite_datetimes(column: Iterable[Any]) -> Sequence[Any]:
    values = _sequence(column)
    if _TEXT_OR_NONE.issuperset(map(type, values)):
        return values  # already the stored text (wire_date_column)
    return _sqlite_datetime_values(values)


def _postgresql_datetimes(column: Iterable[Any]) -> Sequence[Any]:
    values = _sequence(column)
    if _TEXT_OR_NONE.issuperset(map(type, values)):
        return values  # text with its offset, parsed by the server (wire_date_column)
    return _postgresql_datetime_values(values)


def _sequence(values: Iterable[Any]) -> Sequence[Any]:
    return values if isinstance(values, Sequence) else list(values)


def _json_texts(values: Iterable[Any]) -> Iterable[str | None]:
    # lazy: an iterator column stays one, so that PostgreSQL's COPY streams (insert_columns)
    return map(_json_text, values)


def _json_utf8(values: Iterable[Any]) -> list[bytes | None]:
    # SQLite: the UTF-8 bytes as they are, stored as TEXT by ``CAST(? AS TEXT)`` in the
    # statement; decoding to str only for the driver to encode it back cost about 3 ms per
    # 1000 records of Vietnamese text
    return [
        value.data
        if value.__class__ is RawJson
        else (None if value is None else orjson.dumps(value))
        for value in values
    ]


def _plan(table: Table, columns: Sequence[str], dialect: str) -> tuple[str, list[ColumnConverter]]:
    """The statement (SQLite: INSERT with ``?`` markers; PostgreSQL: COPY) and one column
    converter per column."""
    quote = '"{}"'.format
    converters: list[ColumnConverter] = []
    markers: list[str] = []
    for name in columns:
        column_type = table.c[name].type
        marker = "?"
        if isinstance(column_type, UtcDateTime):
            converters.append(_sqlite_datetimes if dialect == "sqlite" else _postgresql_datetimes)
        elif isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
            if dialect == "sqlite":
                # a BLOB cast to TEXT is read as text in the database's encoding (UTF-8)
                converters.append(_json_utf8)
                marker = "CAST(? AS TEXT)"
            else:
                converters.append(_json_texts)
        else:
            converters.append(_same)
        markers.append(marker)
    names = ", ".join(quote(c) for c in columns)
    if dialect == "postgresql":
        # COPY: one stream instead of one pipelined INSERT per row (about 3x less time in
        # psycopg and the server for 1000 rows); JSON goes as text, jsonb parses it
        return f"COPY {quote(table.name)} ({names}) FROM STDIN", converters
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join(markers)})", converters


_PLANS: dict[tuple[str, tuple[str, ...], str], tuple[str, list[ColumnConverter]]] = {}


def insert_rows(db: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys, column names) into ``model``'s table at once.

    In the session's current transaction: one ``executemany`` on SQLite, one ``COPY`` on
    PostgreSQL; no primary keys come back.
    """
    if rows:
        insert_columns(db, model, {name: [row[name] for row in rows] for name in rows[0]})


def insert_columns(db: Session, model: type[Base], columns: Mapping[str, Iterable[Any]]) -> None:
    """INSERT rows given as columns (column name -> one value per row, all the same length)
    into ``model``'s table at once, like :func:`insert_rows`: a caller that already holds its
    values column by column need not build a dict per row.

    A row that breaks a constraint raises :class:`sqlalchemy.exc.IntegrityError` on both
    databases; the transaction (or the caller's savepoint) must then be rolled back.

    A column may be an iterator, consumed once. On PostgreSQL the rows then go to the server
    as they are made: it parses the first rows (jsonb) while the iterator makes the next ones,
    instead of waiting for the whole batch.
    """
    if not columns:
        return
    table = inspect(model).local_table
    assert isinstance(table, Table)
    connection = db.connection()
    dialect = connection.dialect.name
    if dialect not in ("sqlite", "postgresql"):  # the two databases lienthong supports
        raise ValueError(f"unsupported database for bulk inserts: {dialect}")
    names = tuple(columns)
    key = (table.name, names, dialect)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _plan(table, names, dialect)
    statement, converters = plan
    values = [convert(columns[name]) for name, convert in zip(names, converters, strict=True)]
    if dialect == "postgresql":
        if all(isinstance(column, Sized) and not len(column) for column in values):
            return
        import psycopg  # loaded by SQLAlchemy already when the database is PostgreSQL

        driver = connection.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in zip(*values, strict=True):
                    copy.write_row(row)
        except psycopg.IntegrityError as error:
            # what an INSERT through SQLAlchemy (and SQLite's executemany here) raises
            raise IntegrityError(statement, None, error) from error
        return
    parameters = list(zip(*values, strict=True))
    if parameters:
        connection.exec_driver_sql(statement, parameters)


def in_values(db: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)`` for a batch of keys with one parameter instead of a thousand
    (compiling and binding 1000 parameters cost more than the lookup itself): on PostgreSQL
    ``column = ANY(:array)``, on SQLite ``column IN (SELECT value FROM json_each(:json))``."""
    if db.get_bind().dialect.name == "postgresql":
        parameter = bindparam(None, list(values), type_=ARRAY(column.type))
        return column == func.any(parameter)  # type: ignore[no-any-return]
    # SQLite: the keys as one JSON array, read back by json_each (same reason)
    keys = bindparam(None, orjson.dumps(list(values)).decode(), type_=String())
    each = func.json_each(keys).table_valued("value")
    rows = select(each.c.value)
    return column.in_(rows)  # type: ignore[no-any-return]
