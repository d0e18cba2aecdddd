"""The one error of the backup package: a stable code, Vietnamese and English, and whether trying
again may help (a time-stamp authority down: yes; a damaged file or a wrong key: no)."""

from __future__ import annotations

__all__ = ["BackupError"]


class BackupError(Exception):
    """A backup that cannot be made, checked or restored, said for its operator."""

    def __init__(self, code: str, vi: str, en: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.vi, self.en, self.retryable = code, vi, en, retryable
