"""Backups with legal value (issue 13): ``lienthong backup create / verify / restore``.

One file holds a consistent snapshot of the database (SQLite's online backup; PostgreSQL's
``pg_dump`` of the hub's schema) and the evidence archive files, encrypted (AES-256-GCM under a
content key wrapped by a key file or a PKCS#11 token), with a manifest that is signed (CAdES)
and time-stamped (RFC 3161). docs/backups.md describes the procedure.
"""

from lienthong.backup.create import CreatedBackup, create_backup
from lienthong.backup.errors import BackupError
from lienthong.backup.restore import RestoredBackup, restore_backup
from lienthong.backup.verify import BackupReport, PartCheck, verify_backup
from lienthong.security.file_keys import (
    KeyFile,
    KeyWrapper,
    TokenKey,
    create_token_key,
    key_check_value,
)

__all__ = [
    "BackupError",
    "BackupReport",
    "CreatedBackup",
    "KeyFile",
    "KeyWrapper",
    "PartCheck",
    "RestoredBackup",
    "TokenKey",
    "create_backup",
    "create_token_key",
    "key_check_value",
    "restore_backup",
    "verify_backup",
]
