"""Column-wise fast path for large batches: proves a whole batch clean without visiting each field.

A one-stop system sends its dossiers a thousand at a time and nearly every batch is clean. Instead
of checking record after record, :class:`BatchChecker` checks each field as a column: the set of
Python types present, the longest value, the set of distinct codes, one regular-expression pass
over all distinct identifiers joined by newlines. Those operations run in C, so a clean batch costs
a fraction of the record-by-record checker.

The contract is one-sided: ``ok(records)`` returns True only when the record-by-record checker
(:mod:`lienthong.spec.compiler`) would report no issue at all for any of the records. Whenever a
column holds anything unusual (a number where text is expected, a value the fast patterns do not
recognise), it answers False and the caller runs the exact checker, which names every problem.
A property test keeps the two in agreement.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

from lienthong.spec import identifiers
from lienthong.spec.catalog import Catalog, FieldSpec
from lienthong.spec.compiler import BOOL_TEXT, FORMAT_CHECKS, date_ok, in_range
from lienthong.spec.dates import WIRE_DATE_SHAPE, now_vietnam, parse_wire_date

_NONE = type(None)
_TEXT_TYPES = frozenset({str, _NONE})
_LIST_TYPES = frozenset({list, _NONE})
_DICT_ONLY = frozenset({dict})
_EMPTY = frozenset({None, ""})

# ASCII subsets of what the full identifier checks accept (see identifiers.py). A value that
# does not match is not necessarily wrong: the exact checker decides.
_FAST_PATTERNS = {
    "tthc_code": r"[0-9]\.[0-9]{6}",
    "linhvuc_code": r"[A-K][0-9]{2}-[0-9A-Z]{1,10}",
    "email": r"[A-Za-z0-9_+-]{1,30}(?:\.[A-Za-z0-9_+-]{1,15}){0,2}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?){0,2}\.[A-Za-z]{2,6}",
    "phone": r"0[1-9][0-9]{8,9}",
    "url": r"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?:/[!-~]*)?",
    "personal_id": r"[0-9]{12}",
    "social_insurance": r"[0-9]{10}",
}
_DOSSIER_TT01 = re.compile(
    r"([0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-K][0-9]{2})-([0-9]{6})-(?!0000)[0-9]{4}"
)


def _joined(pattern: str) -> re.Pattern[str]:
    return re.compile(f"(?:{pattern})(?:\n(?:{pattern}))*")


_FAST_JOINED = {name: _joined(pattern) for name, pattern in _FAST_PATTERNS.items()}
_DOSSIER_JOINED = _joined(_DOSSIER_TT01.pattern)
_WIRE_DATE_JOINED = _joined(WIRE_DATE_SHAPE)

ColumnCheck = Callable[[Sequence[Any]], bool]


def _distinct_text(column: Sequence[Any]) -> set[str]:
    values = set(column)
    values.difference_update(_EMPTY)
    return values


def _transpose(records: Sequence[dict[str, Any]]) -> dict[str, Sequence[Any]] | None:
    """Columns in one C-level pass when every record lists the same keys in the same order
    (records from one producer do); None otherwise."""
    first = list(records[0])
    if not all(map(first.__eq__, map(list, records))):
        return None
    return dict(zip(first, zip(*map(dict.values, records), strict=True), strict=True))


def _all_match(joined: re.Pattern[str], values: set[str]) -> bool:
    if not values:
        return True
    text = "\n".join(values)
    # a value holding a newline would split into two "lines": refuse (count differs)
    return text.count("\n") == len(values) - 1 and joined.fullmatch(text) is not None


class BatchChecker:
    """Checks a list of records of one shape column by column (see the module docstring)."""

    def __init__(
        self, catalog: Catalog, specs: Sequence[FieldSpec], today: dt.date | None = None
    ) -> None:
        self._today = today
        self._known = frozenset(spec.name for spec in specs)
        self._columns: list[tuple[str, ColumnCheck]] = [
            (spec.name, self._column_check(catalog, spec)) for spec in specs
        ]

    def ok(self, records: Sequence[Any]) -> bool:
        return self.clean_columns(records) is not None

    def clean_columns(self, records: Sequence[Any]) -> dict[str, Sequence[Any]] | None:
        """The batch as columns (field name -> values, None where absent) when it is clean;
        None as soon as any column might hold a problem."""
        if not records:
            return {}
        if not _DICT_ONLY.issuperset(map(type, records)):
            return None
        known = self._known
        columns = _transpose(records)
        if columns is None:
            if not all(map(known.issuperset, records)):
                return None
            columns = {}
        elif not known.issuperset(columns):  # one shape: the first record's keys are all keys
            return None
        for name, check in self._columns:
            column = columns.get(name)
            if column is None:
                column = columns[name] = list(map(dict.get, records, repeat(name)))
            if not check(column):
                return None
        return columns

    # -- column checks -------------------------------------------------------------------------

    def _column_check(self, catalog: Catalog, spec: FieldSpec) -> ColumnCheck:
        if spec.type == "array":
            return self._array_check(catalog, spec)
        if spec.type == "string_array":
            return lambda column: False  # rare: leave it to the exact checker
        value_check = self._value_check(catalog, spec)
        required, limit = spec.required, spec.max_length

        def check(column: Sequence[Any]) -> bool:
            if not _TEXT_TYPES.issuperset(map(type, column)):
                return False
            if required and (None in column or "" in column):
                return False
            if limit is not None and max(map(len, filter(None, column)), default=0) > limit:
                return False
            return value_check is None or value_check(column)

        return check

    def _array_check(self, catalog: Catalog, spec: FieldSpec) -> ColumnCheck:
        items_checker = BatchChecker(catalog, spec.fields, self._today)
        required = spec.required

        def check(column: Sequence[Any]) -> bool:
            if not _LIST_TYPES.issuperset(map(type, column)):
                return False
            if required and None in column:
                return False
            return items_checker.ok([item for items in column if items for item in items])

        return check

    def _value_check(self, catalog: Catalog, spec: FieldSpec) -> ColumnCheck | None:
        if spec.codes is not None:
            allowed = frozenset(catalog.code_lists[spec.codes].codes) | _EMPTY
            return lambda column: allowed.issuperset(column)
        if spec.type == "bool":
            allowed_flags = BOOL_TEXT | _EMPTY
            return lambda column: allowed_flags.issuperset(column)
        if spec.type in ("integer", "decimal") and spec.format is None:
            pattern = re.compile(
                r"-?[0-9]+" if spec.type == "integer" else r"-?[0-9]+(?:\.[0-9]+)?"
            )
            low, high = spec.minimum, spec.maximum
            if low is None and high is None:
                return lambda column: all(pattern.fullmatch(v) for v in _distinct_text(column))
            return lambda column: all(
                pattern.fullmatch(v) and in_range(v, low, high) for v in _distinct_text(column)
            )
        if spec.type == "date":
            return self._date_check(spec.date_formats)
        if spec.format == "dossier_code":
            return self._dossier_codes
        if spec.format in _FAST_JOINED:
            joined = _FAST_JOINED[spec.format]
            return lambda column: _all_match(joined, _distinct_text(column))
        if spec.format is not None:
            full = FORMAT_CHECKS[spec.format]
            warnings = identifiers.WARNING_CODES

            def distinct_values(column: Sequence[Any]) -> bool:
                for value in _distinct_text(column):
                    problem = full(value)
                    if problem is not None and problem.code not in warnings:
                        return False
                return True

            return distinct_values
        return None

    @staticmethod
    def _date_check(formats: tuple[str, ...]) -> ColumnCheck:
        seen = set[str]()

        def each_value(values: set[str]) -> bool:
            return all(v in seen or date_ok(v, formats, seen) for v in values)

        if "yyyyMMddHHmmss" not in formats:
            return lambda column: each_value(_distinct_text(column))

        def wire_dates(column: Sequence[Any]) -> bool:
            values = _distinct_text(column)
            if not _all_match(_WIRE_DATE_JOINED, values):
                return each_value(values)  # another admitted format, or a wrong date
            return each_value({v for v in values if v[6:8] > "28"})  # see WIRE_DATE_SHAPE

        return wire_dates

    def _dossier_codes(self, column: Sequence[Any]) -> bool:
        """TT 01/2018 codes: shape in one pass, then each distinct unit and receipt date once."""
        values = _distinct_text(column)
        if not _all_match(_DOSSIER_JOINED, values):
            return False
        today = (self._today or now_vietnam().date()).strftime("%y%m%d")
        units = {value[:13] for value in values}
        days = {value[14:20] for value in values}
        for unit in units:
            problem = identifiers.check_agency_code(unit)
            if problem is not None and problem.code not in identifiers.WARNING_CODES:
                return False
        # two-digit years: 20YY, as the exact checker reads them; not after today
        return all(day <= today and parse_wire_date("20" + day, "yyyyMMdd") for day in days)
