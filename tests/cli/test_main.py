"""The ``lienthong`` command: spec list/show/export, sample, check (formats, options, hostile input).

Most tests drive the Typer app in-process with ``CliRunner``; a few run the installed command in
a real subprocess so that the entry point, exit codes and stdout/stderr streams are exercised as
a user sees them.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from typer.testing import CliRunner, Result

from lienthong.cli import main as cli_main
from lienthong.cli.main import app
from lienthong.cli.output import make_console
from lienthong.spec import PacketKind, load_catalog

OVERRIDES = Path(__file__).parents[1] / "spec" / "corpus" / "overrides"
WIDE = {"COLUMNS": "250"}  # rich folds long paths in narrow tables; keep them on one line

QCVN120 = [
    ("1.1", "DongBoHoSoMC"),
    ("1.2", "CapNhatTienDoHoSoMC"),
    ("2", "DongBoDanhGia"),
    ("3.1", "DongBoThongKeHoSo"),
    ("4.1", "LayThuTuc"),
    ("4.2", "LayQDCB"),
    ("5.1.1", "DongBoPAKNDiaPhuong"),
    ("5.2.1", "DanhSachPAKNChoXuLy"),
    ("5.2.2", "DongBoKetQuaXuLyPAKN"),
    ("5.2.3", "LayTaiLieuPAKN"),
    ("5.3.1", "DanhSachPAKNCongKhai"),
    ("6.1.1", "DongBoHoiDap"),
    ("6.2.1", "LayDanhSachHoiDapGuiTuDVCQG"),
    ("6.2.2", "DongBoKetQuaHoiDapGuiTuDVCQG"),
    ("6.3.1", "LayDanhSachHoiDapBoCoQuan"),
]
PAKN_PROVISIONAL = [
    "DongBoPAKNDiaPhuong",
    "DanhSachPAKNChoXuLy",
    "DongBoKetQuaXuLyPAKN",
    "LayTaiLieuPAKN",
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The profile and override files come from the command line only, and every test gets
    fresh consoles (a render that failed half-way leaves text in a console's buffer)."""
    monkeypatch.delenv("LIENTHONG_PROFILE", raising=False)
    monkeypatch.delenv("LIENTHONG_CATALOG", raising=False)
    monkeypatch.setattr(cli_main, "console", make_console())
    monkeypatch.setattr(cli_main, "err_console", make_console(stderr=True))


def invoke(*args: str, input: bytes | str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=WIDE, input=input)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    # Exit codes come from typer.Exit (SystemExit), never from an escaped exception.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def sample_of(packet: str, *, response: bool = False) -> Any:
    args = ["sample", packet, *(["--response"] if response else [])]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def dossier_sample() -> dict[str, Any]:
    """The DongBoHoSoMC sample cut to its first record, so that counts are known."""
    envelope: dict[str, Any] = sample_of("DongBoHoSoMC")
    envelope["data"] = envelope["data"][:1]
    return envelope


def write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, ensure_ascii=False), "utf-8")
    return path


def broken_dossier() -> dict[str, Any]:
    envelope = copy.deepcopy(dossier_sample())
    record = envelope["data"][0]
    record["NgayTiepNhan"] = "20240715083000"
    record["NgayHenTra"] = "20240714083000"  # promised before it was received
    record["TrangThaiHoSo"] = "11"  # not in the code list
    return envelope


