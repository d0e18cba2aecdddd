"""`lienthong hub`: the settings it checks before it starts anything."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lienthong.cli.main import app


def test_a_bad_trusted_proxy_stops_the_hub_before_it_starts(tmp_path: Path) -> None:
    database = tmp_path / "hub.db"
    result = CliRunner().invoke(
        app,
        ["hub"],
        env={
            "COLUMNS": "250",
            "LIENTHONG_TRUSTED_PROXIES": "10.0.0.0/8,proxy.example",
            "LIENTHONG_DATABASE_URL": f"sqlite:///{database}",
        },
    )
    assert result.exit_code == 2, result.output
    assert "LIENTHONG_TRUSTED_PROXIES: 'proxy.example' is not an IP address or network" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not database.exists()  # neither the database nor the server was started


def test_a_logo_that_is_not_an_image_stops_the_hub_before_it_starts(tmp_path: Path) -> None:
    database = tmp_path / "hub.db"
    logo = tmp_path / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    result = CliRunner().invoke(
        app,
        ["hub"],
        env={
            "COLUMNS": "250",
            "LIENTHONG_AGENCY_LOGO": str(logo),
            "LIENTHONG_DATABASE_URL": f"sqlite:///{database}",
        },
    )
    assert result.exit_code == 2, result.output
    assert "LIENTHONG_AGENCY_LOGO:" in result.output
    assert "is not a PNG, JPEG, GIF or WebP image" in result.output
    assert "Traceback" not in result.output
    assert not database.exists()
