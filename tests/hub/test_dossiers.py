"""Small pure parts of hub/dossiers.py."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from lienthong.hub.dossiers import _validated_unit
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
