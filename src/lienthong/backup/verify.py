"""``verify_backup``: check a backup file with no database and no network.

In order: the file can be read (ZIP, manifest); the manifest's CAdES signature against the given
anchors, offline (the OCSP answer stapled at creation says the certificate was good; without
it revocation is *unknown*, which is reported but does not fail the check); the time-stamp over
the manifest against the same anchors; each part's stored bytes against the manifest's SHA-256.
With the key, every chunk is also decrypted and authenticated, and each part's plaintext
checked against its SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from lienthong.backup.container import (
    MANIFEST,
    PARTS,
    READ_ERRORS,
    SIGNATURE,
    TIMESTAMP,
    VALIDATION,
    Contents,
    guarded,
    open_backup,
    read_part,
    unreadable,
)
from lienthong.backup.errors import BackupError
from lienthong.security.file_keys import KeyWrapper, wrong_key
from lienthong.security.sealed_files import PartEntry, damaged, decrypt_part
from lienthong.security.timestamps import Timestamp, TimestampError, verify_timestamp
from lienthong.security.verify import Status, Verification, VerifyContext, verify_cades

__all__ = ["BackupReport", "PartCheck", "content_key", "verify_backup"]

_READ = 1024 * 1024


@dataclass(frozen=True)
class PartCheck:
    name: str
    kind: str
    size: int
    problem: BackupError | None = None
    decrypted: bool = False
    """Every chunk was decrypted and the plaintext matched (only with the key)."""

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class BackupReport:
    """What :func:`verify_backup` found."""

    contents: Contents
    signature: Verification
    timestamp: Timestamp | None
    timestamp_problem: TimestampError | None
    parts: tuple[PartCheck, ...]
    key_checked: bool
    problems: tuple[BackupError, ...] = field(default=())
    """Whole-file problems: members the manifest does not list."""

    @property
    def signature_ok(self) -> bool:
        """Valid, or valid but for revocation unknown offline (reported, not fatal)."""
        return self.signature.status in (Status.VALID, Status.INDETERMINATE)

    @property
    def ok(self) -> bool:
        return (
            self.signature_ok
            and self.timestamp is not None
            and all(part.ok for part in self.parts)
            and not self.problems
        )

    def as_dict(self) -> dict[str, Any]:
        manifest = self.contents.manifest
        stamp = self.timestamp
        return {
            "ok": self.ok,
            "file": str(self.contents.path),
            "created_at": manifest.get("created_at"),
            "lienthong": manifest.get("lienthong"),
            "database": manifest.get("database"),
            "key": {k: v for k, v in manifest["key"].items() if k != "wrapped_key"},
            "signature": {
                "ok": self.signature_ok,
                "status": self.signature.status.value,
                "reason": self.signature.reason,
                "message": self.signature.vi,
                "message_en": self.signature.en,
                "signer": self.signature.signer,
                "signing_time": _when(self.signature.signing_time),
                "revocation_known": self.signature.status is Status.VALID,
            },
            "timestamp": {
                "ok": stamp is not None,
                "time": _when(stamp.time) if stamp else None,
                "tsa": stamp.tsa if stamp else None,
                "serial": str(stamp.serial) if stamp else None,
                "problem": _problem(self.timestamp_problem),
            },
            "key_checked": self.key_checked,
            "parts": [
                {
                    "name": part.name,
                    "kind": part.kind,
                    "size": part.size,
                    "ok": part.ok,
                    "decrypted": part.decrypted,
                    "problem": _problem(part.problem),
                }
                for part in self.parts
            ],
            "problems": [_problem(problem) for problem in self.problems],
        }


def _when(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _problem(problem: BackupError | TimestampError | None) -> dict[str, str] | None:
    if problem is None:
        return None
    return {"code": problem.code, "message": problem.vi, "message_en": problem.en}


def content_key(contents: Contents, wrapper: KeyWrapper) -> bytes:
    """The backup's content key, unwrapped after checking ``wrapper`` is the key it names."""
    expected, given = str(contents.key.get("id")), wrapper.key_id()
    if expected != given:
        raise wrong_key(expected, given)
    if contents.key.get("method") != wrapper.method:
        raise BackupError(
            "backup.wrong_key",
            f"bản sao lưu dùng khóa kiểu {contents.key.get('method')}, không phải {wrapper.method}",
            f"the backup uses a {contents.key.get('method')} key, not {wrapper.method}",
        )
    try:
        wrapped = base64.b64decode(contents.key["wrapped_key"], validate=True)
    except ValueError:
        raise unreadable(contents.path, "manifest: key.wrapped_key is not base64") from None
    return wrapper.unwrap(wrapped)


