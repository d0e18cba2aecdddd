"""Small pure parts of hub/dossiers.py."""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given
from hypothesis import strategies as st

from lienthong.hub.dossiers import _validated_unit, record_time_text, record_time_texts
from lienthong.spec.identifiers import parse_dossier_code

TT01_UNITS = st.sampled_from(["000.00.00.H56", "000.00.13.H56", "000.00.00.G12", "000.23.45.H01"])
NEW_UNITS = st.sampled_from(["H56", "H56.13", "G12.ABC", "H01.2.45"])
DAYS = st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2025, 12, 31))


@given(st.booleans(), TT01_UNITS, NEW_UNITS, DAYS, st.integers(1, 9999))
def test_the_cheap_unit_of_a_valid_code_is_the_parsed_one(
    new_style: bool, tt01_unit: str, new_unit: str, day: dt.date, sequence: int
) -> None:
    """sync_dossiers reads the unit of validated codes without re-parsing them."""
    if new_style:
        code = f"{new_unit}-{day:%Y%m%d}-{sequence:07d}"
    else:
        code = f"{tt01_unit}-{day:%y%m%d}-{sequence:04d}"
    parsed = parse_dossier_code(code)
    assert parsed is not None, code
    assert _validated_unit(code) == parsed.unit


def test_both_formats() -> None:
    assert _validated_unit("000.00.13.H56-260302-0001") == "000.00.13.H56"
    assert _validated_unit("H56.13-20260302-0000001") == "H56.13"


WIRE_VALUES = st.sampled_from(
    [None, "", "20260302080000", "20260302073500", "20260303090000", "21991231235959"]
)
ODD_VALUES = st.one_of(
    WIRE_VALUES,
    st.sampled_from(["31/12/2025", "2026030208000", "2026030208000a", "20260302080000\n"]),
    st.sampled_from(["٢٠٢٦٠٣٠٢٠٨٠٠٠٠"]),
    st.integers(0, 3),
    st.lists(st.just("20270101000000"), max_size=1),
)


def _columns(odd: bool) -> st.SearchStrategy[list[tuple[object, object, object, object]]]:
    """Records as (received, finished, returned, supplement rounds): wire dates and empty
    values, or with ``odd`` other text, numbers and lists too."""
    values = ODD_VALUES if odd else WIRE_VALUES
    rounds: st.SearchStrategy[object] = st.one_of(
        st.none(),
        st.just([]),
        st.lists(
            st.dictionaries(st.sampled_from(["NgayBoSung", "NgayTiepNhanBoSung"]), values),
            max_size=2,
        ),
    )
    return st.lists(st.tuples(values, values, values, rounds), max_size=8)


@given(st.booleans().flatmap(_columns))
@example([("20260302080000\n", "20260302073500", None, None)])  # a line break in a value
@example([("20260302080000", "", None, [{"NgayBoSung": "20260303090000"}])])
def test_the_record_times_of_a_column_are_those_of_each_record(
    records: list[tuple[object, object, object, object]],
) -> None:
    """The column form of a record's status time (the clean-batch path) equals the record by
    record one, whatever the values (wire dates, other text, numbers, lists)."""
    columns = [list(column) for column in zip(*records, strict=True)] or [[], [], [], []]
    assert record_time_texts(*columns) == list(map(record_time_text, *columns))
