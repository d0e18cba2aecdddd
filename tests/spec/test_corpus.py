"""The test corpus: curated valid packets pass, each broken packet yields exactly its issues.

``corpus/valid/<Packet>.json``: for every packet of the base profile, the request envelope (push
packets) or the answer ``{"error_code": 0, "result": [...]}`` (share packets), taken from the
curated samples (``spec/data/samples.yaml``); ``<Packet>--<what>.json`` files are extra valid
cases. They validate in strict mode with no error and no warning but ``packet.provisional``.

``corpus/broken/<Packet>--<what>.json``: ``{"expect": [{"code", "path"}], "input": ...,
"packet": ...}``. Each one breaks exactly one rule; ``expect`` lists every error it must raise
(lenient mode), no more and no less. ``packet`` names the packet of an answer or bare record;
envelopes carry their own ``service``. ``input_file`` (instead of ``input``) names a sibling file
read as raw bytes, for inputs that are not JSON at all.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lienthong.spec import (
    ISSUE_CODES,
    CheckedDocument,
    Issue,
    PacketKind,
    Validator,
    check_bytes,
    load_catalog,
)
from lienthong.spec.samples import sample

CORPUS = Path(__file__).parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.json"))
BROKEN = sorted((CORPUS / "broken").glob("*.json"))
SAMPLES_YAML = Path(__file__).parents[2] / "src" / "lienthong" / "spec" / "data" / "samples.yaml"

CATALOG = load_catalog("qcvn120-2019")
STRICT = Validator(CATALOG, strict=True)
LENIENT = Validator(CATALOG)

ALLOWED_WARNINGS = {"packet.provisional"}

MUST_COVER = {
    "field.required",
    "field.type",
    "field.too_long",
    "field.code",
    "field.date",
    "field.integer",
    "field.bool",
    "field.nul",
    "date.order",
    "dossier.returned_without_date",
    "dossier.unit_closed",
    "dossier_code.format",
    "dossier_code.date",
    "agency.hierarchy",
    "agency.closed",
    "email.format",
    "phone.format",
    "url.format",
    "stats.sum",
    "stats.percent",
    "survey.percent_sum",
    "envelope.missing",
    "envelope.unknown_service",
    "envelope.data_not_array",
}


def packet_of(path: Path) -> str:
    return path.stem.split("--", 1)[0]


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8"))


def input_bytes(path: Path, case: dict[str, Any]) -> bytes:
    if "input_file" in case:
        return (path.parent / case["input_file"]).read_bytes()
    # ensure_ascii keeps lone surrogates as \ud800 escapes, exactly as a lenient sender writes them
    return json.dumps(case["input"]).encode("ascii")


def check_case(path: Path, validator: Validator) -> list[CheckedDocument]:
    case = load(path)
    return check_bytes(input_bytes(path, case), validator, path.name, packet=case.get("packet"))


def issues_of(documents: list[CheckedDocument]) -> list[Issue]:
    return [issue for document in documents for issue in document.all_issues()]


def shown(issues: list[Issue]) -> list[str]:
    return [f"{i.severity}: {i.path} {i.code}: {i.en}" for i in issues]


def expected(case: dict[str, Any]) -> set[tuple[str, str]]:
    return {(item["code"], item["path"]) for item in case["expect"]}


def id_of(path: Path) -> str:
    return path.stem


# -- the curated samples ---------------------------------------------------------------------


def curated() -> dict[str, Any]:
    return yaml.safe_load(SAMPLES_YAML.read_text("utf-8"))["samples"]


def test_there_is_a_curated_sample_for_every_packet() -> None:
    assert set(curated()) == set(CATALOG.packets)


@pytest.mark.parametrize("name", sorted(CATALOG.packets))
def test_curated_sample_is_used_and_valid(name: str) -> None:
    spec = CATALOG.packet(name)
    example = sample(spec, CATALOG)
    assert example == curated()[name], "sample() fell back to a generated sample"
    request = STRICT.validate_envelope(example["request"])
    assert request.service == name
    assert {i.code for i in request.all_issues()} <= ALLOWED_WARNINGS, shown(request.all_issues())
    assert request.ok
    if spec.kind is PacketKind.PUSH:
        assert 1 <= len(example["request"]["data"]) <= 2
        assert "result" not in example["response"]
    else:
        assert "data" not in example["request"]
        answer = STRICT.validate_response(name, example["response"])
        assert answer.records, "a share sample needs result rows"
        assert not answer.all_issues(), shown(answer.all_issues())


# -- valid corpus ----------------------------------------------------------------------------


def test_the_valid_corpus_covers_every_packet() -> None:
    assert {path.stem for path in VALID if "--" not in path.stem} == set(CATALOG.packets)
    assert {packet_of(path) for path in VALID} <= set(CATALOG.packets)


@pytest.mark.parametrize("path", VALID, ids=id_of)
def test_valid_file_has_no_error(path: Path) -> None:
    name = packet_of(path)
    value = load(path)
    if CATALOG.packet(name).kind is PacketKind.PUSH:
        assert value["service"] == name
        result = STRICT.validate_envelope(value)
    else:
        assert "service" not in value
        result = STRICT.validate_response(name, value)
    found = result.all_issues()
    assert {i.code for i in found} <= ALLOWED_WARNINGS, shown(found)
    assert result.ok
    assert result.records
    assert all(record.ok for record in result.records)


def test_a_closed_unit_is_accepted_on_a_dossier_received_before_it_closed() -> None:
    envelope = load(CORPUS / "valid" / "DongBoHoSoMC--historical-closed-unit.json")
    [record] = envelope["data"]
    assert record["MaHoSo"].startswith("000.00.01.H22-24")
    assert STRICT.validate_envelope(envelope).ok
    later = copy.deepcopy(envelope)
    later["data"][0].update(
        MaHoSo="000.00.01.H22-250801-0001",
        NgayTiepNhan="20250801083000",
        NgayHenTra="20250805170000",
    )
    assert [(i.code, i.path) for i in STRICT.validate_envelope(later).all_issues()] == [
        ("dossier.unit_closed", "$.data[0].MaHoSo")
    ]


# -- broken corpus ---------------------------------------------------------------------------


def broken_cases() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in BROKEN:
        yield path, load(path)


@pytest.mark.parametrize("path", BROKEN, ids=id_of)
def test_broken_file_yields_exactly_its_errors(path: Path) -> None:
    """``"strict": true``: a deviation about completeness, an error in strict mode only; the
    lenient validator (received data) reports it as a warning."""
    case = load(path)
    assert case["expect"], "a broken sample must expect at least one error"
    documents = check_case(path, STRICT if case.get("strict") else LENIENT)
    errors = [issue for issue in issues_of(documents) if issue.is_error]
    assert {(i.code, i.path) for i in errors} == expected(case), shown(errors)
    assert len(errors) == len(case["expect"]), shown(errors)
    assert not all(document.ok for document in documents)
    if case.get("strict"):
        lenient = issues_of(check_case(path, LENIENT))
        assert not any(issue.is_error for issue in lenient), shown(lenient)
        assert expected(case) <= {(i.code, i.path) for i in lenient}


def test_every_qcvn120_packet_has_broken_samples() -> None:
    counts = {spec.name: 0 for spec in CATALOG.qcvn120_packets()}
    for path in BROKEN:
        if "--" in path.stem:
            counts[packet_of(path)] += 1
    assert len(counts) == 15
    assert {name: n for name, n in counts.items() if n < 3} == {}
    assert counts["DongBoHoSoMC"] >= 15


def test_broken_samples_name_their_packet() -> None:
    for path, case in broken_cases():
        if "--" not in path.stem:
            continue
        name = packet_of(path)
        value = case["input"]
        if case.get("packet") is not None:
            assert case["packet"] == name, path.name
            assert "service" not in value, path.name
        elif value.get("service") in CATALOG.packets:
            assert value["service"] == name, path.name


def test_not_json_is_reported_as_json_invalid() -> None:
    documents = check_case(CORPUS / "broken" / "not-json.json", LENIENT)
    assert [(i.code, i.path) for i in issues_of(documents)] == [("json.invalid", "$")]
    assert [document.result for document in documents] == [None]


def test_every_expected_code_is_a_known_code_with_bilingual_messages() -> None:
    for path, case in broken_cases():
        for item in case["expect"]:
            assert item["code"] in ISSUE_CODES, (path.name, item["code"])
        for issue in issues_of(check_case(path, LENIENT)):
            assert issue.code in ISSUE_CODES, (path.name, issue.code)
            assert issue.vi.strip(), (path.name, issue.code)
            assert issue.en.strip(), (path.name, issue.code)
            assert issue.vi != issue.en, (path.name, issue.code)


def test_the_broken_corpus_covers_the_main_codes() -> None:
    exercised = {item["code"] for _, case in broken_cases() for item in case["expect"]}
    assert not MUST_COVER - exercised, sorted(MUST_COVER - exercised)


# -- batches ---------------------------------------------------------------------------------


def _record_and_expectations(name: str, index: int) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The single record of a broken DongBoHoSoMC sample, with its expectations moved to ``index``."""
    case = load(CORPUS / "broken" / f"DongBoHoSoMC--{name}.json")
    [record] = case["input"]["data"]
    moved = {
        (code, path.replace("$.data[0]", f"$.data[{index}]", 1)) for code, path in expected(case)
    }
    return record, moved


def test_a_batch_reports_each_record_on_its_own() -> None:
    envelope = load(CORPUS / "valid" / "DongBoHoSoMC.json")
    good = envelope["data"][0]
    late, late_expected = _record_and_expectations("NgayHenTra-before-NgayTiepNhan", 1)
    status, status_expected = _record_and_expectations("TrangThaiHoSo-11", 2)
    envelope["data"] = [good, late, status]

    result = LENIENT.validate_envelope(envelope)

    assert result.envelope_ok
    assert [record.index for record in result.records] == [0, 1, 2]
    assert [record.path for record in result.records] == ["$.data[0]", "$.data[1]", "$.data[2]"]
    assert [record.ok for record in result.records] == [True, False, False]
    assert result.records[0].issues == []
    assert {(i.code, i.path) for i in result.records[1].errors} == late_expected
    assert {(i.code, i.path) for i in result.records[2].errors} == status_expected
    assert [record.key for record in result.records] == [r["MaHoSo"] for r in envelope["data"]]
    assert [record.index for record in result.accepted] == [0]
    assert [record.index for record in result.rejected] == [1, 2]
    assert not result.ok
