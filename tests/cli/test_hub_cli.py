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
