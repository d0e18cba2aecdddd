"""`lienthong keys generate`: a new master key file, the owner's only, never overwritten; and
the rotate command's refusals in words."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.security.sealing import FileMasterKey


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def test_generate_writes_a_0600_key_once_and_rotate_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    made = cli("keys", "generate", str(path))
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileMasterKey(path).key_id in made.output
    key = path.read_bytes()
    again = cli("keys", "generate", str(path))
    assert again.exit_code == 2 and "never overwritten" in again.output
    assert path.read_bytes() == key

    database = f"sqlite:///{tmp_path / 'hub.db'}"
    nothing_new = cli("keys", "rotate", "--database", database, "--master-key-file", str(path))
    assert nothing_new.exit_code == 2 and "--new-data-key" in nothing_new.output
    path.chmod(0o644)
    exposed = cli("keys", "rotate", "--database", database, "--master-key-file", str(path))
    assert exposed.exit_code == 2 and "chmod 600" in exposed.output
    empty = cli("keys", "status", "--database", database)
    assert empty.exit_code == 0 and "no data key" in empty.output
