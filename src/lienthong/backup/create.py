"""``create_backup``: a consistent snapshot of the database and the archive files, encrypted,
in one file whose manifest is signed and time-stamped (docs/backups.md).

The file is written beside its target under a temporary name and appears under its own name
only once complete, signature and time-stamp included: a failure at any step (the time-stamp
authority down, the disk full) leaves no partial backup behind.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from sqlalchemy import Engine

from lienthong import __version__
from lienthong.backup.container import (
    FORMAT,
    MANIFEST,
    PARTS,
    SIGNATURE,
    TIMESTAMP,
    VALIDATION,
    VERSION,
    manifest_bytes,
)
from lienthong.backup.errors import BackupError
from lienthong.backup.snapshot import DatabaseFacts, postgresql_dump, sqlite_snapshot
from lienthong.security.cades import sign_cades
from lienthong.security.file_keys import CONTENT_KEY_BYTES, KeyWrapper
from lienthong.security.policy import AlgorithmProblem
from lienthong.security.revocation_cache import ocsp_serial
from lienthong.security.sealed_files import CHUNK_SIZE, PartEntry, encrypt_part
from lienthong.security.signers import Signer, SignerError
from lienthong.security.timestamps import Timestamp, TimestampError, request_timestamp
from lienthong.security.verify import Status, VerifyContext, verify_cades

__all__ = ["WRAPPING", "CreatedBackup", "create_backup"]

WRAPPING = "AES-KW (RFC 3394)"
#: The signer's own certificate in one of these states: the backup would carry a signature no
#: verifier accepts, so none is made.
_BLOCKING = frozenset({Status.REVOKED, Status.EXPIRED, Status.WEAK, Status.UNTRUSTED})


@dataclass(frozen=True)
class CreatedBackup:
    path: Path
    manifest: dict[str, Any]
    signer: str
    stamp: Timestamp
    stapled: bool
    """The signer's OCSP answer is stapled in the signature (a verifier offline then knows the
    certificate was good when the backup was signed)."""


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_PROBE = b'{"lienthong":"backup signer self-check"}'


@dataclass(frozen=True)
class _SignerCheck:
    stapled: bytes | None
    """The signer's OCSP answer, to staple in the signature."""
    validation: tuple[tuple[str, bytes], ...]
    """The revocation data of the whole path (``validation/<kind>-<n>.der``, DER), kept so that
    the signature verifies offline years later."""


def _check_signer(signer: Signer, anchors: Sequence[x509.Certificate]) -> _SignerCheck:
    """With ``anchors``, the signer's certificate checked as a verifier will (revocation
    fetched): one that is revoked, expired, untrusted or weak signs no backup."""
    if not anchors:
        return _SignerCheck(None, ())
    check = verify_cades(
        _PROBE,
        sign_cades(_PROBE, signer),
        VerifyContext(trust_anchors=tuple(anchors), allow_fetching=True),
    )
    if check.status in _BLOCKING:
        raise BackupError(
            f"backup.signer_{check.status.value}",
            f"khóa ký không dùng được: {check.vi}",
            f"the signing key cannot be used: {check.en}",
        )
    if not check.valid:
        return _SignerCheck(None, ())
    serial = signer.certificate.serial_number
    stapled = next(
        (i.der for i in check.revocation if i.kind == "ocsp" and ocsp_serial(i.der) == serial),
        None,
    )
    validation = tuple(
        (f"{VALIDATION}{item.kind}-{number}.der", item.der)
        for number, item in enumerate(check.revocation, start=1)
    )
    return _SignerCheck(stapled, validation)


def _archive_files(archives: Path | None) -> list[tuple[str, Path]]:
    if archives is None:
        return []
    if not archives.is_dir():
        raise BackupError(
            "backup.archives",
            f"{archives} không phải thư mục lưu trữ",
            f"{archives} is not an archive folder",
        )
    return sorted(
        ("archives/" + path.relative_to(archives).as_posix(), path)
        for path in archives.rglob("*")
        if path.is_file()
    )


def _add_part(
    archive: zipfile.ZipFile,
    source: IO[bytes],
    content_key: bytes,
    name: str,
    kind: str,
    chunk_size: int,
) -> PartEntry:
    with archive.open(PARTS + name, "w", force_zip64=True) as sink:
        return encrypt_part(source, sink, content_key, name, kind, chunk_size)