def _check_part(archive: zipfile.ZipFile, entry: PartEntry, key: bytes | None) -> PartCheck:
    try:
        if key is not None:
            with read_part(archive, entry) as stored:
                for _ in guarded(entry, decrypt_part(stored, key, entry)):
                    pass
        with read_part(archive, entry) as stored:
            digest = hashlib.sha256()
            size = 0
            try:
                while block := stored.read(_READ):
                    digest.update(block)
                    size += len(block)
            except READ_ERRORS as exc:
                raise damaged(entry.name, str(exc), str(exc)) from None
        if size != entry.stored_size or digest.hexdigest() != entry.stored_sha256:
            raise damaged(
                entry.name,
                "bản mã khác kích thước hoặc SHA-256 ghi trong bản kê",
                "the stored bytes differ from the size or SHA-256 in the manifest",
            )
    except BackupError as problem:
        return PartCheck(entry.name, entry.kind, entry.size, problem)
    return PartCheck(entry.name, entry.kind, entry.size, decrypted=key is not None)


def verify_backup(
    path: Path,
    anchors: Sequence[x509.Certificate],
    wrapper: KeyWrapper | None = None,
    *,
    intermediates: Sequence[x509.Certificate] = (),
    parts: bool = True,
) -> BackupReport:
    """Check the backup at ``path`` (see the module); ``parts=False`` checks the manifest only.
    :class:`BackupError` when the file cannot be read at all or ``wrapper`` is not its key;
    every other finding is in the report (:attr:`BackupReport.ok`)."""
    contents = open_backup(path)
    kept = contents.validation
    context = VerifyContext(
        trust_anchors=tuple(anchors),
        other_certs=tuple(intermediates),
        crls=tuple(der for name, der in kept if name.startswith(VALIDATION + "crl-")),
        ocsps=tuple(der for name, der in kept if name.startswith(VALIDATION + "ocsp-")),
        allow_fetching=False,
    )
    signature = verify_cades(contents.manifest_bytes, contents.signature, context)
    chain = [x509.load_der_x509_certificate(der) for der in signature.chain]
    stamp: Timestamp | None = None
    stamp_problem: TimestampError | None = None
    try:
        stamp = verify_timestamp(
            contents.timestamp, contents.manifest_bytes, anchors, [*intermediates, *chain]
        )
    except TimestampError as exc:
        stamp_problem = exc
    key = content_key(contents, wrapper) if wrapper is not None else None
    listed = {
        MANIFEST,
        SIGNATURE,
        TIMESTAMP,
        *(PARTS + entry.name for entry in contents.parts),
        *(name for name, _ in kept),
    }
    problems = tuple(
        BackupError(
            "backup.unlisted_member",
            f"tệp chứa {name} không có trong bản kê",
            f"the file holds {name}, which the manifest does not list",
        )
        for name in sorted(contents.members - listed)
    )
    checks: tuple[PartCheck, ...] = ()
    if parts:
        try:
            with zipfile.ZipFile(path) as archive:
                checks = tuple(_check_part(archive, entry, key) for entry in contents.parts)
        except READ_ERRORS as exc:
            raise BackupError("backup.unreadable", f"{path}: {exc}", f"{path}: {exc}") from None
    return BackupReport(
        contents, signature, stamp, stamp_problem, checks, key is not None, problems
    )
