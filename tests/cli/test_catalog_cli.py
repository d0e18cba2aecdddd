"""`lienthong catalog import`: good rows stored, bad rows named, exit code says which."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lienthong.cli.main import app


def test_import_reports_stored_and_skipped_rows(tmp_path: Path) -> None:
    source = tmp_path / "catalog.yaml"
    source.write_text(
        'procedures:\n  - {MATTHC: "1.999999", TENTTHC: Thử, CAPTHUCHIEN: [{CAPTHUCHIEN: "9"}]}\n'
        'categories:\n  LayDanhMucGioiTinh:\n    - {MAGIOITINH: "9", TENGIOITINH: Không rõ}\n',
        "utf-8",
    )
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    result = CliRunner().invoke(app, ["catalog", "import", str(source), "--database", database])
    assert result.exit_code == 1
    assert "LayDanhMucGioiTinh" in result.output and "1.999999" in result.output
    assert "field.code" in result.output


def test_import_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    result = CliRunner().invoke(
        app, ["catalog", "import", str(tmp_path / "none.yaml"), "--database", database]
    )
    assert result.exit_code == 2 and "cannot read" in " ".join(result.output.split())
    assert "Traceback" not in result.output
