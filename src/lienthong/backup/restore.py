"""``restore_backup``: a verified backup into a fresh SQLite or PostgreSQL database.

The manifest's signature and time-stamp and every part's stored bytes are checked first
(:func:`~lienthong.backup.verify.verify_backup`); then the database part is decrypted chunk by
chunk into its target, which must hold no table (nothing is ever overwritten): SQLite into a
file moved into place only once complete and checked, PostgreSQL through ``pg_restore`` in one
transaction that a failing chunk rolls back. The row counts must match the manifest's; the
database is then brought to this version's newest migration. With ``archives_to``, the archive
files are written back there (never over an existing file).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography import x509
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from lienthong.backup.container import guarded, open_backup, read_part
from lienthong.backup.errors import BackupError
from lienthong.backup.snapshot import check_empty_target, restore_postgresql, restore_sqlite
from lienthong.backup.verify import BackupReport, content_key, verify_backup
from lienthong.security.file_keys import KeyWrapper
from lienthong.security.sealed_files import PartEntry, decrypt_part
from lienthong.store.db import make_engine, normalize_url, redact_url, sqlite_file, upgrade

__all__ = ["RestoredBackup", "restore_backup"]


@dataclass(frozen=True)
class RestoredBackup:
    report: BackupReport
    kind: str
    schema: str | None
    """PostgreSQL: the schema restored (the backup's)."""
    tables: dict[str, int]
    archives: tuple[Path, ...]
    """The archive files written (under ``archives_to``)."""
    archives_skipped: tuple[str, ...]
    """Archive parts not written (no ``archives_to``)."""


def _not_verified(report: BackupReport) -> BackupError:
    found = [
        *([] if report.signature_ok else [(report.signature.vi, report.signature.en)]),
        *(
            []
            if report.timestamp_problem is None
            else [(report.timestamp_problem.vi, report.timestamp_problem.en)]
        ),
        *((p.problem.vi, p.problem.en) for p in report.parts if p.problem is not None),
        *((p.vi, p.en) for p in report.problems),
    ]
    return BackupError(
        "backup.not_verified",
        "bản sao lưu không qua kiểm tra, không khôi phục: " + "; ".join(vi for vi, _ in found),
        "the backup does not verify, nothing restored: " + "; ".join(en for _, en in found),
    )


def _archive_target(root: Path, name: str) -> Path:
    relative = PurePosixPath(name).relative_to("archives")
    if relative.is_absolute() or ".." in relative.parts:
        raise BackupError(
            "backup.archive_name",
            f"tên tệp lưu trữ không hợp lệ trong bản kê: {name}",
            f"an archive file name in the manifest is not valid: {name}",
        )
    return root.joinpath(*relative.parts)


def _restore_archive(archive: zipfile.ZipFile, key: bytes, entry: PartEntry, target: Path) -> None:
    if target.exists():
        raise BackupError(
            "backup.archive_exists",
            f"{target} đã có: không ghi đè tệp lưu trữ",
            f"{target} exists: an archive file is never overwritten",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    written = Path(name)
    try:
        with os.fdopen(handle, "wb") as sink, read_part(archive, entry) as stored:
            for chunk in guarded(entry, decrypt_part(stored, key, entry)):
                sink.write(chunk)
        os.link(written, target)
    finally:
        written.unlink(missing_ok=True)


def restore_backup(
    path: Path,
    url: str | URL,
    anchors: Sequence[x509.Certificate],
    wrapper: KeyWrapper,
    *,
    intermediates: Sequence[x509.Certificate] = (),
    archives_to: Path | None = None,
) -> RestoredBackup:
    """Verify the backup at ``path`` and restore it into the empty database of ``url`` (see
    the module). :class:`BackupError` on any failure; nothing of the target is overwritten."""
    facts = open_backup(path).database
    backend = normalize_url(url).get_backend_name()
    if backend != facts.kind:
        raise BackupError(
            "backup.target_kind",
            f"bản sao lưu là của {facts.kind}, không khôi phục vào {backend}",
            f"the backup is of {facts.kind}: it is not restored into {backend}",
        )
    check_empty_target(url, facts.schema)  # before reading the whole file: an early answer
    report = verify_backup(path, anchors, intermediates=intermediates)
    if not report.ok:
        raise _not_verified(report)
    contents = report.contents
    key = content_key(contents, wrapper)
    database = next(entry for entry in contents.parts if entry.kind == "database")
    written: list[Path] = []
    skipped: list[str] = []
    with zipfile.ZipFile(path) as archive:
        with read_part(archive, database) as stored:
            chunks = guarded(database, decrypt_part(stored, key, database))
            if facts.kind == "sqlite":
                target = sqlite_file(url)
                if target is None:
                    raise BackupError(
                        "backup.target",
                        f"khôi phục SQLite cần một tệp: {redact_url(url)}",
                        f"a SQLite restore needs a file: {redact_url(url)}",
                    )
                restore_sqlite(target, chunks, facts)
            else:
                restore_postgresql(url, chunks, facts)
        for entry in contents.parts:
            if entry.kind != "archive":
                continue
            if archives_to is None:
                skipped.append(entry.name)
                continue
            target = _archive_target(archives_to, entry.name)
            _restore_archive(archive, key, entry, target)
            written.append(target)
    schema = facts.schema if facts.kind == "postgresql" else None
    engine = make_engine(url, schema=None if schema in (None, "public") else schema)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        raise BackupError(
            "backup.upgrade",
            f"đã khôi phục nhưng không nâng cấp được lược đồ: {getattr(exc, 'orig', exc)}",
            f"restored, but the schema cannot be upgraded: {getattr(exc, 'orig', exc)}",
        ) from None
    finally:
        engine.dispose()
    return RestoredBackup(report, facts.kind, schema, facts.tables, tuple(written), tuple(skipped))