def _database_part(
    archive: zipfile.ZipFile, engine: Engine, content_key: bytes, directory: Path, chunk_size: int
) -> tuple[PartEntry, DatabaseFacts]:
    if engine.dialect.name == "sqlite":
        with sqlite_snapshot(engine, directory) as (copy, facts), copy.open("rb") as source:
            return _add_part(
                archive, source, content_key, "database.sqlite", "database", chunk_size
            ), facts
    if engine.dialect.name == "postgresql":
        with postgresql_dump(engine) as (stream, facts):
            entry = _add_part(
                archive, stream, content_key, "database.pgdump", "database", chunk_size
            )
        return entry, facts
    raise BackupError(
        "backup.database",
        f"chỉ sao lưu được SQLite và PostgreSQL, không phải {engine.dialect.name}",
        f"only SQLite and PostgreSQL are backed up, not {engine.dialect.name}",
    )


def create_backup(
    target: Path,
    engine: Engine,
    wrapper: KeyWrapper,
    signer: Signer,
    tsa_url: str,
    *,
    anchors: Sequence[x509.Certificate] = (),
    archives: Path | None = None,
    chunk_size: int = CHUNK_SIZE,
    timeout: float = 10.0,
) -> CreatedBackup:
    """Back up the database of ``engine`` (and every file under ``archives``) into ``target``,
    a new file: encrypted under a fresh content key wrapped by ``wrapper``, the manifest signed
    by ``signer`` (checked against ``anchors`` and its OCSP answer stapled, when given) and
    time-stamped by the TSA at ``tsa_url``. :class:`BackupError` on any failure (retryable when
    the TSA could not be reached), with no file left."""
    if target.exists():
        raise BackupError(
            "backup.exists",
            f"{target} đã có: không ghi đè một bản sao lưu",
            f"{target} exists: a backup is never overwritten",
        )
    directory = target.parent
    if not directory.is_dir():
        raise BackupError(
            "backup.folder",
            f"thư mục {directory} không tồn tại",
            f"the folder {directory} does not exist",
        )
    files = _archive_files(archives)
    try:
        checked = _check_signer(signer, anchors)
    except (SignerError, AlgorithmProblem) as exc:
        code = exc.code if isinstance(exc, SignerError) else "backup.signer"
        raise BackupError(code, exc.vi, exc.en) from None
    content_key = os.urandom(CONTENT_KEY_BYTES)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=directory)
    os.close(handle)
    partial = Path(name)
    try:
        created_at = dt.datetime.now(dt.UTC)
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            database, facts = _database_part(archive, engine, content_key, directory, chunk_size)
            parts = [database]
            for part_name, path in files:
                with path.open("rb") as source:
                    parts.append(
                        _add_part(archive, source, content_key, part_name, "archive", chunk_size)
                    )
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": _utc_text(created_at),
                "lienthong": __version__,
                "database": {**facts.as_dict(), "part": database.name},
                "key": {
                    "method": wrapper.method,
                    "label": wrapper.label,
                    "id": wrapper.key_id(),
                    "wrapping": WRAPPING,
                    "wrapped_key": base64.b64encode(wrapper.wrap(content_key)).decode("ascii"),
                },
                "parts": [part.as_dict() for part in parts],
                "validation": [
                    {"name": name, "sha256": hashlib.sha256(der).hexdigest()}
                    for name, der in checked.validation
                ],
            }
            signed = manifest_bytes(manifest)
            signature = sign_cades(signed, signer, ocsp_response=checked.stapled)
            try:
                stamp = request_timestamp(tsa_url, signed, timeout=timeout)
            except TimestampError as exc:
                raise BackupError(
                    exc.code,
                    f"{exc.vi}; chưa có bản sao lưu nào được ghi"
                    + ("; hãy thử lại" if exc.retryable else ""),
                    f"{exc.en}; no backup was written" + ("; try again" if exc.retryable else ""),
                    retryable=exc.retryable,
                ) from None
            archive.writestr(MANIFEST, signed)
            archive.writestr(SIGNATURE, signature)
            archive.writestr(TIMESTAMP, stamp.response)
            for name, der in checked.validation:
                archive.writestr(name, der)
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        try:
            os.link(partial, target)  # never over a file that appeared meanwhile
        except FileExistsError:
            raise BackupError(
                "backup.exists",
                f"{target} đã có: không ghi đè một bản sao lưu",
                f"{target} exists: a backup is never overwritten",
            ) from None
    except OSError as exc:
        raise BackupError(
            "backup.write",
            f"không ghi được bản sao lưu {target}: {exc.strerror or exc}",
            f"cannot write the backup {target}: {exc.strerror or exc}",
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return CreatedBackup(
        target,
        manifest,
        signer.certificate.subject.rfc4514_string(),
        stamp,
        checked.stapled is not None,
    )
