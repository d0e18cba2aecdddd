"""The one error of the backup package: a stable code, Vietnamese and English, and whether trying
again may help (a time-stamp authority down: yes; a damaged file or a wrong key: no)."""

from __future__ import annotations

from lienthong.security.sealed_files import SealedFileError

__all__ = ["BackupError"]

#: The backup's error is the sealed files' one: what the keys and the parts
#: (:mod:`lienthong.security.file_keys`, :mod:`lienthong.security.sealed_files`) raise reaches the
#: backup's callers as it is, with its code.
BackupError = SealedFileError
