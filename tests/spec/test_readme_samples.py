"""The sample payloads of the evidence README pass the checker (except the hypothetical ones).

The README (``spec/README.md`` of the shared evidence, beside the design sketch) is not part of
this repository, so its ```json blocks that follow a ``**<id> <Packet>**`` heading are kept as
fixtures in ``corpus/readme/``. When the README is present, a test checks that the fixtures are
still exact copies of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lienthong.spec import CheckedDocument, Validator, check_bytes, load_catalog

CORPUS = Path(__file__).parent / "corpus" / "readme"
REPOSITORY = Path(__file__).parents[2]
SHARED_README = REPOSITORY.parent / "shared" / "spec" / "README.md"

HYPOTHETICAL = {"5.1.1", "5.2.2", "5.2.3"}
"""Packets the README marks **hypothetical**: their placeholders (``<id>``) are not real."""

FIXTURES = sorted(CORPUS.glob("*.json"))
_NAME = re.compile(r"(?P<id>[0-9.]+?)-(?P<packet>\w+)\.(?P<role>request|answer)\.json")


def describe(path: Path) -> tuple[str, str, str]:
    match = _NAME.fullmatch(path.name)
    assert match is not None, f"unexpected fixture name {path.name}"
    return match["id"], match["packet"], match["role"]


def readme_blocks(text: str) -> list[tuple[str, str, str]]:
    """(id, packet, body) of every ```json block that follows a ``**<id> <Packet>**`` heading."""
    blocks: list[tuple[str, str, str]] = []
    heading: tuple[str, str] | None = None
    pattern = re.compile(r"^\*\*(\d+(?:\.\d+)*) (\w+)\*\*|^```json\n(.*?)```", re.S | re.M)
    for match in pattern.finditer(text):
        if match.group(1):
            heading = (match.group(1), match.group(2))
        elif heading is not None:
            blocks.append((heading[0], heading[1], match.group(3)))
    return blocks


def check(data: bytes, name: str, packet: str | None) -> list[CheckedDocument]:
    return check_bytes(data, Validator(load_catalog("qcvn120-2019")), name, packet=packet)


def errors(documents: list[CheckedDocument]) -> list[str]:
    return [f"{i.path} {i.code}: {i.en}" for d in documents for i in d.all_issues() if i.is_error]


def test_the_fixtures_cover_every_packet_of_the_readme() -> None:
    described = [describe(path) for path in FIXTURES]
    catalog = load_catalog("qcvn120-2019")
    ids = {packet.id for packet in catalog.qcvn120_packets()}
    assert {packet_id for packet_id, _, _ in described} == ids
    for packet_id, packet, _ in described:
        assert catalog.packet(packet).id == packet_id
    answers = {packet for _, packet, role in described if role == "answer"}
    assert answers == {
        "LayThuTuc",
        "LayQDCB",
        "DanhSachPAKNCongKhai",
        "LayDanhSachHoiDapGuiTuDVCQG",
    }


@pytest.mark.skipif(not SHARED_README.exists(), reason="the shared evidence README is not here")
def test_the_fixtures_are_exact_copies_of_the_readme() -> None:
    blocks = readme_blocks(SHARED_README.read_text("utf-8"))
    assert len(blocks) == len(FIXTURES)
    for packet_id, packet, body in blocks:
        role = "request" if "service" in json.loads(body) else "answer"
        fixture = CORPUS / f"{packet_id}-{packet}.{role}.json"
        assert fixture.read_text("utf-8") == body, fixture.name


def _real(path: Path) -> object:
    return pytest.param(path, id=path.stem)


@pytest.mark.parametrize(
    "path", [_real(path) for path in FIXTURES if describe(path)[0] not in HYPOTHETICAL]
)
def test_readme_sample_has_no_error(path: Path) -> None:
    _, packet, role = describe(path)
    documents = check(path.read_bytes(), path.name, packet if role == "answer" else None)
    assert len(documents) == 1
    assert documents[0].result is not None
    assert documents[0].result.service == packet
    assert not errors(documents), errors(documents)
    assert documents[0].ok


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem) for p in FIXTURES if describe(p)[0] in HYPOTHETICAL],
)
def test_hypothetical_readme_sample_is_flagged(path: Path) -> None:
    _, packet, role = describe(path)
    documents = check(path.read_bytes(), path.name, packet if role == "answer" else None)
    codes = {issue.code for document in documents for issue in document.all_issues()}
    assert errors(documents) or "packet.provisional" in codes
    assert "packet.provisional" in codes  # all three are provisional in the catalog


def test_broken_copy_of_the_dossier_sample_reports_exactly_date_order(tmp_path: Path) -> None:
    envelope = json.loads((CORPUS / "1.1-DongBoHoSoMC.request.json").read_text("utf-8"))
    record = envelope["data"][0]
    assert record["NgayTiepNhan"] == "20240715083000"
    record["NgayHenTra"] = "20240714170000"
    broken = tmp_path / "1.1-broken.json"
    broken.write_text(json.dumps(envelope, ensure_ascii=False), "utf-8")
    documents = check(broken.read_bytes(), broken.name, None)
    issues = [(i.path, i.code) for d in documents for i in d.all_issues()]
    assert issues == [("$.data[0].NgayHenTra", "date.order")]
    assert not documents[0].ok
    [result] = [d.result for d in documents]
    assert result is not None
    assert [record.ok for record in result.records] == [False]
