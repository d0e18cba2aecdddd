"""`lienthong check` on the corpus of real-client-shaped packets: received data is taken with
the warnings the manifest names; strict mode reports each of those deviations as an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lienthong.cli.main import app
from tests.real_clients import CORPUS, PACKETS, RealClientPacket


def _codes(report: dict[str, object], severity: str) -> set[str]:
    found: set[str] = set()
    for document in report["documents"]:  # type: ignore[attr-defined]
        for issue in document["issues"]:
            if issue["severity"] == severity:
                found.add(issue["code"])
        for record in document.get("records", []):
            found |= {i["code"] for i in record["issues"] if i["severity"] == severity}
    return found


def _check(packet: RealClientPacket, *options: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(
        app, ["check", str(CORPUS / packet.file), "--format", "json", *options]
    )
    return result.exit_code, json.loads(result.stdout)


def test_the_manifest_names_every_file_of_the_corpus() -> None:
    on_disk = {path.name for path in Path(CORPUS).glob("*.json")}
    assert on_disk == {packet.file for packet in PACKETS}


@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: p.file)
def test_received_data_is_taken_with_the_warnings_of_the_manifest(packet: RealClientPacket) -> None:
    exit_code, report = _check(packet)
    assert exit_code == 0, report
    assert _codes(report, "error") == set()
    assert _codes(report, "warning") == packet.warnings
    for document in report["documents"]:  # type: ignore[attr-defined]
        assert document["service"] == packet.packet
        if packet.transport == "lgsp":  # a bare array: check says which packet it assumed
            assert document["assumed_packet"] == packet.packet


@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: p.file)
def test_strict_mode_reports_every_deviation(packet: RealClientPacket) -> None:
    exit_code, report = _check(packet, "--strict")
    assert _codes(report, "error") == packet.strict
    assert _codes(report, "warning") == packet.warnings - packet.strict
    assert exit_code == (1 if packet.strict else 0)