def json_report(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def issue_codes(report: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for document in report["documents"]:
        found |= {(i["path"], i["code"]) for i in document["issues"]}
        for record in document.get("records", []):
            found |= {(i["path"], i["code"]) for i in record["issues"]}
    return found


# -- spec -----------------------------------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("lienthong ")


def test_spec_list_lists_the_15_packets_and_names_the_provisional_ones() -> None:
    result = invoke("spec", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for packet_id, name in QCVN120:
        assert any(f" {packet_id} " in line and f" {name} " in line for line in lines), name
    provisional_line = " ".join(result.stdout.split("provisional packets:", 1)[1].split())
    named = {name.strip() for name in provisional_line.split(",")}
    catalog = load_catalog("qcvn120-2019")
    assert named == {p.name for p in catalog.provisional_packets()}
    assert set(PAKN_PROVISIONAL) <= named
    assert "DongBoHoSoMC" not in named


def test_spec_list_of_another_profile() -> None:
    result = invoke("spec", "list", "--profile", "dvcqg-2025")
    assert result.exit_code == 0, result.output
    assert "dvcqg-2025" in result.stdout


def test_spec_show_says_provisional() -> None:
    result = invoke("spec", "show", "DanhSachPAKNChoXuLy")
    assert result.exit_code == 0, result.output
    assert "PROVISIONAL" in result.stdout
    assert "5.2.1" in result.stdout


def test_spec_show_of_a_confirmed_packet_is_not_provisional() -> None:
    result = invoke("spec", "show", "DongBoHoSoMC")
    assert result.exit_code == 0, result.output
    assert "PROVISIONAL" not in result.stdout
    assert "status: confirmed" in result.stdout
    for name in ("MaHoSo", "NgayHenTra", "TaiLieuNop[].IsDeleted", "dossier_dates"):
        assert name in result.stdout


def test_spec_show_json_is_the_schema() -> None:
    result = invoke("spec", "show", "DongBoHoSoMC", "--json")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["title"] == "DongBoHoSoMC"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_spec_show_unknown_packet_exits_2_with_a_clear_message() -> None:
    result = invoke("spec", "show", "KhongCoGoiTinNay")
    assert result.exit_code == 2
    no_traceback(result)
    assert "Lỗi:" in result.stderr and "Error:" in result.stderr
    assert "KhongCoGoiTinNay" in result.stderr
    assert "no packet" in result.stderr


def test_spec_export_jsonschema_one_valid_schema_per_packet(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    result = invoke("spec", "export", "--format", "jsonschema", "-o", str(out))
    assert result.exit_code == 0, result.output
    catalog = load_catalog("qcvn120-2019")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.json" for n in catalog.packets)
    for name, packet in catalog.packets.items():
        schema = json.loads((out / f"{name}.json").read_text("utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        request = sample_of(name)
        errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(request)]
        assert not errors, (name, errors)
        if packet.kind is PacketKind.SHARE:
            response_schema = {"$ref": "#/$defs/response", "$defs": schema["$defs"]}
            jsonschema.Draft202012Validator.check_schema(response_schema)
            answer = sample_of(name, response=True)
            validator = jsonschema.Draft202012Validator(response_schema)
            errors = [e.message for e in validator.iter_errors(answer)]
            assert not errors, (name, errors)
        else:
            assert "response" not in schema["$defs"]


def test_spec_export_jsonschema_rejects_a_broken_sample(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    assert invoke("spec", "export", "-o", str(out)).exit_code == 0
    schema = json.loads((out / "DongBoHoSoMC.json").read_text("utf-8"))
    envelope = broken_dossier()  # TrangThaiHoSo "11" is outside the enum
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(envelope))


def test_spec_export_jsonschema_to_stdout() -> None:
    result = invoke("spec", "export")
    assert result.exit_code == 0, result.output
    schemas = json.loads(result.stdout)
    assert set(schemas) == set(load_catalog("qcvn120-2019").packets)


def test_spec_export_markdown_to_stdout() -> None:
    result = invoke("spec", "export", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Packet reference: profile `qcvn120-2019`")


# -- sample and check -----------------------------------------------------------------------------


def test_sample_passes_check(tmp_path: Path) -> None:
    path = write(tmp_path / "hs.json", sample_of("DongBoHoSoMC"))
    result = invoke("check", str(path))
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout


@pytest.mark.parametrize("packet", [name for _, name in QCVN120])
def test_every_sample_of_the_15_passes_strict_check(tmp_path: Path, packet: str) -> None:
    path = write(tmp_path / "sample.json", sample_of(packet))
    result = invoke("check", "--strict", "--format", "json", str(path))
    assert result.exit_code == 0, result.output
    assert json_report(result)["summary"]["errors"] == 0


def test_check_reads_stdin() -> None:
    body = json.dumps(dossier_sample(), ensure_ascii=False).encode()
    result = invoke("check", "-", "--format", "json", input=body)
    assert result.exit_code == 0, result.output
    assert json_report(result)["summary"]["records_ok"] == 1


def test_check_reports_the_broken_copy_by_path_and_code(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", broken_dossier())
    result = invoke("check", str(path))
    assert result.exit_code == 1
    no_traceback(result)
    assert "$.data[0].NgayHenTra" in result.stdout
    assert "date.order" in result.stdout
    assert "$.data[0].TrangThaiHoSo" in result.stdout
    assert "field.code" in result.stdout


def test_check_lang_en_prints_english_messages(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", broken_dossier())
    result = invoke("check", "--lang", "en", str(path))
    assert result.exit_code == 1
    assert "is before NgayTiepNhan" in result.stdout
    assert "trước NgayTiepNhan" not in result.stdout


def test_check_json_report(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", broken_dossier())
    result = invoke("check", "--format", "json", str(path))
    assert result.exit_code == 1
    report = json_report(result)
    assert report["summary"] == {
        "documents": 1,
        "documents_ok": 0,
        "records": 1,
        "records_ok": 0,
        "errors": 2,
        "warnings": 0,
    }
    [document] = report["documents"]
    assert document["ok"] is False
    assert document["service"] == "DongBoHoSoMC"
    [record] = document["records"]
    assert record["index"] == 0
    assert record["key"] == "000.00.13.H56-240715-0001"
    assert record["ok"] is False
    by_code = {issue["code"]: issue for issue in record["issues"]}
    assert set(by_code) == {"date.order", "field.code"}
    assert by_code["date.order"]["path"] == "$.data[0].NgayHenTra"
    assert by_code["date.order"]["severity"] == "error"
    assert by_code["date.order"]["message"] and by_code["date.order"]["message_en"]
    assert by_code["field.code"]["path"] == "$.data[0].TrangThaiHoSo"


def test_check_json_report_to_a_file(tmp_path: Path) -> None:
    path = write(tmp_path / "hs.json", dossier_sample())
    report = tmp_path / "report.json"
    result = invoke("check", "--format", "json", "-o", str(report), str(path))
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text("utf-8"))["summary"]["documents_ok"] == 1


def test_check_junit_report(tmp_path: Path) -> None:
    path = write(tmp_path / "batch.json", [dossier_sample(), broken_dossier()])
    result = invoke("check", "--format", "junit", str(path))
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout)
    assert root.tag == "testsuites"
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    good, bad = suites[f"{path}[0]"], suites[f"{path}[1]"]
    assert good.get("failures") == "0"
    assert not list(good.iter("failure"))
    assert bad.get("failures") == "1"
    [failure] = list(bad.iter("failure"))
    failed_case = next(case for case in bad.iter("testcase") if case.find("failure") is not None)
    assert failed_case.get("name", "").startswith("record 0")
    assert failure.text is not None
    assert "$.data[0].NgayHenTra [date.order]" in failure.text


def test_check_json_lines_reports_the_broken_line_and_checks_the_others(tmp_path: Path) -> None:
    good = json.dumps(dossier_sample(), ensure_ascii=False)
    bad = json.dumps(broken_dossier(), ensure_ascii=False)
    path = tmp_path / "batch.jsonl"
    path.write_text(f"{good}\n{{not json\n{bad}\n", "utf-8")
    result = invoke("check", "--format", "json", str(path))
    assert result.exit_code == 1
    report = json_report(result)
    documents = {d["location"]: d for d in report["documents"]}
    assert set(documents) == {f"{path}:1", f"{path}:2", f"{path}:3"}
    assert [i["code"] for i in documents[f"{path}:2"]["issues"]] == ["json.invalid"]
    assert documents[f"{path}:1"]["ok"] is True
    assert documents[f"{path}:3"]["ok"] is False
    assert ("$.data[0].NgayHenTra", "date.order") in issue_codes(
        {"documents": [documents[f"{path}:3"]]}
    )
    assert report["summary"]["documents"] == 3
    assert report["summary"]["records"] == 2


def test_check_json_array_of_envelopes(tmp_path: Path) -> None:
    envelopes = [dossier_sample(), sample_of("CapNhatTienDoHoSoMC"), broken_dossier()]
    path = write(tmp_path / "array.json", envelopes)
    result = invoke("check", "--format", "json", str(path))
    assert result.exit_code == 1
    report = json_report(result)
    assert [d["location"] for d in report["documents"]] == [f"{path}[{i}]" for i in range(3)]
    assert [d["ok"] for d in report["documents"]] == [True, True, False]
    assert [d["service"] for d in report["documents"]] == [
        "DongBoHoSoMC",
        "CapNhatTienDoHoSoMC",
        "DongBoHoSoMC",
    ]
    assert report["summary"]["documents_ok"] == 2


def test_check_several_files(tmp_path: Path) -> None:
    one = write(tmp_path / "one.json", dossier_sample())
    two = write(tmp_path / "two.json", sample_of("CapNhatTienDoHoSoMC"))
    result = invoke("check", "--format", "json", str(one), str(two))
    assert result.exit_code == 0, result.output
    assert json_report(result)["summary"]["documents"] == 2


def test_check_bare_share_answer_with_packet(tmp_path: Path) -> None:
    answer = sample_of("LayThuTuc", response=True)
    assert "service" not in answer
    path = write(tmp_path / "answer.json", answer)
    result = invoke("check", "--packet", "LayThuTuc", "--format", "json", str(path))
    assert result.exit_code == 0, result.output
    report = json_report(result)
    assert report["summary"]["records"] == len(answer["result"]) >= 1
    # the packet name is matched without regard to case
    assert invoke("check", "--packet", "laythutuc", str(path)).exit_code == 0


def test_check_bare_record_with_packet(tmp_path: Path) -> None:
    row = sample_of("LayThuTuc", response=True)["result"][0]
    path = write(tmp_path / "row.json", row)
    assert invoke("check", "--packet", "LayThuTuc", str(path)).exit_code == 0
    del row["MATTHC"]
    write(path, row)
    result = invoke("check", "--packet", "LayThuTuc", "--format", "json", str(path))
    assert result.exit_code == 1
    assert ("$[0].MATTHC", "field.required") in issue_codes(json_report(result))


def test_check_bare_answer_without_packet_is_unrecognized(tmp_path: Path) -> None:
    path = write(tmp_path / "answer.json", sample_of("LayThuTuc", response=True))
    result = invoke("check", "--format", "json", str(path))
    assert result.exit_code == 1
    assert ("$", "input.unrecognized") in issue_codes(json_report(result))


def test_check_unknown_packet_option_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path / "hs.json", dossier_sample())
    result = invoke("check", "--packet", "KhongCo", str(path))
    assert result.exit_code == 2
    no_traceback(result)
    assert "Lỗi:" in result.stderr and "Error:" in result.stderr


def test_strict_turns_an_unknown_field_into_an_error(tmp_path: Path) -> None:
    envelope = dossier_sample()
    envelope["data"][0]["TruongLa"] = "x"
    path = write(tmp_path / "extra.json", envelope)
    lenient = invoke("check", "--format", "json", str(path))
    assert lenient.exit_code == 0, lenient.output
    report = json_report(lenient)
    assert ("$.data[0].TruongLa", "field.unknown") in issue_codes(report)
    assert report["summary"]["warnings"] == 1 and report["summary"]["errors"] == 0
    strict = invoke("check", "--strict", "--format", "json", str(path))
    assert strict.exit_code == 1
    assert ("$.data[0].TruongLa", "field.unknown_strict") in issue_codes(json_report(strict))


def test_profile_dvcqg_2025_knows_kenh_thuc_hien(tmp_path: Path) -> None:
    envelope = dossier_sample()
    envelope["data"][0]["KenhThucHien"] = "2"
    path = write(tmp_path / "kenh.json", envelope)
    base = invoke("check", "--format", "json", str(path))
    assert base.exit_code == 0, base.output
    assert ("$.data[0].KenhThucHien", "field.unknown") in issue_codes(json_report(base))
    revised = invoke("check", "--profile", "dvcqg-2025", "--format", "json", str(path))
    assert revised.exit_code == 0, revised.output
    assert json_report(revised)["summary"] == {
        "documents": 1,
        "documents_ok": 1,
        "records": 1,
        "records_ok": 1,
        "errors": 0,
        "warnings": 0,
    }
    envelope["data"][0]["KenhThucHien"] = "9"
    write(path, envelope)
    wrong = invoke("check", "--profile", "dvcqg-2025", "--format", "json", str(path))
    assert wrong.exit_code == 1
    assert ("$.data[0].KenhThucHien", "field.code") in issue_codes(json_report(wrong))


def test_unknown_profile_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path / "hs.json", dossier_sample())
    result = invoke("check", "--profile", "khong-co", str(path))
    assert result.exit_code == 2
    no_traceback(result)
    assert "Lỗi:" in result.stderr and "Error:" in result.stderr
    assert "khong-co" in result.stderr


def test_catalog_override_changes_the_outcome(tmp_path: Path) -> None:
    override = OVERRIDES / "tighten-email.yaml"
    envelope = dossier_sample()
    envelope["data"][0]["Email"] = ""
    path = write(tmp_path / "no-email.json", envelope)
    base = invoke("check", "--format", "json", str(path))
    assert base.exit_code == 0, base.output
    tightened = invoke("check", "--catalog", str(override), "--format", "json", str(path))
    assert tightened.exit_code == 1
    codes = issue_codes(json_report(tightened))
    assert ("$.data[0].Email", "field.required") in codes
    assert ("$.data[0].Fax", "field.unknown") in codes  # the override removed Fax


def test_catalog_override_in_spec_show() -> None:
    override = OVERRIDES / "tighten-email.yaml"
    result = invoke("spec", "show", "DongBoHoSoMC", "--catalog", str(override))
    assert result.exit_code == 0, result.output
    assert "HashTepTin" in result.stdout
    assert "dossier_returned" not in result.stdout


# -- user errors: exit 2, bilingual, no traceback -------------------------------------------------


def assert_user_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    no_traceback(result)
    assert "Lỗi:" in result.stderr, result.stderr
    assert "Error:" in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in " ".join(result.stderr.split()), (fragment, result.stderr)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "khong-co.json"
    result = invoke("check", str(missing))
    assert_user_error(result, "không tìm thấy tệp", "file not found")


def test_directory_exits_2(tmp_path: Path) -> None:
    result = invoke("check", str(tmp_path))
    assert_user_error(result, "là thư mục", "is a directory")


def test_malformed_catalog_yaml_exits_2(tmp_path: Path) -> None:
    catalog = tmp_path / "hong.yaml"
    catalog.write_text("packets: [\n  - {name: X\n", "utf-8")
    document = write(tmp_path / "hs.json", dossier_sample())
    result = invoke("check", "--catalog", str(catalog), str(document))
    assert_user_error(
        result, "danh mục gói tin không hợp lệ", "invalid packet catalog", "not valid YAML"
    )


def test_catalog_with_a_bad_field_type_exits_2(tmp_path: Path) -> None:
    catalog = tmp_path / "hong.yaml"
    catalog.write_text(
        "profile: hong\nextends: qcvn120-2019\npackets:\n  DongBoHoSoMC:\n"
        "    fields:\n      Email: {type: khong-ro}\n",
        "utf-8",
    )
    document = write(tmp_path / "hs.json", dossier_sample())
    result = invoke("check", "--catalog", str(catalog), str(document))
    assert_user_error(result, "invalid packet catalog", "khong-ro")


def test_missing_catalog_file_exits_2(tmp_path: Path) -> None:
    document = write(tmp_path / "hs.json", dossier_sample())
    result = invoke("check", "--catalog", str(tmp_path / "khong-co.yaml"), str(document))
    assert_user_error(result, "invalid packet catalog", "cannot read catalog file")


def test_catalog_that_is_a_directory_exits_2() -> None:
    result = invoke("spec", "list", "--catalog", str(OVERRIDES))
    assert_user_error(result, "invalid packet catalog", "cannot read catalog file")


def test_catalog_that_is_not_a_mapping_exits_2(tmp_path: Path) -> None:
    catalog = tmp_path / "list.yaml"
    catalog.write_text("- DongBoHoSoMC\n- CapNhatTienDoHoSoMC\n", "utf-8")
    result = invoke("spec", "show", "DongBoHoSoMC", "--catalog", str(catalog))
    assert_user_error(result, "invalid packet catalog", "must be a YAML mapping")


# -- hostile input: exit 1 with the right code, never a traceback ---------------------------------


def check_json(path: Path) -> tuple[Result, set[tuple[str, str]]]:
    result = invoke("check", "--format", "json", str(path))
    no_traceback(result)
    return result, issue_codes(json_report(result))


def test_deeply_nested_json_is_too_deep(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    result, codes = check_json(path)
    assert result.exit_code == 1
    assert codes == {("$", "json.too_deep")}
    text = invoke("check", str(path))
    assert text.exit_code == 1
    no_traceback(text)


def test_deeply_nested_field_value_is_too_deep(tmp_path: Path) -> None:
    body = json.dumps(dossier_sample(), ensure_ascii=False)
    nested = '{"a":' * 100_000 + "1" + "}" * 100_000
    path = tmp_path / "deep-field.json"
    path.write_text(body.replace('"GhiChu": "', f'"GhiChu": {nested}, "X": "', 1), "utf-8")
    result, codes = check_json(path)
    assert result.exit_code == 1
    assert ("$", "json.too_deep") in codes


def test_five_megabyte_string_field(tmp_path: Path) -> None:
    envelope = dossier_sample()
    envelope["data"][0]["TrichYeuHoSo"] = "A" * 5_000_000
    path = write(tmp_path / "big.json", envelope)
    result, codes = check_json(path)
    assert result.exit_code == 1
    assert codes == {("$.data[0].TrichYeuHoSo", "field.too_long")}
    report = json_report(result)
    message = report["documents"][0]["records"][0]["issues"][0]["message_en"]
    assert "5000000" in message and len(message) < 200  # the value itself is not echoed


def test_invalid_utf8_bytes(tmp_path: Path) -> None:
    body = json.dumps(dossier_sample(), ensure_ascii=False).encode()
    path = tmp_path / "latin.json"
    assert b'"ChuHoSo": "' in body
    path.write_bytes(body.replace(b'"ChuHoSo": "', b'"ChuHoSo": "\xff\xfe\xc3', 1))
    result, codes = check_json(path)
    assert result.exit_code == 1
    assert codes == {("$", "json.invalid")}
    text = invoke("check", str(path))
    assert text.exit_code == 1
    no_traceback(text)


def test_lone_surrogate_in_a_string(tmp_path: Path) -> None:
    body = json.dumps(dossier_sample(), ensure_ascii=False)
    assert '"GhiChu": "' in body
    path = tmp_path / "surrogate.json"
    path.write_text(body.replace('"GhiChu": "', '"GhiChu": "x\\ud800', 1), "utf-8")
    result, codes = check_json(path)
    assert result.exit_code == 1
    assert codes == {("$.data[0].GhiChu", "field.unicode")}
    for fmt in ("text", "junit"):
        other = invoke("check", "--format", fmt, str(path))
        assert other.exit_code == 1
        no_traceback(other)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"  \n")
    result, codes = check_json(path)
    assert result.exit_code == 1
    assert codes == {("$", "json.empty")}


SURROGATE_PLACES = [
    ("field name", '"GhiChu"', '"Ghi\\ud800Chu"'),
    ("service", '"DongBoHoSoMC"', '"DongBo\\ud800"'),
    ("key field value", '"000.00.13.H56-240715-0001"', '"000\\ud800"'),
]


@pytest.mark.parametrize(
    ("where", "old", "new", "fmt"),
    [
        pytest.param(
            where,
            old,
            new,
            fmt,
            id=f"{where}-{fmt}",
        )
        for where, old, new in SURROGATE_PLACES
        for fmt in ("text", "json", "junit")
    ],
)
def test_lone_surrogate_elsewhere(tmp_path: Path, where: str, old: str, new: str, fmt: str) -> None:
    body = json.dumps(dossier_sample(), ensure_ascii=False)
    assert old in body, where
    path = tmp_path / "surrogate.json"
    path.write_text(body.replace(old, new, 1), "utf-8")
    result = invoke("check", "--format", fmt, str(path))
    no_traceback(result)
    assert result.exit_code == 1


def test_markup_in_a_value_is_printed_verbatim(tmp_path: Path) -> None:
    envelope = dossier_sample()
    envelope["data"][0]["TrangThaiHoSo"] = "[/x]"
    path = write(tmp_path / "markup.json", envelope)
    result = invoke("check", str(path))
    no_traceback(result)
    assert result.exit_code == 1
    assert "[/x]" in result.stdout


def test_markup_in_a_missing_file_name(tmp_path: Path) -> None:
    result = invoke("check", str(tmp_path / "[/b].json"))
    assert_user_error(result, "[/b].json")


def test_demo_validates_every_bundled_sample() -> None:
    result = invoke("demo")
    no_traceback(result)
    assert "DongBoHoSoMC" in result.stdout
    assert "invalid" not in result.stdout
    assert result.exit_code == 0


# -- the real command in a subprocess -------------------------------------------------------------


def lienthong_command() -> list[str]:
    installed = Path(sys.executable).parent / "lienthong"
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-m", "lienthong.cli.main"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [*lienthong_command(), *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_subprocess_sample_then_check(tmp_path: Path) -> None:
    sample = run("sample", "DongBoHoSoMC")
    assert sample.returncode == 0, sample.stderr
    envelope = json.loads(sample.stdout)
    assert envelope["service"] == "DongBoHoSoMC"
    path = tmp_path / "hs.json"
    path.write_bytes(sample.stdout)
    checked = run("check", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert b"OK" in checked.stdout
    piped = run("check", "-", "--format", "json", stdin=sample.stdout)
    assert piped.returncode == 0, piped.stderr
    summary = json.loads(piped.stdout)["summary"]
    assert summary["records_ok"] == summary["records"] == len(envelope["data"]) >= 1


def test_subprocess_broken_and_hostile_input(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", broken_dossier())
    checked = run("check", "--format", "json", str(bad))
    assert checked.returncode == 1
    assert ("$.data[0].NgayHenTra", "date.order") in issue_codes(json.loads(checked.stdout))
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    result = run("check", str(deep))
    assert result.returncode == 1
    assert b"json.too_deep" in result.stdout
    assert b"Traceback" not in result.stdout + result.stderr


def test_subprocess_user_error_exits_2(tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "khong-co.json"))
    assert result.returncode == 2
    stderr = result.stderr.decode("utf-8")
    assert "Lỗi:" in stderr and "Error:" in stderr
    assert "Traceback" not in stderr
    assert result.stdout == b""


def test_subprocess_without_arguments_prints_help() -> None:
    result = run()
    assert b"Usage" in result.stdout + result.stderr
    assert b"Traceback" not in result.stdout + result.stderr


def test_the_hub_does_not_start_with_a_short_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "ngan-qua"  # too short to sign the forms' tokens
    env = {**WIDE, "LIENTHONG_SECRET_KEY": key}
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", database)  # `hub` sets it: put it back after
    result = CliRunner().invoke(app, ["hub", "--database", database], env=env)
    no_traceback(result)
    assert result.exit_code == 2
    assert "LIENTHONG_SECRET_KEY must be at least 32 characters (it has 8)" in result.output
    assert key not in result.output
    assert not (tmp_path / "hub.db").exists()  # refused before the database was touched


# -- input order and bare records without --packet ------------------------------------------------


def test_check_reports_documents_in_input_order_across_packets_and_files(tmp_path: Path) -> None:
    """A broken JSON Lines line stays between its neighbours; files keep their order."""
    lines = [
        json.dumps(sample_of("CapNhatTienDoHoSoMC"), ensure_ascii=False),
        "{not json",
        json.dumps(dossier_sample(), ensure_ascii=False),
        json.dumps(sample_of("DongBoDanhGia"), ensure_ascii=False),
    ]
    first = tmp_path / "b.jsonl"
    first.write_text("\n".join(lines) + "\n", "utf-8")
    second = write(tmp_path / "a.json", [broken_dossier(), sample_of("DongBoThongKeHoSo")])
    expected = [
        (f"{first}:1", "CapNhatTienDoHoSoMC"),
        (f"{first}:2", None),
        (f"{first}:3", "DongBoHoSoMC"),
        (f"{first}:4", "DongBoDanhGia"),
        (f"{second}[0]", "DongBoHoSoMC"),
        (f"{second}[1]", "DongBoThongKeHoSo"),
    ]
    for report_format in ("json", "junit", "text"):
        result = invoke("check", "--format", report_format, str(first), str(second))
        assert result.exit_code == 1, result.output
        if report_format == "json":
            found = [(d["location"], d.get("service")) for d in json_report(result)["documents"]]
            assert found == expected
        elif report_format == "junit":
            suites = ET.fromstring(result.stdout).findall("testsuite")
            assert [s.get("name") for s in suites] == [location for location, _ in expected]
        else:
            positions = [result.stdout.index(f"{location} ") for location, _ in expected]
            assert positions == sorted(positions)


def bare_dossiers(tmp_path: Path) -> Path:
    records = sample_of("DongBoHoSoMC")["data"]
    broken = {k: v for k, v in records[0].items() if k != "MaHoSo"}
    return write(tmp_path / "hoso.json", [*records, broken])


def test_check_infers_the_packet_of_a_bare_array_and_says_so(tmp_path: Path) -> None:
    path = bare_dossiers(tmp_path)
    count = len(json.loads(path.read_text("utf-8")))
    text = invoke("check", str(path))
    assert text.exit_code == 1, text.output
    assert "packet DongBoHoSoMC assumed from the field names" in text.stdout
    assert "gói tin DongBoHoSoMC: đoán từ tên các trường" in text.stdout
    report = json_report(invoke("check", "--format", "json", str(path)))
    assert [d["assumed_packet"] for d in report["documents"]] == ["DongBoHoSoMC"] * count
    assert [d["ok"] for d in report["documents"]] == [True] * (count - 1) + [False]
    assert ("$[0].MaHoSo", "field.required") in issue_codes(
        {"documents": [report["documents"][-1]]}
    )
    suites = ET.fromstring(invoke("check", "--format", "junit", str(path)).stdout)
    for suite in suites.findall("testsuite"):
        assert suite.find("properties/property[@name='assumed_packet']").get("value") == (
            "DongBoHoSoMC"
        )
        assert "assumed from the field names" in suite.find("system-out").text


def test_check_infers_the_packet_of_one_bare_record(tmp_path: Path) -> None:
    path = write(tmp_path / "one.json", sample_of("CapNhatTienDoHoSoMC")["data"][0])
    report = json_report(invoke("check", "--format", "json", str(path)))
    assert report["documents"][0]["assumed_packet"] == "CapNhatTienDoHoSoMC"
    assert report["documents"][0]["ok"] is True


def test_check_asks_for_packet_when_the_fields_fit_several(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qa.json", sample_of("LayDanhSachHoiDapBoCoQuan", response=True)["result"]
    )
    result = invoke("check", "--format", "json", str(path))
    assert result.exit_code == 1
    issue = json_report(result)["documents"][0]["issues"][0]
    assert issue["code"] == "input.packet_same_fields"
    for text in (issue["message"], issue["message_en"]):
        assert "LayDanhSachHoiDapBoCoQuan" in text and "LayDanhSachHoiDapGuiTuDVCQG" in text
        assert "--packet" in text
    assert "assumed_packet" not in json_report(result)["documents"][0]
    named = invoke("check", "--packet", "LayDanhSachHoiDapBoCoQuan", str(path))
    assert named.exit_code == 0, named.output


def test_check_bare_records_of_unknown_fields_are_unrecognized(tmp_path: Path) -> None:
    path = write(tmp_path / "x.json", [{"ten": "a", "tuoi": 3}])
    result = invoke("check", "--format", "json", str(path))
    assert result.exit_code == 1
    assert ("$", "input.unrecognized") in issue_codes(json_report(result))
