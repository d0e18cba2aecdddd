"""The backup file: a ZIP archive (stored, not compressed: the parts are encrypted) of

- ``manifest.json``: what the backup holds (see docs/backups.md), in the exact bytes signed;
- ``manifest.json.p7s``: a CAdES detached signature over those bytes;
- ``manifest.json.tsr``: an RFC 3161 ``TimeStampResp`` over SHA-256 of those bytes;
- ``parts/<name>``: each part, encrypted (:mod:`lienthong.security.sealed_files`).

The manifest binds everything: the parts by the SHA-256 of their stored and plaintext bytes,
the content key by its wrapped form and the wrapping key's check value.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lienthong.backup.errors import BackupError
from lienthong.backup.snapshot import DatabaseFacts
from lienthong.security.sealed_files import PartEntry, damaged

__all__ = [
    "FORMAT",
    "MANIFEST",
    "PARTS",
    "SIGNATURE",
    "TIMESTAMP",
    "VALIDATION",
    "VERSION",
    "Contents",
    "guarded",
    "manifest_bytes",
    "open_backup",
    "read_part",
    "unreadable",
]

FORMAT = "lienthong-backup"
VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.p7s"
TIMESTAMP = "manifest.json.tsr"
PARTS = "parts/"
#: The revocation data of the signer's path at signing (listed in the manifest).
VALIDATION = "validation/"
#: Errors of a ZIP member that was damaged on the way (a byte changed, a file cut short).
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as signed: sorted keys, indented, UTF-8."""
    return (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def unreadable(path: Path, detail: str) -> BackupError:
    return BackupError(
        "backup.unreadable",
        f"{path} không phải bản sao lưu lienthong đọc được (bị cắt ngắn, hỏng hoặc tệp khác): "
        f"{detail}",
        f"{path} is not a readable lienthong backup (cut short, damaged or another file): {detail}",
    )


@dataclass(frozen=True)
class Contents:
    """What a backup file says of itself, read but not yet checked."""

    path: Path
    manifest: dict[str, Any]
    manifest_bytes: bytes
    signature: bytes
    timestamp: bytes
    parts: tuple[PartEntry, ...]
    database: DatabaseFacts
    members: frozenset[str]
    """Every name in the ZIP archive."""
    validation: tuple[tuple[str, bytes], ...] = ()
    """The revocation data kept at signing, each matching the manifest's SHA-256."""

    @property
    def key(self) -> dict[str, Any]:
        key: dict[str, Any] = self.manifest["key"]
        return key


def open_backup(path: Path) -> Contents:
    """Read the manifest, its signature and time-stamp of the backup at ``path``;
    :class:`BackupError` ``backup.unreadable`` when that much cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = frozenset(archive.namelist())
            missing = [name for name in (MANIFEST, SIGNATURE, TIMESTAMP) if name not in members]
            if missing:
                raise unreadable(path, f"missing {', '.join(missing)}")
            signed = archive.read(MANIFEST)
            signature = archive.read(SIGNATURE)
            timestamp = archive.read(TIMESTAMP)
            validation = _validation(path, archive, json.loads(signed).get("validation") or [])
    except FileNotFoundError:
        raise BackupError(
            "backup.not_found", f"không có tệp {path}", f"no such file: {path}"
        ) from None
    except READ_ERRORS as exc:
        raise unreadable(path, str(exc) or type(exc).__name__) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise unreadable(path, f"manifest: {exc}") from None
    try:
        manifest = json.loads(signed)
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}")
        if manifest.get("version") != VERSION:
            raise ValueError(
                f"version {manifest.get('version')!r} (this lienthong reads {VERSION})"
            )
        parts = tuple(PartEntry.from_dict(part) for part in manifest["parts"])
        database = DatabaseFacts.from_dict(manifest["database"])
        if not isinstance(manifest["key"]["wrapped_key"], str):
            raise TypeError("key")
        databases = [part.name for part in parts if part.kind == "database"]
        if databases != [manifest["database"]["part"]]:
            raise ValueError(f"database part {databases!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise unreadable(path, f"manifest: {exc}") from None
    return Contents(
        path, manifest, signed, signature, timestamp, parts, database, members, validation
    )


def _validation(
    path: Path, archive: zipfile.ZipFile, listed: list[dict[str, str]]
) -> tuple[tuple[str, bytes], ...]:
    found = []
    for item in listed:
        name = str(item["name"])
        if not name.startswith(VALIDATION):
            raise ValueError(f"validation entry {name!r}")
        der = archive.read(name)
        if hashlib.sha256(der).hexdigest() != item["sha256"]:
            raise unreadable(path, f"{name} differs from its SHA-256 in the manifest")
        found.append((name, der))
    return tuple(found)


def read_part(archive: zipfile.ZipFile, entry: PartEntry) -> IO[bytes]:
    """The stored bytes of a part (``backup.part_damaged`` when the archive lacks it)."""
    try:
        return archive.open(PARTS + entry.name)
    except KeyError:
        raise damaged(entry.name, "không có trong tệp", "missing from the file") from None
    except READ_ERRORS as exc:
        raise damaged(entry.name, str(exc), str(exc)) from None


def guarded(entry: PartEntry, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` with the ZIP layer's read errors (a changed byte fails the member's CRC-32)
    said as a damaged part."""
    try:
        yield from chunks
    except READ_ERRORS as exc:
        raise damaged(entry.name, str(exc), str(exc)) from None
