"""The column-wise fast path never changes a result: mutated batches through both paths agree."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lienthong.demo import dossier_envelope, dossiers
from lienthong.spec import Validator, load_catalog
from lienthong.spec import validate as validate_module
from lienthong.spec.batch import BatchChecker

BASE = dossiers(24, seed=7)
FIELDS = sorted(BASE[0])
NESTED = ["TenTepDinhKem", "IsDeleted", "DuongDanTaiTepTin", "MaThanhPhanHoSo"]

# Values near the edges of every rule: valid ones, wrong types, wrong codes, bad identifiers.
VALUES: list[Any] = [
    "",
    None,
    0,
    7,
    1.5,
    True,
    [],
    {},
    ["x"],
    "10",
    "11",
    "2",
    "True",
    "maybe",
    "20240230000000",
    "20240101000000",
    "20991231000000",
    # the calendar edges of the wire-date column check (one regex pass, then days 29-31)
    "20240229235959",
    "20230229120000",
    "20240431080000",
    "20241301000000",
    "20240100000000",
    "20240101240000",
    "20240101006000",
    "18991231000000",
    "22000101000000",
    "01/02/2024",
    "000.00.01.H22-250801-0001",
    "000.00.01.H22-240801-0001",
    "000.00.13.H56-260302-0000",
    "000.01.00.H56-260302-0001",
    "G09.20-20260609-0092637",
    "1.001612",
    "1.00161",
    "G12-DK01",
    "a@b",
    "an.nguyen@example.vn",
    "0912345678",
    "091234567",
    "+84912345678",
    "https://a.example.vn/x",
    "ftp://a",
    "x" * 1001,
    "dòng\nmới",
    "ký tự Việt",
    "000.00.01.H22-250801-" + "1" * 70,  # a key longer than the shown 80 characters
]

mutation = st.tuples(
    st.integers(0, len(BASE) - 1),
    st.sampled_from(FIELDS + [f"TaiLieuNop.{n}" for n in NESTED] + ["Extra"]),
    st.sampled_from(VALUES),
)


def _apply(records: list[dict[str, Any]], index: int, field: str, value: Any) -> None:
    record = records[index]
    if field.startswith("TaiLieuNop."):
        files = record.get("TaiLieuNop")
        if isinstance(files, list) and files and isinstance(files[0], dict):
            files[0][field.split(".", 1)[1]] = value
    else:
        record[field] = value


def _outcome(validator: Validator, envelope: dict[str, Any]) -> list[tuple[Any, ...]]:
    result = validator.validate_envelope(envelope, scan_unicode=False)
    return [
        (r.index, r.path, r.key, sorted((i.code, i.path) for i in r.issues)) for r in result.records
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutation, max_size=3))
def test_fast_path_and_exact_checker_agree(mutations: list[tuple[int, str, Any]]) -> None:
    records = copy.deepcopy(BASE)
    for index, field, value in mutations:
        _apply(records, index, field, value)
    envelope = dossier_envelope(records)
    validator = Validator(load_catalog("qcvn120-2019"))
    fast = _outcome(validator, envelope)
    original = validate_module.BATCH_FAST_PATH_MIN
    validate_module.BATCH_FAST_PATH_MIN = 10**9
    try:
        exact = _outcome(validator, envelope)
    finally:
        validate_module.BATCH_FAST_PATH_MIN = original
    assert fast == exact


def test_a_clean_batch_takes_the_fast_path() -> None:
    catalog = load_catalog("qcvn120-2019")
    checker = BatchChecker(catalog, catalog.packet("DongBoHoSoMC").fields)
    assert checker.ok(BASE)
    broken = copy.deepcopy(BASE)
    broken[5]["TaiLieuNop"][0]["IsDeleted"] = "maybe"
    assert not checker.ok(broken)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Email", "a..b@example.vn"),
        ("MaHoSo", "000.00.13.H56-240231-0001"),
        ("SoDienThoai", 912345678),
    ],
)
def test_fast_path_steps_aside_for_values_it_cannot_prove(field: str, value: Any) -> None:
    catalog = load_catalog("qcvn120-2019")
    checker = BatchChecker(catalog, catalog.packet("DongBoHoSoMC").fields)
    records = copy.deepcopy(BASE)
    records[3][field] = value
    assert not checker.ok(records)


@pytest.mark.parametrize(
    ("value", "clean"),
    [
        ("20240229235959", True),  # leap day
        ("20230229120000", False),  # not a leap year
        ("20240431080000", False),  # April has 30 days
        ("20241231235959", True),
        ("20241301000000", False),
        ("20240101240000", False),
        ("18991231000000", False),
        ("01/02/2024", False),  # a date, but not in the field's format
    ],
)
def test_the_date_column_check_knows_the_calendar(value: str, clean: bool) -> None:
    catalog = load_catalog("qcvn120-2019")
    checker = BatchChecker(catalog, catalog.packet("DongBoHoSoMC").fields)
    records = copy.deepcopy(BASE)
    records[3]["NgayTiepNhan"] = value
    assert checker.ok(records) is clean
