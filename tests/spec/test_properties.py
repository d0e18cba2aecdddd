"""Property tests: records generated from the catalog, hostile JSON, checker/model agreement.

The valid-record strategy is built by walking the catalog (types, code lists, formats, lengths,
required flags), so a change to the catalog changes what is generated. Packet rules that tie
fields together (date order, status 10 needs NgayTra, statistics totals, survey percentages) are
honoured by per-packet adjustments.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lienthong.spec import (
    ISSUE_CODES,
    VIETNAM,
    CheckedDocument,
    EnvelopeResult,
    FieldSpec,
    Issue,
    PacketKind,
    PacketSpec,
    Validator,
    check_bytes,
    format_wire_date,
    load_catalog,
    model_for,
)
from lienthong.spec.compiler import BOOL_TEXT, FORMAT_CHECKS
from lienthong.spec.identifiers import check_agency_open

CATALOG = load_catalog("qcvn120-2019")
VALIDATOR = Validator(CATALOG)
PUSH = [name for name, packet in CATALOG.packets.items() if packet.kind is PacketKind.PUSH]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Building a model instance re-runs the checker; fewer examples keep these tests quick.
MODEL_SETTINGS = settings(SETTINGS, max_examples=60)

# -- valid values, from the catalog ---------------------------------------------------------------

OPEN_UNITS_QCVN102 = ("000.00.13.H56", "000.00.12.H19", "000.00.00.H56", "000.00.00.G22")
OPEN_UNITS_QD20 = ("G09.20", "G12")
FORMAT_POOL: dict[str, tuple[str, ...]] = {
    "agency_code": OPEN_UNITS_QCVN102 + OPEN_UNITS_QD20,
    "tthc_code": ("1.001612", "2.000908", "1.004227", "3.000181.000.00.00.H56"),
    "linhvuc_code": ("G09-TL01", "G15-HT01", "G12-DK01", "H56-A"),
    "personal_id": ("038099012345", "001201012345", "079305000001"),
    "social_insurance": ("3812345678", "0101234567"),
    "email": ("lienhe@example.vn", "an.nguyen@example.vn", "mot_cua+hs@thanhhoa.gov.vn"),
    "phone": ("0912345678", "0237 3852 123", "+84912345678", "1900 1234"),
    "url": (
        "https://motcua.example.gov.vn/files/1",
        "http://dvc.thanhhoa.gov.vn/tai-lieu?id=48213&download=true",
    ),
    "percent": ("0", "50", "97.50", "71%", "100", "2.5 %"),
    "month_year": ("7-2024", "12-2023", "01-2025"),
}

MOMENTS = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),
    max_value=dt.datetime(2025, 12, 31, 23, 59, 59),
    timezones=st.just(VIETNAM),
)
# any Unicode scalar value but NUL (refused: field.nul, PostgreSQL cannot store it), no surrogates
TEXT = st.characters(codec="utf-8", exclude_characters="\x00")
ABSENT_OR_EMPTY = st.sampled_from(["", None])


def render_date(moment: dt.datetime, fmt: str) -> str:
    if fmt == "yyyyMMddHHmmss":
        return format_wire_date(moment)
    local = moment.astimezone(VIETNAM)
    return local.strftime("%d/%m/%Y") if fmt == "dd/MM/yyyy" else local.strftime("%Y%m%d")


@st.composite
def dossier_codes(draw: st.DrawFn, received: dt.datetime | None = None) -> str:
    day = (received or draw(MOMENTS)).astimezone(VIETNAM)
    if draw(st.booleans()):
        unit = draw(st.sampled_from(OPEN_UNITS_QCVN102))
        return f"{unit}-{day:%y%m%d}-{draw(st.integers(1, 9999)):04d}"
    unit = draw(st.sampled_from(OPEN_UNITS_QD20))
    return f"{unit}-{day:%Y%m%d}-{draw(st.integers(1, 9_999_999)):07d}"


def value_strategy(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Valid, non-empty values of one field, in wire form (strings, lists of records)."""
    if spec.type == "array":
        return st.lists(record_strategy(spec.fields), max_size=2)
    if spec.type == "string_array":
        return st.lists(st.text(TEXT, max_size=10), max_size=3)
    if spec.codes is not None:
        return st.sampled_from(CATALOG.code_lists[spec.codes].codes)
    if spec.format == "dossier_code":
        return dossier_codes()
    if spec.format is not None:
        return st.sampled_from(FORMAT_POOL[spec.format])
    if spec.type == "date":
        return st.builds(render_date, MOMENTS, st.sampled_from(spec.date_formats))
    if spec.type == "integer":  # within the field's bounds, when the catalog gives them
        low = -(10**6) if spec.minimum is None else max(spec.minimum, -(10**6))
        high = 10**12 if spec.maximum is None else min(spec.maximum, 10**12)
        return st.integers(low, high).map(str)
    if spec.type == "decimal":
        whole = st.integers(0, 10**9).map(str)
        fraction = st.tuples(st.integers(0, 10**6), st.integers(0, 999)).map(
            lambda p: f"{p[0]}.{p[1]:03d}"
        )
        return whole | fraction
    if spec.type == "bool":
        return st.sampled_from(sorted(BOOL_TEXT))
    limit = min(spec.max_length or 40, 40)
    return st.text(TEXT, min_size=1, max_size=limit)


