"""The key file that wraps a sealed file's content key (backups, evidence segments): made once
with mode 0600, read back, its key check value; a bad file and another key refused by their codes.
The token key: tests/backup/test_keys.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.backup import BackupError
from lienthong.security.file_keys import KeyFile, key_check_value
from lienthong.security.sealed_files import SealedFileError


def test_a_key_file_is_made_once_and_read_back(tmp_path: Path) -> None:
    # the key check value of the all-zero AES-256 key (FIPS 197 test vector's first 3 bytes)
    assert key_check_value(bytes(32)) == "dc95c0"
    path = tmp_path / "backup.key"
    made = KeyFile.generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert KeyFile.read(path).key_id() == made.key_id()
    assert KeyFile.read(path).unwrap(made.wrap(b"k" * 32)) == b"k" * 32
    with pytest.raises(SealedFileError) as again:
        KeyFile.generate(path)
    assert again.value.code == "backup.key_exists" and path.read_text().strip()
    path.write_text("not hex\n")
    with pytest.raises(SealedFileError) as bad:
        KeyFile.read(path)
    assert bad.value.code == "backup.key_file" and "64" in bad.value.en
    with pytest.raises(SealedFileError) as wrong:
        KeyFile.generate(tmp_path / "other.key").unwrap(made.wrap(b"k" * 32))
    assert wrong.value.code == "backup.wrong_key"
    # the backup raises the sealed files' error as its own
    assert BackupError is SealedFileError
