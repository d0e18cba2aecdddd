"""The documentation stays true to the code: generated packet reference, layout, quick start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lienthong.spec import PacketStatus, Validator, load_catalog
from lienthong.spec.export import markdown

REPOSITORY = Path(__file__).parents[2]
DOCS = REPOSITORY / "docs"
PACKAGE = REPOSITORY / "src" / "lienthong"


@pytest.fixture(autouse=True)
def _no_user_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIENTHONG_CATALOG", raising=False)
    monkeypatch.delenv("LIENTHONG_PROFILE", raising=False)


def test_packets_md_is_the_markdown_export_of_the_base_profile() -> None:
    expected = markdown(load_catalog("qcvn120-2019"))
    actual = (DOCS / "packets.md").read_text("utf-8")
    assert actual == expected, "docs/packets.md is out of date with the catalog: run `make docs`"


def subpackages() -> list[str]:
    return sorted(
        path.name
        for path in PACKAGE.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_"))
    )


def test_architecture_md_mentions_every_subpackage() -> None:
    text = (DOCS / "architecture.md").read_text("utf-8")
    assert subpackages(), "no subpackage found under src/lienthong"
    missing = [
        name for name in subpackages() if f"{name}/" not in text and f"lienthong.{name}" not in text
    ]
    assert not missing, f"docs/architecture.md does not describe {missing}"


def test_architecture_md_mentions_every_module_and_doc() -> None:
    text = (DOCS / "architecture.md").read_text("utf-8")
    modules = sorted(
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and "migrations" not in p.parts
    )
    missing = [name for name in modules if name.rsplit("/", 1)[-1] not in text]
    assert not missing, f"docs/architecture.md does not mention {missing}"
    docs = sorted(p.name for p in DOCS.glob("*.md") if p.name != "architecture.md")
    assert [name for name in docs if name not in text] == []


def test_readme_gives_the_two_commands() -> None:
    text = (REPOSITORY / "README.md").read_text("utf-8")
    assert "make run" in text
    assert "make test" in text


def test_readme_links_resolve() -> None:
    text = (REPOSITORY / "README.md").read_text("utf-8")
    for target in ("docs/architecture.md", "docs/packets.md", "docs/catalog-format.md"):
        assert f"]({target})" in text, target
        assert (REPOSITORY / target).exists(), target


def readme_blocks(language: str) -> list[str]:
    text = (REPOSITORY / "README.md").read_text("utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_readme_python_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = readme_blocks("python")
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "$.data[1].NgayHenTra date.order" in printed


def test_readme_override_examples_load(tmp_path: Path) -> None:
    blocks = readme_blocks("yaml")
    assert len(blocks) >= 2
    for number, block in enumerate(blocks):
        path = tmp_path / f"override-{number}.yaml"
        path.write_text(block, "utf-8")
        catalog = load_catalog(overrides=[path])
        assert catalog.chain[-1] == str(path.resolve())
    replaced = load_catalog(overrides=[tmp_path / f"override-{len(blocks) - 1}.yaml"])
    packet = replaced.packet("DongBoKetQuaXuLyPAKN")
    assert packet.status is PacketStatus.CONFIRMED
    assert packet.id == "5.2.2"
    envelope = {
        "session": "s",
        "madonvi": "000.00.00.H56",
        "service": "DongBoKetQuaXuLyPAKN",
        "data": [{"PAKNID": "55120", "NoiDungTraLoi": "Đã giải quyết"}],
    }
    result = Validator(replaced).validate_envelope(envelope)
    assert result.ok and not result.all_issues()


def test_readme_lists_every_provisional_packet() -> None:
    text = (REPOSITORY / "README.md").read_text("utf-8")
    for packet in load_catalog("qcvn120-2019").provisional_packets():
        assert f"`{packet.name}`" in text, packet.name