def field_strategy(spec: FieldSpec) -> st.SearchStrategy[Any]:
    value = value_strategy(spec)
    if spec.required:
        return value
    if spec.type in ("array", "string_array"):
        return value | st.none()  # None means "not given"; [] is a value
    return value | ABSENT_OR_EMPTY  # "" means "not given", as one-stop systems send it


def record_strategy(specs: tuple[FieldSpec, ...]) -> st.SearchStrategy[dict[str, Any]]:
    required = {spec.name: field_strategy(spec) for spec in specs if spec.required}
    optional = {spec.name: field_strategy(spec) for spec in specs if not spec.required}
    return st.fixed_dictionaries(required, optional=optional)


# -- packet rules ---------------------------------------------------------------------------------


def _given(record: dict[str, Any], name: str) -> bool:
    return record.get(name) not in (None, "")


@st.composite
def dossier_rules(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    received = draw(MOMENTS)
    record["NgayTiepNhan"] = format_wire_date(received)
    record["MaHoSo"] = draw(dossier_codes(received))
    if record["TrangThaiHoSo"] == "10" and not _given(record, "NgayTra"):
        record["NgayTra"] = "placeholder"
    for later in ("NgayHenTra", "NgayTra", "NgayKetThucXuLy"):
        if _given(record, later):
            delay = draw(st.timedeltas(dt.timedelta(0), dt.timedelta(days=60)))
            record[later] = format_wire_date(received + delay)
    return record


@st.composite
def progress_rules(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    if _given(record, "NgayBatDau") and _given(record, "NgayKetThucTheoQuyDinh"):
        start = draw(MOMENTS)
        delay = draw(st.timedeltas(dt.timedelta(0), dt.timedelta(days=60)))
        record["NgayBatDau"] = format_wire_date(start)
        record["NgayKetThucTheoQuyDinh"] = format_wire_date(start + delay)
    return record


def _percent_text(value: float, decimals: int, sign: str) -> str:
    return f"{value:.{decimals}f}{sign}"


@st.composite
def survey_rules(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    very = draw(st.integers(0, 100))
    satisfied = draw(st.integers(0, 100 - very))
    parts = (very, satisfied, 100 - very - satisfied)
    names = ("PhanTramDanhGiaRatHaiLong", "PhanTramDanhGiaHaiLong", "PhanTramDanhGiaChuaHaiLong")
    for name, part in zip(names, parts, strict=True):
        if name in record:
            decimals, sign = draw(st.sampled_from([0, 1, 2])), draw(st.sampled_from(["", "%"]))
            record[name] = _percent_text(part, decimals, sign)
    return record


@st.composite
def statistics_rules(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    counts = st.integers(0, 5000)
    on_time, late, within, overdue = draw(counts), draw(counts), draw(counts), draw(counts)
    processed, pending = on_time + late, within + overdue
    total = processed + pending
    received = draw(st.integers(0, total))
    values = {
        "Thang": draw(st.integers(1, 12)),
        "Nam": draw(st.integers(2020, 2025)),
        "SoNhanTrongKy": received,
        "SoTonKyTruoc": total - received,
        "TongSoXuLy": total,
        "TongDaXuLy": processed,
        "TongXuLyDungHan": on_time,
        "TongXuLyTreHan": late,
        "TongChuaXuLy": pending,
        "TongChuaXuLyTrongHan": within,
        "TongChuaXuLyTreHan": overdue,
    }
    for name, count in values.items():
        if name in record and record[name] not in (None, ""):
            record[name] = str(count)
    percents = {
        "PhanTramXuLyDungHan": (on_time, processed),
        "PhanTramXuLyTreHan": (late, processed),
        "PhanTramChuaXuLyTrongHan": (within, pending),
        "PhanTramChuaXuLyTreHan": (overdue, pending),
    }
    for name, (part, whole) in percents.items():
        if _given(record, name):
            exact = 0.0 if whole == 0 else 100.0 * part / whole  # as the rule computes it
            decimals, sign = draw(st.sampled_from([0, 1, 2])), draw(st.sampled_from(["", "%"]))
            record[name] = _percent_text(exact, decimals, sign)
    return record


RULE_ADJUSTMENTS: dict[str, Callable[[dict[str, Any]], st.SearchStrategy[dict[str, Any]]]] = {
    "dossier_dates": dossier_rules,
    "progress_dates": progress_rules,
    "survey_percentages": survey_rules,
    "stats_totals": statistics_rules,
}
HANDLED_ELSEWHERE = {"dossier_returned", "dossier_code_unit"}  # inside dossier_rules


def valid_records(name: str) -> st.SearchStrategy[dict[str, Any]]:
    packet = CATALOG.packet(name)
    strategy = record_strategy(packet.fields)
    for rule in packet.rules:
        if rule in RULE_ADJUSTMENTS:
            strategy = strategy.flatmap(RULE_ADJUSTMENTS[rule])
        else:
            assert rule in HANDLED_ELSEWHERE, f"no generator adjustment for rule {rule}"
    return strategy


def envelopes(name: str) -> st.SearchStrategy[dict[str, Any]]:
    packet = CATALOG.packet(name)
    header = {
        "session": st.just("c2Vzc2lvbi10b2tlbi1leGFtcGxl"),
        "madonvi": st.sampled_from(OPEN_UNITS_QCVN102),
        "service": st.just(name),
    }
    return st.builds(
        lambda head, params, data: {**head, **params, "data": data},
        st.fixed_dictionaries(header),
        record_strategy(packet.params),
        st.lists(valid_records(name), min_size=1, max_size=2),
    )


def issue_problems(issues: list[Issue]) -> list[str]:
    return [f"{issue.path} {issue.code}: {issue.en}" for issue in issues if issue.is_error]


# -- the pool and the strategy themselves ---------------------------------------------------------


def test_the_format_pool_holds_only_valid_values() -> None:
    for name, values in FORMAT_POOL.items():
        for value in values:
            assert FORMAT_CHECKS[name](value) is None, (name, value)
    for unit in FORMAT_POOL["agency_code"]:
        assert check_agency_open(unit, dt.date(2026, 1, 1)) is None, unit


def test_every_push_packet_is_covered() -> None:
    assert set(PUSH) >= {"DongBoHoSoMC", "CapNhatTienDoHoSoMC", "DongBoThongKeHoSo"}
    for name in PUSH:
        for rule in CATALOG.packet(name).rules:
            assert rule in RULE_ADJUSTMENTS or rule in HANDLED_ELSEWHERE, (name, rule)


# -- generated records are valid and round-trip through the models --------------------------------


@pytest.mark.parametrize("name", PUSH)
@SETTINGS
@given(data=st.data())
def test_generated_records_validate(name: str, data: st.DataObject) -> None:
    record = data.draw(valid_records(name))
    result = VALIDATOR.validate_record(name, record)
    assert result.ok, issue_problems(result.issues)
    envelope = data.draw(envelopes(name))
    checked = VALIDATOR.validate_envelope(envelope)
    assert checked.ok, issue_problems(checked.all_issues())
    assert len(checked.accepted) == len(envelope["data"])
    codes = {issue.code for issue in checked.all_issues()}
    assert codes <= {"packet.provisional"}
    assert ("packet.provisional" in codes) == CATALOG.packet(name).is_provisional


@pytest.mark.parametrize("name", PUSH)
@MODEL_SETTINGS
@given(data=st.data())
def test_generated_records_round_trip_through_the_model(name: str, data: st.DataObject) -> None:
    record = data.draw(valid_records(name))
    model = model_for(name, CATALOG)
    instance = model.model_validate(record)
    wire = instance.to_wire()
    assert model.model_validate(wire) == instance
    assert wire == record
    assert json.loads(json.dumps(wire, ensure_ascii=False)) == record


# -- hostile JSON never raises --------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None), max_size=20)
    | st.sampled_from(["", "0", "1", "10", "True", "20240715083000", "000.00.00.H56"])
)
KEYS = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(
    ["data", "service", "session", "madonvi", "MaHoSo", "NgayTiepNhan", "TaiLieuNop"]
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=25,
)
SERVICES = st.sampled_from(sorted(CATALOG.packets)) | st.text(
    st.characters(codec=None), max_size=20
)
DOSSIER_FIELDS = [spec.name for spec in CATALOG.packet("DongBoHoSoMC").fields]


def assert_well_formed(issues: list[Issue]) -> None:
    for issue in issues:
        assert issue.code in ISSUE_CODES, issue.code
        assert issue.path.startswith("$"), issue.path
        assert issue.vi and issue.en, issue
        assert issue.severity is ISSUE_CODES[issue.code].severity or issue.code.startswith(
            "field.unknown"
        )


def assert_result(result: EnvelopeResult) -> None:
    assert isinstance(result, EnvelopeResult)
    assert_well_formed(result.all_issues())
    for record in result.records:
        assert record.path.startswith("$")


@SETTINGS
@given(envelope=JSON_VALUES)
def test_any_json_as_the_envelope(envelope: Any) -> None:
    assert_result(VALIDATOR.validate_envelope(envelope))


@SETTINGS
@given(
    service=SERVICES,
    data=JSON_VALUES,
    extra=st.dictionaries(KEYS, JSON_VALUES, max_size=3),
    session=SCALARS,
    unit=SCALARS,
)
def test_any_json_as_data(
    service: Any, data: Any, extra: dict[str, Any], session: Any, unit: Any
) -> None:
    envelope = {**extra, "session": session, "madonvi": unit, "service": service, "data": data}
    result = VALIDATOR.validate_envelope(envelope)
    assert_result(result)
    packet = CATALOG.packets.get(service) if isinstance(service, str) else None
    if packet is not None and packet.kind is PacketKind.PUSH and isinstance(data, list):
        assert len(result.records) == len(data)


@SETTINGS
@given(service=st.sampled_from(PUSH), records=st.lists(JSON_VALUES, max_size=5))
def test_any_json_as_records(service: str, records: list[Any]) -> None:
    envelope = {"session": "s", "madonvi": "000.00.00.H56", "service": service, "data": records}
    result = VALIDATOR.validate_envelope(envelope)
    assert_result(result)
    assert len(result.records) == len(records)
    for record, value in zip(result.records, records, strict=True):
        if not isinstance(value, dict):
            assert [i.code for i in record.issues] == ["record.not_object"]


@SETTINGS
@given(
    data=st.data(),
    changes=st.dictionaries(st.sampled_from(DOSSIER_FIELDS), JSON_VALUES, min_size=1, max_size=4),
)
def test_any_json_as_dossier_field_values(data: st.DataObject, changes: dict[str, Any]) -> None:
    record = {**data.draw(valid_records("DongBoHoSoMC")), **changes}
    envelope = {
        "session": "s",
        "madonvi": "000.00.00.H56",
        "service": "DongBoHoSoMC",
        "data": [record],
    }
    result = VALIDATOR.validate_envelope(envelope)
    assert_result(result)
    assert_result(VALIDATOR.validate_envelope(envelope, scan_unicode=False))
    assert_well_formed(VALIDATOR.validate_record("DongBoHoSoMC", record).issues)


@SETTINGS
@given(service=st.sampled_from(sorted(CATALOG.packets)), response=JSON_VALUES)
def test_any_json_as_a_share_answer(service: str, response: Any) -> None:
    assert_result(VALIDATOR.validate_response(service, response))
    assert_result(VALIDATOR.validate_response(service, {"error_code": 0, "result": response}))


def assert_documents(documents: list[CheckedDocument]) -> None:
    for document in documents:
        assert isinstance(document, CheckedDocument)
        assert_well_formed(document.all_issues())


@SETTINGS
@given(data=st.binary(max_size=2000), packet=st.none() | st.sampled_from(sorted(CATALOG.packets)))
def test_check_bytes_never_raises_on_arbitrary_bytes(data: bytes, packet: str | None) -> None:
    assert_documents(check_bytes(data, VALIDATOR, "input", packet=packet))


@SETTINGS
@given(
    values=st.lists(JSON_VALUES, min_size=1, max_size=3),
    ascii_only=st.booleans(),
    cut=st.integers(0, 50),
    packet=st.none() | st.sampled_from(PUSH),
)
def test_check_bytes_never_raises_on_json_text(
    values: list[Any], ascii_only: bool, cut: int, packet: str | None
) -> None:
    # ensure_ascii writes lone surrogates as \\ud800 escapes: the lenient parsing path
    lines = [json.dumps(value, ensure_ascii=ascii_only) for value in values]
    text = "\n".join(lines)
    payloads = [
        text.encode("utf-8", "surrogatepass"),
        text.encode("utf-8", "surrogatepass")[: -cut or None],
    ]
    for payload in payloads:
        assert_documents(check_bytes(payload, VALIDATOR, "input", packet=packet))


# -- the compiled checker and the pydantic model agree --------------------------------------------


def model_accepts(name: str, record: Any) -> bool:
    try:
        model_for(name, CATALOG).model_validate(record)
    except ValidationError:
        return False
    return True


def packet_field_names(packet: PacketSpec) -> list[str]:
    return [spec.name for spec in packet.fields] + ["TruongLa"]


@MODEL_SETTINGS
@given(data=st.data(), name=st.sampled_from(PUSH))
def test_checker_and_model_agree_on_valid_records(data: st.DataObject, name: str) -> None:
    record = data.draw(valid_records(name))
    assert VALIDATOR.validate_record(name, record).ok
    assert model_accepts(name, record)


@MODEL_SETTINGS
@given(data=st.data(), name=st.sampled_from(PUSH), value=JSON_VALUES)
def test_checker_and_model_agree_on_mutated_records(
    data: st.DataObject, name: str, value: Any
) -> None:
    record = data.draw(valid_records(name))
    field = data.draw(st.sampled_from(packet_field_names(CATALOG.packet(name))))
    record[field] = value
    ok = VALIDATOR.validate_record(name, record).ok
    assert ok == model_accepts(name, record), (field, value)


@MODEL_SETTINGS
@given(name=st.sampled_from(PUSH), value=JSON_VALUES)
def test_checker_and_model_agree_on_any_json(name: str, value: Any) -> None:
    ok = VALIDATOR.validate_record(name, value).ok
    assert ok == model_accepts(name, value)


def test_huge_python_int_never_raises() -> None:
    record = {"TrichYeuHoSo": 10**5000}
    result = VALIDATOR.validate_record("DongBoHoSoMC", record)
    assert not result.ok
