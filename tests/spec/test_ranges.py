"""Integer ranges of the catalog (field.range): values the services cannot hold are refused."""

from __future__ import annotations

import pytest

from lienthong.spec import Validator, load_catalog
from lienthong.spec.stats import month_bounds


@pytest.mark.parametrize("profile", ["qcvn120-2019", "dvcqg-2025"])
@pytest.mark.parametrize(
    ("year", "refused"),
    [
        ("0", True),
        ("-1", True),
        ("10000", True),
        ("9" * 5000, True),
        ("1900", False),
        ("9999", False),
    ],
)
def test_reconciliation_year_is_bounded(profile: str, year: str, refused: bool) -> None:
    validator = Validator(load_catalog(profile))
    envelope = {
        "madonvi": "000.00.00.H26",
        "service": "DoiSoatThongKeHoSo",
        "Nam": year,
        "Thang": "12",
    }
    result = validator.validate_envelope(envelope, scan_unicode=False)
    codes = [issue.code for issue in result.issues if issue.is_error]
    assert ("field.range" in codes) is refused


def test_last_month_of_the_calendar_has_bounds() -> None:
    start, end = month_bounds(9999, 12)
    assert start < end
