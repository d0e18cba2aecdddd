"""Renderings of check results: a rich table for people, JSON and JUnit XML for CI pipelines."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.spec.check import CheckedDocument
from lienthong.spec.issues import Issue

#: Unicode categories shown as escapes: controls (C0, DEL, C1), format characters (bidi
#: overrides such as U+202E, zero-width ones), lone surrogates, private use, unassigned, and
#: the line and paragraph separators. A terminal acts on some of them (ESC starts a command)
#: and the others make text look like what it is not.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escaped(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object, *, multiline: bool = False) -> str:
    """``text`` with every character a terminal could act on, or that hides what the text
    is, written as a visible escape (ESC as ``\\x1b``, U+202E as ``\\u202e``). With
    ``multiline``, line feeds and tabs are kept (a carriage return is escaped all the same)."""
    value = str(text)
    if value.isprintable():  # nearly always: one pass in C
        return value
    kept = "\n\t" if multiline else ""
    return "".join(
        _escaped(char)
        if char not in kept and unicodedata.category(char) in _HIDDEN_CATEGORIES
        else char
        for char in value
    )


def safe(text: object, *, multiline: bool = False) -> str:
    """Stored or user-supplied text for a rich console: :func:`printable`, and its square
    brackets escaped so that rich shows them instead of reading them as markup."""
    return escape(printable(text, multiline=multiline))


def _json_escape(char: str) -> str:
    if unicodedata.category(char) not in _HIDDEN_CATEGORIES or char == "\n":
        return char
    encoded = char.encode("utf-16-le", "surrogatepass")
    units = (int.from_bytes(encoded[i : i + 2], "little") for i in range(0, len(encoded), 2))
    return "".join(f"\\u{unit:04x}" for unit in units)


def json_text(value: Any) -> str:
    """``value`` as indented JSON for a terminal: letters as they are (Vietnamese stays
    readable), every character :func:`printable` would escape written as a ``\\uXXXX``
    escape, so that the text is still the same JSON value."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    if text.replace("\n", "").isprintable():
        return text
    return "".join(map(_json_escape, text))


def summary(documents: Sequence[CheckedDocument]) -> dict[str, int]:
    records = sum(len(d.result.records) for d in documents if d.result)
    bad_records = sum(len(d.result.rejected) for d in documents if d.result)
    issues = [issue for d in documents for issue in d.all_issues()]
    return {
        "documents": len(documents),
        "documents_ok": sum(1 for d in documents if d.ok),
        "records": records,
        "records_ok": records - bad_records,
        "errors": sum(1 for i in issues if i.is_error),
        "warnings": sum(1 for i in issues if not i.is_error),
    }


def _rows(document: CheckedDocument) -> list[tuple[str, Issue]]:
    rows = [("", issue) for issue in document.issues]
    if document.result is not None:
        rows += [("envelope", issue) for issue in document.result.issues]
        for record in document.result.records:
            label = f"#{record.index}" + (f" {record.key}" if record.key else "")
            rows += [(label, issue) for issue in record.issues]
    return rows


def _assumed(packet: str) -> str:
    return (
        f"gói tin {packet}: đoán từ tên các trường (không có --packet) / "
        f"packet {packet} assumed from the field names (no --packet)"
    )


def render_text(documents: Sequence[CheckedDocument], console: Console, lang: str = "vi") -> None:
    assumed = None
    for document in documents:
        service = document.result.service if document.result else None
        status = "[green]OK[/green]" if document.ok else "[red]LỖI / ERROR[/red]"
        console.print(f"[bold]{safe(document.location)}[/bold] {safe(service or '')} {status}")
        if document.assumed_packet and document.assumed_packet != assumed:
            console.print(f"  {_assumed(document.assumed_packet)}")  # once per run of records
        assumed = document.assumed_packet
        rows = _rows(document)
        if not rows:
            continue
        table = Table(show_lines=False, expand=False)
        for column in ("record", "severity", "path", "code", "message"):
            table.add_column(column, overflow="fold")
        for label, issue in rows:
            colour = "red" if issue.is_error else "yellow"
            message = safe(issue.vi if lang == "vi" else issue.en)
            if lang == "both":
                message = f"{safe(issue.vi)}\n[dim]{safe(issue.en)}[/dim]"
            table.add_row(
                safe(label),
                f"[{colour}]{issue.severity.value}[/{colour}]",
                safe(issue.path),
                issue.code,
                message,
            )
        console.print(table)
    totals = summary(documents)
    console.print(
        f"\n{totals['documents']} tài liệu / documents ({totals['documents_ok']} OK), "
        f"{totals['records']} bản ghi / records ({totals['records_ok']} OK), "
        f"{totals['errors']} lỗi / errors, {totals['warnings']} cảnh báo / warnings"
    )


def render_json(documents: Sequence[CheckedDocument]) -> str:
    payload: dict[str, Any] = {"summary": summary(documents), "documents": []}
    for document in documents:
        entry: dict[str, Any] = {
            "location": document.location,
            "ok": document.ok,
            "issues": [issue.as_dict() for issue in document.issues],
        }
        if document.assumed_packet:
            entry["assumed_packet"] = document.assumed_packet
        if document.result is not None:
            entry["service"] = document.result.service
            entry["issues"] += [issue.as_dict() for issue in document.result.issues]
            entry["records"] = [
                {
                    "index": record.index,
                    "key": record.key,
                    "ok": record.ok,
                    "issues": [issue.as_dict() for issue in record.issues],
                }
                for record in document.result.records
            ]
        payload["documents"].append(entry)
    return json.dumps(payload, ensure_ascii=False, indent=2)


def render_junit(documents: Sequence[CheckedDocument]) -> str:
    """One test suite per document, one test case per record (or per envelope)."""
    suites = ET.Element("testsuites", name="lienthong check")
    for document in documents:
        cases: list[tuple[str, list[Issue]]] = []
        envelope_issues = list(document.issues)
        if document.result is not None:
            envelope_issues += document.result.issues
        cases.append(("envelope", envelope_issues))
        if document.result is not None:
            for record in document.result.records:
                name = f"record {record.index}" + (f" {record.key}" if record.key else "")
                cases.append((name, record.issues))
        failures = sum(1 for _, issues in cases if any(i.is_error for i in issues))
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=document.location,
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
        )
        if document.assumed_packet:
            properties = ET.SubElement(suite, "properties")
            ET.SubElement(
                properties, "property", name="assumed_packet", value=document.assumed_packet
            )
        for name, issues in cases:
            case = ET.SubElement(suite, "testcase", classname=document.location, name=name)
            errors = [i for i in issues if i.is_error]
            if errors:
                failure = ET.SubElement(
                    case, "failure", message=f"{len(errors)} error(s)", type=errors[0].code
                )
                failure.text = "\n".join(f"{i.path} [{i.code}] {i.vi} / {i.en}" for i in errors)
            warnings = [i for i in issues if not i.is_error]
            if warnings:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(f"warning {i.path} [{i.code}] {i.en}" for i in warnings)
        if document.assumed_packet:  # after the cases, as the JUnit schema orders them
            ET.SubElement(suite, "system-out").text = _assumed(document.assumed_packet)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
