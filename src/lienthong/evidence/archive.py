"""Retention and archives of the evidence log (issue 13; docs/evidence-archives.md).

Entries stay in the database for a retention period (``LIENTHONG_EVIDENCE_RETENTION_DAYS``,
30 days as X-Road keeps them); then whole time-stamped batches, oldest first and contiguous from
the first entry still in the database, move to *segment* files: a ZIP of

- ``segment.json``: the side, first/last seq, count, the digest before the first entry (its
  ``prev``), the last entry's digest, the SHA-256 of the previous segment file (null for the
  first) and when it was made;
- ``entries.jsonl``: every column of each entry, bytes in base64, bodies in PLAINTEXT (digests
  are over plaintext: :func:`lienthong.evidence.store.plain_body`);
- ``batches.jsonl``: each batch with its Merkle root and whole ``TimeStampResp``;
- ``keys.jsonl``: the entries' ``evidence_keys`` rows;
- ``certificates/<sha256>.der``, ``revocations/<sha256>.der``: the DER the entries name;
- ``manifest.json``: the SHA-256 of every file above, signed (``manifest.json.p7s``, CAdES
  detached) and time-stamped (``manifest.json.tsr``, RFC 3161 over SHA-256 of its bytes).

With a key file the segment is encrypted as a whole: the file is then a ZIP of
``encryption.json`` (the content key wrapped by the key file, as backups do) and
``segment.zip.enc`` (AES-256-GCM in chunks, :mod:`lienthong.security.sealed_files`, as backups
are).

A run: finish what a run cut short did not (the deletes of a recorded segment), set aside a
file written but never recorded, then per segment: write it under a temporary name, fsync,
rename; record it in ``evidence_archives``; delete its entries, keys and batches in bounded
transactions that never take the chain's head lock, so ingest goes on.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.audit import AuditReport, Finding, timestamp_problem
from lienthong.evidence.chain import GENESIS, EntryFields, entry_digest, rfc3339
from lienthong.evidence.merkle import merkle_root
from lienthong.evidence.status import last_archive
from lienthong.evidence.store import SIDES, entry_fields, plain_body
from lienthong.security.cades import sign_cades
from lienthong.security.file_keys import CONTENT_KEY_BYTES, KeyWrapper, wrong_key
from lienthong.security.policy import AlgorithmProblem
from lienthong.security.sealed_files import (
    PartEntry,
    SealedFileError,
    decrypt_part,
    encrypt_part,
)
from lienthong.security.signers import Signer, SignerError
from lienthong.security.timestamps import (
    Timestamp,
    TimestampError,
    request_timestamp,
    verify_timestamp,
)
from lienthong.security.verify import Status, Verification, VerifyContext, verify_cades
from lienthong.store.db import begin_sqlite_write
from lienthong.store.tables import (
    EvidenceArchive,
    EvidenceBatch,
    EvidenceEntry,
    EvidenceKey,
    KeptCertificate,
    KeptRevocation,
)

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "FORMAT",
    "ArchiveError",
    "ArchiveRun",
    "ArchivedSegment",
    "Archiver",
    "ArchivesAudit",
    "SegmentReport",
    "audit_archives",
    "is_segment",
    "segment_files",
    "segment_name",
    "verify_segment",
]

FORMAT = "lienthong-evidence-segment"
ENCRYPTED_FORMAT = "lienthong-evidence-segment-encrypted"
VERSION = 1
DEFAULT_RETENTION_DAYS = 30
#: Entries per segment at most (a segment holds whole batches: one larger batch makes its own).
SEGMENT_ENTRIES = 10_000
#: Entries deleted per transaction.
DELETE_PAGE = 1000
#: Entries read per query while writing or checking a segment.
PAGE = 1000

SEGMENT = "segment.json"
ENTRIES = "entries.jsonl"
BATCHES = "batches.jsonl"
KEYS = "keys.jsonl"
CERTIFICATES = "certificates/"
REVOCATIONS = "revocations/"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.p7s"
TIMESTAMP = "manifest.json.tsr"
ENCRYPTION = "encryption.json"
SEALED = "segment.zip.enc"
#: The name the sealed part is authenticated under (AES-GCM associated data).
SEALED_PART = "segment.zip"
WRAPPING = "AES-KW (RFC 3394)"
#: A segment's file name: its side and seq range, so that names sort in chain order.
NAME = re.compile(r"^evidence-(hub|agent)-(\d{12})-(\d{12})\.zip$")
#: Suffix given to a segment file written but never recorded (a run cut short between the two).
UNRECORDED = ".unrecorded"
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError)


class ArchiveError(Exception):
    """An archive run that cannot go on, said for its operator: a stable code, Vietnamese and
    English, and whether trying again may help. Nothing committed is lost when it is raised."""

    def __init__(self, code: str, vi: str, en: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.vi, self.en, self.retryable = code, vi, en, retryable


def segment_name(side: str, first_seq: int, last_seq: int) -> str:
    return f"evidence-{side}-{first_seq:012d}-{last_seq:012d}.zip"


def segment_files(directory: Path, side: str) -> list[Path]:
    """The side's segment files in ``directory``, in chain order (their names sort so)."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if (match := NAME.match(path.name)) is not None and match.group(1) == side
    )


def is_segment(path: Path) -> bool:
    """Whether ``path`` is an evidence segment file (plain or encrypted), as opposed to, say, an
    ASiC-E container: a ZIP holding ``segment.json`` or ``encryption.json`` of a segment."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if SEGMENT in names:
                return True
            if ENCRYPTION in names:
                return bool(json.loads(archive.read(ENCRYPTION)).get("format") == ENCRYPTED_FORMAT)
    except (*_READ_ERRORS, ValueError, AttributeError):
        return False
    return False


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _unb64(text: Any) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError("base64 text expected")
    return base64.b64decode(text, validate=True)


def _json_line(value: Mapping[str, Any]) -> bytes:
    return (
        json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        + b"\n"
    )


def _document(value: Mapping[str, Any]) -> bytes:
    """A JSON file of the segment, as written and hashed."""
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _write_failed(target: Path, problem: OSError) -> ArchiveError:
    full = problem.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    reason = problem.strerror or str(problem)
    return ArchiveError(
        "archive.disk_full" if full else "archive.write",
        f"không ghi được {target} (lưu trữ chứng cứ)"
        + (" (đĩa đầy hoặc vượt giới hạn kích thước tệp)" if full else "")
        + f": {reason}; không mục nào bị xóa khỏi cơ sở dữ liệu, hãy giải phóng chỗ rồi chạy lại",
        f"cannot write {target} (evidence archive)"
        + (" (the disk is full or a file size limit was reached)" if full else "")
        + f": {reason}; no entry left the database; free some space and run again",
        retryable=full,
    )


# -- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """The batches the next segment takes."""

    side: str
    first_seq: int
    last_seq: int
    prev_digest: str
    previous_sha256: str | None
    batch_ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True, slots=True)
class ArchivedSegment:
    name: str
    path: Path
    side: str
    first_seq: int
    last_seq: int
    sha256: str
    previous_sha256: str | None
    last_digest: str
    batches: int
    encrypted: bool

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass
class ArchiveRun:
    """What one :meth:`Archiver.run` did."""

    side: str
    segments: list[ArchivedSegment] = field(default_factory=list)
    #: Segments whose deletes a run cut short had left, finished by this one.
    resumed: list[str] = field(default_factory=list)
    #: Files written but never recorded (renamed with ``.unrecorded``; their entries stayed).
    set_aside: list[str] = field(default_factory=list)
    #: Entries deleted from the database by this run.
    deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "segments": [
                {
                    "name": s.name,
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq,
                    "entries": s.count,
                    "batches": s.batches,
                    "sha256": s.sha256,
                    "encrypted": s.encrypted,
                }
                for s in self.segments
            ],
            "resumed": self.resumed,
            "set_aside": self.set_aside,
            "deleted": self.deleted,
        }


class _HashingWriter(io.RawIOBase):
    """A ZIP member being written, hashed on the way."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink, self.digest = sink, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.digest.update(chunk)
        self.sink.write(chunk)
        return len(chunk)


class Archiver:
    """Moves a side's old, time-stamped entries from the database to segment files in
    ``directory``; :meth:`run` does one run."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        directory: Path,
        *,
        signer: Signer,
        tsa_url: str,
        side: str = "hub",
        retention: dt.timedelta = dt.timedelta(days=DEFAULT_RETENTION_DAYS),
        wrapper: KeyWrapper | None = None,
        segment_entries: int = SEGMENT_ENTRIES,
        delete_page: int = DELETE_PAGE,
        timeout: float = 10.0,
        now: dt.datetime | None = None,
    ) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {side!r}")
        self.sessions = sessions
        self.directory = directory
        self.signer = signer
        self.tsa_url = tsa_url
        self.side = side
        self.retention = retention
        self.wrapper = wrapper
        self.segment_entries = max(1, segment_entries)
        self.delete_page = max(1, delete_page)
        self.timeout = timeout
        self.now = now

    # -- a run -------------------------------------------------------------------------------

    def run(self, max_segments: int | None = None) -> ArchiveRun:
        """Finish a cut-short run, then archive every batch due (at most ``max_segments``
        segments); :class:`ArchiveError` when it cannot (what was done stays done)."""
        if not self.directory.is_dir():
            raise ArchiveError(
                "archive.folder",
                f"thư mục lưu trữ {self.directory} không tồn tại",
                f"the archive folder {self.directory} does not exist",
            )
        result = ArchiveRun(self.side)
        with self._locked():
            try:
                self._remove_partials()
                result.set_aside = self._set_aside_unrecorded()
            except OSError as exc:
                raise _write_failed(self.directory, exc) from None
            result.resumed, result.deleted = self._finish_deletes()
            while max_segments is None or len(result.segments) < max_segments:
                with self.sessions() as db:
                    plan = self.plan(db)
                if plan is None:
                    break
                segment = self._write(plan)
                self._record(segment)
                result.segments.append(segment)
                result.deleted += self._delete(segment)
        return result

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One run at a time per folder and side (another waits for nothing: it is refused)."""
        path = self.directory / f".evidence-{self.side}.lock"
        try:
            handle = path.open("a")
        except OSError as exc:
            raise _write_failed(path, exc) from None
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ArchiveError(
                    "archive.busy",
                    f"một lần lưu trữ khác của chuỗi {self.side} đang chạy trong {self.directory}",
                    f"another archive run of the {self.side} chain is under way in "
                    f"{self.directory}",
                    retryable=True,
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _remove_partials(self) -> None:
        """Temporary files of a run that died: never a segment, their entries never left."""
        for path in self.directory.glob(f".evidence-{self.side}-*.partial"):
            path.unlink(missing_ok=True)

    def _rows(self, db: Session) -> list[EvidenceArchive]:
        return list(
            db.scalars(
                select(EvidenceArchive)
                .where(EvidenceArchive.side == self.side)
                .order_by(EvidenceArchive.first_seq)
            )
        )

    def _finish_deletes(self) -> tuple[list[str], int]:
        with self.sessions() as db:
            pending = [
                (row.name, row.first_seq, row.last_seq, row.sha256)
                for row in self._rows(db)
                if row.deleted_at is None
            ]
        names, deleted = [], 0
        for name, first, last, sha256 in pending:
            path = self.directory / name
            found = _file_sha256(path) if path.is_file() else None
            if found != sha256:
                raise ArchiveError(
                    "archive.file_missing",
                    f"đoạn {name} (mục {first}-{last}) đã ghi nhận nhưng "
                    + ("không có" if found is None else "khác tệp đã ghi")
                    + f" trong {self.directory}: không xóa mục nào của nó; chỉ đúng thư mục "
                    "lưu trữ (--to) hoặc khôi phục tệp",
                    f"the segment {name} (entries {first}-{last}) is recorded but "
                    + ("missing" if found is None else "differs from the file written")
                    + f" in {self.directory}: none of its entries is deleted; give the right "
                    "archive folder (--to) or restore the file",
                )
            deleted += self._delete_entries(first, last)
            names.append(name)
        return names, deleted

    def _set_aside_unrecorded(self) -> list[str]:
        with self.sessions() as db:
            recorded = {row.name for row in self._rows(db)}
        moved = []
        for path in segment_files(self.directory, self.side):
            if path.name not in recorded:
                path.rename(path.with_name(path.name + UNRECORDED))
                moved.append(path.name)
        return moved

    # -- what is due -------------------------------------------------------------------------

    def plan(self, db: Session) -> _Plan | None:
        """The whole batches the next segment takes: oldest first, contiguous from the first
        entry still in the database, every entry older than the retention; None: none due."""
        last = last_archive(db, self.side)
        start = int(last.last_seq) + 1 if last is not None else 1
        prev = last.last_digest if last is not None else GENESIS
        first = db.execute(
            select(EvidenceEntry.seq, EvidenceEntry.prev_digest)
            .where(EvidenceEntry.side == self.side, EvidenceEntry.seq >= start)
            .order_by(EvidenceEntry.seq)
            .limit(1)
        ).first()
        if first is None:
            return None
        if int(first.seq) != start or first.prev_digest != prev:
            raise ArchiveError(
                "archive.gap",
                f"chuỗi {self.side} không liền với phần đã lưu trữ: mục đầu còn lại là "
                f"{first.seq}, cần {start} nối với mã băm cuối đã lưu trữ; không lưu trữ gì "
                "(chạy lienthong evidence audit)",
                f"the {self.side} chain does not follow on from what was archived: the first "
                f"entry left is {first.seq}, {start} linking to the last archived digest was "
                "expected; nothing is archived (run lienthong evidence audit)",
            )
        cutoff = (self.now or dt.datetime.now(dt.UTC)) - self.retention
        batches = db.execute(
            select(EvidenceBatch.id, EvidenceBatch.first_seq, EvidenceBatch.last_seq)
            .where(EvidenceBatch.side == self.side, EvidenceBatch.first_seq >= start)
            .order_by(EvidenceBatch.first_seq)
            .limit(self.segment_entries + 1)
        ).all()
        chosen: list[int] = []
        expected = start
        for batch in batches:
            first_seq, last_seq = int(batch.first_seq), int(batch.last_seq)
            if first_seq != expected or last_seq < first_seq:
                break
            if chosen and last_seq - start + 1 > self.segment_entries:
                break
            count, newest = db.execute(
                select(func.count(), func.max(EvidenceEntry.at)).where(
                    EvidenceEntry.side == self.side,
                    EvidenceEntry.seq.between(first_seq, last_seq),
                )
            ).one()
            if count != last_seq - first_seq + 1 or newest is None or newest >= cutoff:
                break
            chosen.append(int(batch.id))
            expected = last_seq + 1
        if not chosen:
            return None
        return _Plan(
            self.side, start, expected - 1, prev, last.sha256 if last else None, tuple(chosen)
        )

    # -- the file ----------------------------------------------------------------------------

    def _write(self, plan: _Plan) -> ArchivedSegment:
        name = segment_name(plan.side, plan.first_seq, plan.last_seq)
        target = self.directory / name
        try:
            handle, partial_name = tempfile.mkstemp(
                prefix=f".evidence-{plan.side}-", suffix=".partial", dir=self.directory
            )
        except OSError as exc:
            raise _write_failed(target, exc) from None
        partial = Path(partial_name)
        try:
            with os.fdopen(handle, "w+b") as sink:
                if self.wrapper is None:
                    last_digest = self._write_plain(plan, sink)
                else:
                    # the plaintext segment in a file with no name: nothing readable is left
                    # behind by a crash
                    with tempfile.TemporaryFile(dir=self.directory) as plain:
                        last_digest = self._write_plain(plan, plain)
                        plain.seek(0)
                        _seal(plain, sink, self.wrapper)
                sink.flush()
                os.fsync(sink.fileno())
            sha256 = _file_sha256(partial)
            os.link(partial, target)  # never over an existing file
            _fsync_directory(self.directory)
        except FileExistsError:
            raise ArchiveError(
                "archive.exists",
                f"{target} đã có: không ghi đè một đoạn lưu trữ",
                f"{target} exists: a segment is never overwritten",
            ) from None
        except OSError as exc:
            raise _write_failed(target, exc) from None
        finally:
            partial.unlink(missing_ok=True)
        return ArchivedSegment(
            name,
            target,
            plan.side,
            plan.first_seq,
            plan.last_seq,
            sha256,
            plan.previous_sha256,
            last_digest,
            len(plan.batch_ids),
            self.wrapper is not None,
        )

    def _write_plain(self, plan: _Plan, sink: IO[bytes]) -> str:
        """The segment ZIP of ``plan`` into ``sink``; the last entry's digest. Every entry is
        checked on the way (digest, link, batch): a broken chain is never archived."""
        files: dict[str, str] = {}
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:

            def member(name: str, chunks: Iterator[bytes]) -> None:
                with archive.open(name, "w", force_zip64=True) as raw:
                    writer = _HashingWriter(raw)
                    for chunk in chunks:
                        writer.write(chunk)
                files[name] = writer.digest.hexdigest()

            with self.sessions() as db:
                batches = list(
                    db.scalars(
                        select(EvidenceBatch)
                        .where(EvidenceBatch.id.in_(plan.batch_ids))
                        .order_by(EvidenceBatch.first_seq)
                    )
                )
                db.expunge_all()
            checked = _EntryCheck(plan, batches)
            member(ENTRIES, self._entry_lines(plan, checked))
            checked.finish()
            member(BATCHES, (_json_line(_batch_row(batch)) for batch in batches))
            member(KEYS, self._key_lines(plan))
            revocation_kinds: dict[str, str] = {}
            with self.sessions() as db:
                wanted = sorted(checked.certificates)
                for low in range(0, len(wanted), 500):
                    for sha256, der in db.execute(
                        select(KeptCertificate.sha256, KeptCertificate.der).where(
                            KeptCertificate.sha256.in_(wanted[low : low + 500])
                        )
                    ):
                        member(f"{CERTIFICATES}{sha256}.der", iter([der]))
                wanted = sorted(checked.revocations)
                for low in range(0, len(wanted), 500):
                    for sha256, kind, der in db.execute(
                        select(
                            KeptRevocation.sha256, KeptRevocation.kind, KeptRevocation.der
                        ).where(KeptRevocation.sha256.in_(wanted[low : low + 500]))
                    ):
                        revocation_kinds[sha256] = kind
                        member(f"{REVOCATIONS}{sha256}.der", iter([der]))
            missing = sorted(
                {*checked.certificates, *checked.revocations}
                - {name.split("/")[1].removesuffix(".der") for name in files if "/" in name}
            )
            if missing:
                raise ArchiveError(
                    "archive.broken",
                    f"thiếu dữ liệu chứng thư/thu hồi {missing[0]} mà các mục nêu; không lưu trữ",
                    f"the certificate or revocation data {missing[0]} the entries name is "
                    "missing; nothing is archived",
                )
            info = {
                "format": FORMAT,
                "version": VERSION,
                "side": plan.side,
                "first_seq": plan.first_seq,
                "last_seq": plan.last_seq,
                "count": plan.count,
                "batches": len(batches),
                "prev_digest": plan.prev_digest,
                "last_digest": checked.prev,
                "previous_segment_sha256": plan.previous_sha256,
                "revocation_kinds": revocation_kinds,
                "created_at": rfc3339(dt.datetime.now(dt.UTC)),
            }
            member(SEGMENT, iter([_document(info)]))
            manifest = _document(
                {"format": FORMAT, "version": VERSION, "files": dict(sorted(files.items()))}
            )
            try:
                signature = sign_cades(manifest, self.signer)
            except (SignerError, AlgorithmProblem) as exc:
                raise ArchiveError(
                    "archive.signer",
                    f"không ký được bản kê của đoạn: {exc.vi}; không mục nào bị xóa",
                    f"the segment's manifest cannot be signed: {exc.en}; no entry was deleted",
                ) from None
            try:
                stamp = request_timestamp(self.tsa_url, manifest, timeout=self.timeout)
            except TimestampError as exc:
                raise ArchiveError(
                    exc.code,
                    f"{exc.vi}; không đoạn lưu trữ nào được ghi, không mục nào bị xóa",
                    f"{exc.en}; no segment was written and no entry deleted",
                    retryable=exc.retryable,
                ) from None
            archive.writestr(MANIFEST, manifest)
            archive.writestr(SIGNATURE, signature)
            archive.writestr(TIMESTAMP, stamp.response)
        return checked.prev

    def _entry_lines(self, plan: _Plan, checked: _EntryCheck) -> Iterator[bytes]:
        last = plan.first_seq - 1
        while last < plan.last_seq:
            with self.sessions() as db:
                entries = list(
                    db.scalars(
                        select(EvidenceEntry)
                        .where(
                            EvidenceEntry.side == plan.side,
                            EvidenceEntry.seq > last,
                            EvidenceEntry.seq <= plan.last_seq,
                        )
                        .order_by(EvidenceEntry.seq)
                        .limit(PAGE)
                    )
                )
                db.expunge_all()
            if not entries:
                break
            for entry in entries:
                # the segment keeps the plaintext: it is evidence for whoever holds the file
                with self.sessions() as opener:  # no query: the engine's sealer opens the body
                    body = plain_body(opener, entry.body, f"evidence {entry.side} {entry.seq}")
                checked.entry(entry_fields(entry), body, entry.digest, entry.batch_id)
                yield _json_line(_entry_row(entry, body))
                last = int(entry.seq)

    def _key_lines(self, plan: _Plan) -> Iterator[bytes]:
        for low in range(plan.first_seq, plan.last_seq + 1, PAGE):
            with self.sessions() as db:
                rows = db.execute(
                    select(EvidenceKey.side, EvidenceKey.key, EvidenceKey.seq)
                    .where(
                        EvidenceKey.side == plan.side,
                        EvidenceKey.seq.between(low, min(low + PAGE - 1, plan.last_seq)),
                    )
                    .order_by(EvidenceKey.seq, EvidenceKey.key)
                ).all()
            for row in rows:
                yield _json_line({"side": row.side, "key": row.key, "seq": int(row.seq)})

    # -- recording and deleting --------------------------------------------------------------

    def _record(self, segment: ArchivedSegment) -> None:
        try:
            with self.sessions() as db:
                db.execute(
                    insert(EvidenceArchive).values(
                        side=segment.side,
                        name=segment.name,
                        first_seq=segment.first_seq,
                        last_seq=segment.last_seq,
                        sha256=segment.sha256,
                        previous_sha256=segment.previous_sha256,
                        last_digest=segment.last_digest,
                        created_at=dt.datetime.now(dt.UTC),
                        deleted_at=None,
                    )
                )
                db.commit()
        except IntegrityError:
            # another archiver (another folder) recorded these entries first: ours is not theirs
            segment.path.unlink(missing_ok=True)
            raise ArchiveError(
                "archive.race",
                f"một lần lưu trữ khác đã ghi nhận mục {segment.first_seq} trước; đã bỏ tệp "
                f"{segment.name}",
                f"another archive run recorded entry {segment.first_seq} first; the file "
                f"{segment.name} was removed",
                retryable=True,
            ) from None

    def _delete(self, segment: ArchivedSegment) -> int:
        return self._delete_entries(segment.first_seq, segment.last_seq)

    def _delete_entries(self, first: int, last: int) -> int:
        """Delete the entries ``first``..``last`` and their keys, ``delete_page`` per
        transaction, then their batches, then mark the segment done. The head is not touched:
        appends go on meanwhile."""
        deleted = 0
        for low in range(first, last + 1, self.delete_page):
            deleted += self._delete_page(low, min(low + self.delete_page - 1, last))
        with self.sessions() as db:
            begin_sqlite_write(db.connection())
            db.execute(
                delete(EvidenceBatch).where(
                    EvidenceBatch.side == self.side,
                    EvidenceBatch.first_seq >= first,
                    EvidenceBatch.last_seq <= last,
                )
            )
            db.execute(
                update(EvidenceArchive)
                .where(EvidenceArchive.side == self.side, EvidenceArchive.first_seq == first)
                .values(deleted_at=dt.datetime.now(dt.UTC))
            )
            db.commit()
        return deleted

    def _delete_page(self, low: int, high: int) -> int:
        with self.sessions() as db:
            begin_sqlite_write(db.connection())
            db.execute(
                delete(EvidenceKey).where(
                    EvidenceKey.side == self.side, EvidenceKey.seq.between(low, high)
                )
            )
            gone = db.execute(
                delete(EvidenceEntry)
                .where(EvidenceEntry.side == self.side, EvidenceEntry.seq.between(low, high))
                .returning(EvidenceEntry.seq)
            ).all()
            db.commit()
        return len(gone)


def _entry_row(entry: EvidenceEntry, body: bytes) -> dict[str, Any]:
    """Every column of an entry, bytes in base64, the body in plaintext."""
    return {
        "id": entry.id,
        "side": entry.side,
        "seq": int(entry.seq),
        "at": rfc3339(entry.at),
        "kind": entry.kind,
        "log_id": entry.log_id,
        "service": entry.service,
        "origin_unit": entry.origin_unit,
        "origin_account": entry.origin_account,
        "destination": entry.destination,
        "body": _b64(body),
        "body_sha256": entry.body_sha256,
        "signature": _b64(entry.signature),
        "signature_format": entry.signature_format,
        "certificates": list(entry.certificates or []),
        "revocations": list(entry.revocations or []),
        "validation": entry.validation,
        "receipt": _b64(entry.receipt),
        "receipt_signature": _b64(entry.receipt_signature),
        "prev_digest": entry.prev_digest,
        "digest": entry.digest,
        "batch_id": entry.batch_id,
    }


def _batch_row(batch: EvidenceBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "side": batch.side,
        "first_seq": int(batch.first_seq),
        "last_seq": int(batch.last_seq),
        "size": batch.size,
        "root": batch.root,
        "response": _b64(batch.response),
        "gen_time": rfc3339(batch.gen_time),
        "tsa_url": batch.tsa_url,
        "created_at": rfc3339(batch.created_at),
    }


def _fields(row: Mapping[str, Any]) -> EntryFields:
    """An archived entry's digested fields (ValueError, KeyError, TypeError when malformed)."""
    body = _unb64(row["body"])
    return EntryFields(
        side=str(row["side"]),
        seq=int(row["seq"]),
        at=dt.datetime.fromisoformat(str(row["at"])),
        kind=str(row["kind"]),
        log_id=row["log_id"],
        service=row["service"],
        origin_unit=row["origin_unit"],
        origin_account=row["origin_account"],
        destination=row["destination"],
        body_sha256=str(row["body_sha256"]),
        signature=_unb64(row["signature"]),
        signature_format=row["signature_format"],
        certificates=tuple(row["certificates"]),
        revocations=tuple(row["revocations"]),
        validation=row["validation"],
        receipt=_unb64(row["receipt"]),
        receipt_signature=_unb64(row["receipt_signature"]),
        prev_digest=str(row["prev_digest"]),
        body=body or b"",
    )


class _EntryCheck:
    """The entries of a segment being written, checked as they pass: a chain already broken in
    the database is refused (it stays there, for the audit to name)."""

    def __init__(self, plan: _Plan, batches: Sequence[EvidenceBatch]) -> None:
        self.plan = plan
        self.expected, self.prev = plan.first_seq, plan.prev_digest
        self.batches = {batch.id: batch for batch in batches}
        self.leaves: dict[int, list[bytes]] = {batch.id: [] for batch in batches}
        self.certificates: set[str] = set()
        self.revocations: set[str] = set()

    def _broken(self, seq: int, vi: str, en: str) -> ArchiveError:
        return ArchiveError(
            "archive.broken",
            f"mục {seq} của chuỗi {self.plan.side}: {vi}; không lưu trữ gì (chạy lienthong "
            "evidence audit)",
            f"entry {seq} of the {self.plan.side} chain: {en}; nothing is archived (run "
            "lienthong evidence audit)",
        )

    def entry(self, fields: EntryFields, body: bytes, digest: str, batch_id: int | None) -> None:
        """Check the next entry (``body``: its plaintext)."""
        seq = fields.seq
        if seq != self.expected:
            raise self._broken(self.expected, "thiếu mục", "the entry is missing")
        if hashlib.sha256(body).hexdigest() != fields.body_sha256:
            raise self._broken(seq, "nội dung đã bị sửa", "the body was changed")
        if fields.prev_digest != self.prev or entry_digest(fields) != digest:
            raise self._broken(seq, "mã băm hoặc liên kết sai", "its digest or link is wrong")
        batch = self.batches.get(batch_id) if batch_id is not None else None
        if batch is None or not batch.first_seq <= seq <= batch.last_seq:
            raise self._broken(seq, "batch_id sai", "its batch_id is wrong")
        self.leaves[batch.id].append(bytes.fromhex(digest))
        self.certificates.update(fields.certificates)
        self.revocations.update(fields.revocations)
        self.expected, self.prev = seq + 1, digest

    def finish(self) -> None:
        if self.expected != self.plan.last_seq + 1:
            raise self._broken(self.expected, "thiếu mục", "the entry is missing")
        for batch in self.batches.values():
            if merkle_root(self.leaves[batch.id]).hex() != batch.root:
                raise self._broken(
                    batch.first_seq, "gốc Merkle của lô sai", "its batch's Merkle root is wrong"
                )


def _seal(plain: IO[bytes], sink: IO[bytes], wrapper: KeyWrapper) -> None:
    """The encrypted segment: ``encryption.json`` and the sealed plaintext ZIP."""
    content_key = os.urandom(CONTENT_KEY_BYTES)
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open(SEALED, "w", force_zip64=True) as sealed:
            part = encrypt_part(plain, sealed, content_key, SEALED_PART, "evidence-segment")
        archive.writestr(
            ENCRYPTION,
            _document(
                {
                    "format": ENCRYPTED_FORMAT,
                    "version": VERSION,
                    "key": {
                        "method": wrapper.method,
                        "label": wrapper.label,
                        "id": wrapper.key_id(),
                        "wrapping": WRAPPING,
                        "wrapped_key": _b64(wrapper.wrap(content_key)),
                    },
                    "part": part.as_dict(),
                }
            ),
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- reading and checking ----------------------------------------------------------------------

_SEGMENT_MESSAGES: dict[str, tuple[str, str]] = {
    "segment.unreadable": (
        "không đọc được đoạn lưu trữ (bị cắt, hỏng hoặc không phải đoạn lưu trữ)",
        "the segment cannot be read (cut short, damaged or not a segment)",
    ),
    "segment.encrypted": (
        "đoạn lưu trữ được mã hóa: cần tệp khóa (--encrypt-key-file)",
        "the segment is encrypted: its key file is needed (--encrypt-key-file)",
    ),
    "segment.key": (
        "không giải mã được đoạn lưu trữ bằng khóa đã cho",
        "the segment cannot be decrypted with the key given",
    ),
    "segment.manifest": (
        "một tệp của đoạn không khớp bản kê (bị sửa, thiếu hoặc thừa)",
        "a file of the segment does not match its manifest (changed, missing or added)",
    ),
    "segment.signature": (
        "chữ ký của bản kê không hợp lệ",
        "the manifest's signature does not hold",
    ),
    "segment.timestamp": (
        "dấu thời gian của bản kê không hợp lệ",
        "the manifest's time-stamp does not hold",
    ),
    "segment.content": (
        "nội dung đoạn không khớp mô tả của nó (segment.json)",
        "the segment's content does not match its description (segment.json)",
    ),
    "segment.order": (
        "các đoạn lưu trữ không liền nhau (thiếu, thừa hoặc sai thứ tự)",
        "the segments do not follow on (one missing, added or out of order)",
    ),
    "segment.link": (
        "mã băm của đoạn trước không khớp liên kết của đoạn này",
        "the previous segment's SHA-256 does not match this segment's link",
    ),
    "segment.table": (
        "tệp khác mã băm ghi trong evidence_archives",
        "the file differs from the SHA-256 recorded in evidence_archives",
    ),
    "segment.unrecorded": (
        "tệp không được ghi nhận trong evidence_archives",
        "the file is not recorded in evidence_archives",
    ),
    "segment.missing": (
        "đoạn được ghi nhận trong evidence_archives nhưng không có trong thư mục",
        "the segment is recorded in evidence_archives but missing from the folder",
    ),
}


@dataclass
class SegmentReport:
    """What :func:`verify_segment` found in one segment file."""

    path: Path
    sha256: str
    #: ``segment.json`` as read (empty when it could not be).
    info: dict[str, Any]
    encrypted: bool
    #: The entries, batches and their findings (entry.*, batch.* as the database audit says).
    audit: AuditReport
    signature: Verification | None = None
    timestamp: Timestamp | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def clean(self) -> bool:
        return self.audit.clean

    def add(self, code: str, detail: str = "", seq: int | None = None) -> None:
        vi, en = _SEGMENT_MESSAGES[code]
        suffix = f" ({detail})" if detail else ""
        where = f"{self.name}" + (f", mục {seq}" if seq is not None else "")
        where_en = f"{self.name}" + (f", entry {seq}" if seq is not None else "")
        self.audit.findings.append(
            Finding(code, seq, f"{where}: {vi}{suffix}", f"{where_en}: {en}{suffix}")
        )

    def as_dict(self) -> dict[str, Any]:
        first = self.audit.findings[0] if self.audit.findings else None
        return {
            "file": str(self.path),
            "sha256": self.sha256,
            "clean": self.clean,
            "encrypted": self.encrypted,
            "first_seq": self.info.get("first_seq"),
            "last_seq": self.info.get("last_seq"),
            "entries": self.audit.entries,
            "batches": self.audit.batches,
            "signer": self.signature.signer if self.signature is not None else None,
            "signature_status": self.signature.status.value if self.signature else None,
            "timestamp": self.timestamp.time.isoformat() if self.timestamp else None,
            "first": first.as_dict() if first is not None else None,
            "findings": [finding.as_dict() for finding in self.audit.findings],
        }


def _decrypt(
    outer: zipfile.ZipFile, wrapper: KeyWrapper, report: SegmentReport, plain: IO[bytes]
) -> bool:
    """Decrypt an encrypted segment's plaintext ZIP into ``plain``; False (said in the
    report) when it cannot be."""
    try:
        sealed = json.loads(outer.read(ENCRYPTION))
        key = sealed["key"]
        part = PartEntry.from_dict(sealed["part"])
        if str(key.get("id")) != wrapper.key_id() or key.get("method") != wrapper.method:
            raise wrong_key(str(key.get("id")), wrapper.key_id())
        content_key = wrapper.unwrap(base64.b64decode(key["wrapped_key"]))
        with outer.open(SEALED) as stored:
            for chunk in decrypt_part(stored, content_key, part):
                plain.write(chunk)
    except SealedFileError as problem:
        report.add("segment.key", problem.en)
        return False
    except (*_READ_ERRORS, ValueError, TypeError, AttributeError) as exc:
        report.add("segment.unreadable", str(exc) or type(exc).__name__)
        return False
    plain.seek(0)
    return True


def verify_segment(
    path: Path,
    anchors: Sequence[x509.Certificate] = (),
    *,
    intermediates: Sequence[x509.Certificate] = (),
    wrapper: KeyWrapper | None = None,
) -> SegmentReport:
    """Check one segment file with no database and no network: its manifest's signature (against
    ``anchors``, offline; without anchors its integrity only) and time-stamp, every file against
    the manifest, every entry's body, digest and link, every batch's root and time-stamp. An
    encrypted segment needs ``wrapper`` (its key file). Every finding is in the report."""
    sha256 = _file_sha256(path) if path.is_file() else ""
    report = SegmentReport(
        path, sha256, {}, False, AuditReport("", timestamps_verified=bool(anchors))
    )
    if not sha256:
        report.add("segment.unreadable", "no such file")
        return report
    try:
        with zipfile.ZipFile(path) as outer:
            if ENCRYPTION in outer.namelist():
                report.encrypted = True
                if wrapper is None:
                    report.add("segment.encrypted")
                    return report
                # the plaintext in a file with no name, gone when closed
                with tempfile.TemporaryFile() as plain:
                    if not _decrypt(outer, wrapper, report, plain):
                        return report
                    with zipfile.ZipFile(plain) as inner:
                        _check_plain(inner, report, anchors, intermediates)
            else:
                _check_plain(outer, report, anchors, intermediates)
    except (*_READ_ERRORS, ValueError, TypeError, AttributeError) as exc:
        report.add("segment.unreadable", str(exc) or type(exc).__name__)
    return report


def _check_plain(
    archive: zipfile.ZipFile,
    report: SegmentReport,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
) -> None:
    manifest_bytes = archive.read(MANIFEST)
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        report.add("segment.unreadable", f"format {manifest.get('format')!r}")
        return
    listed: dict[str, str] = dict(manifest["files"])
    _check_manifest(archive, manifest_bytes, report, anchors, intermediates)
    present = set(archive.namelist()) - {MANIFEST, SIGNATURE, TIMESTAMP}
    for name in sorted(present | set(listed)):
        if name not in listed:
            report.add("segment.manifest", f"{name}: not listed")
        elif name not in present:
            report.add("segment.manifest", f"{name}: missing")
        elif _member_sha256(archive, name) != listed[name]:
            report.add("segment.manifest", f"{name}: SHA-256 differs")
    info = json.loads(archive.read(SEGMENT))
    report.info = info
    report.audit.side = str(info["side"])
    _check_entries(archive, info, report, anchors)


def _member_sha256(archive: zipfile.ZipFile, name: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with archive.open(name) as member:
            while block := member.read(1024 * 1024):
                digest.update(block)
    except _READ_ERRORS:  # a changed byte fails the member's CRC-32 (or its deflate stream)
        return None
    return digest.hexdigest()


def _check_manifest(
    archive: zipfile.ZipFile,
    manifest: bytes,
    report: SegmentReport,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
) -> None:
    signature = archive.read(SIGNATURE)
    check = verify_cades(
        manifest,
        signature,
        VerifyContext(
            trust_anchors=tuple(anchors), other_certs=tuple(intermediates), allow_fetching=False
        ),
    )
    report.signature = check
    if anchors:
        # revocation unknown offline (INDETERMINATE) is said, not failed: the time-stamp dates it
        if check.status not in (Status.VALID, Status.INDETERMINATE):
            report.add("segment.signature", check.en)
    elif not check.integrity:
        report.add("segment.signature", check.en)
    response = archive.read(TIMESTAMP)
    if anchors:
        chain = [x509.load_der_x509_certificate(der) for der in check.chain]
        try:
            report.timestamp = verify_timestamp(
                response, manifest, anchors, [*intermediates, *chain]
            )
        except TimestampError as problem:
            report.add("segment.timestamp", problem.en)
    else:
        imprint = timestamp_problem(response, manifest, ())
        if imprint is not None:
            report.add("segment.timestamp", imprint)


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    with archive.open(name) as member:
        for line in io.TextIOWrapper(member, "utf-8"):
            if line.strip():
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise TypeError(f"{name}: a JSON object per line")
                yield value


def _check_entries(
    archive: zipfile.ZipFile,
    info: Mapping[str, Any],
    report: SegmentReport,
    anchors: Sequence[x509.Certificate],
) -> None:
    audit = report.audit
    first, last = int(info["first_seq"]), int(info["last_seq"])
    batches = list(_lines(archive, BATCHES))
    audit.batches = len(batches)
    covering = {int(batch["id"]): batch for batch in batches}
    leaves: dict[int, list[bytes]] = {batch_id: [] for batch_id in covering}
    names = set(archive.namelist())
    expected, prev = first, str(info["prev_digest"])
    for row in _lines(archive, ENTRIES):
        fields = _fields(row)
        seq = fields.seq
        if seq != expected:
            audit.add("entry.missing", expected, f"{report.name}: next is {seq}")
        if hashlib.sha256(fields.body).hexdigest() != fields.body_sha256:
            audit.add("entry.body", seq, report.name)
        for digest in fields.certificates:
            if CERTIFICATES + digest + ".der" not in names:
                audit.add("entry.certificate", seq, f"{report.name}: {digest}")
                break
        for digest in fields.revocations:
            if REVOCATIONS + digest + ".der" not in names:
                audit.add("entry.revocation", seq, f"{report.name}: {digest}")
                break
        if entry_digest(fields) != row["digest"]:
            audit.add("entry.digest", seq, report.name)
        if fields.prev_digest != prev:
            audit.add("entry.link", seq, report.name)
        batch = covering.get(int(row["batch_id"])) if row.get("batch_id") is not None else None
        if batch is None or not int(batch["first_seq"]) <= seq <= int(batch["last_seq"]):
            audit.add("entry.batch", seq, f"{report.name}: {row.get('batch_id')}")
        else:
            leaves[int(batch["id"])].append(bytes.fromhex(str(row["digest"])))
        expected, prev = seq + 1, str(row["digest"])
        audit.entries += 1
    if expected != last + 1 or audit.entries != int(info["count"]):
        report.add("segment.content", f"entries {first}-{expected - 1}, says {first}-{last}")
    if prev != info["last_digest"]:
        report.add("segment.content", "last_digest")
    for name in names:
        if name.startswith((CERTIFICATES, REVOCATIONS)):
            digest = name.split("/", 1)[1].removesuffix(".der")
            if _member_sha256(archive, name) != digest:
                report.add("segment.content", f"{name} does not match its name")
    expected_batch = first
    for batch in batches:
        batch_id, batch_first = int(batch["id"]), int(batch["first_seq"])
        if batch_first != expected_batch:
            audit.add(
                "batch.gap", batch_first, f"{report.name}: expected {expected_batch}", batch_id
            )
        expected_batch = int(batch["last_seq"]) + 1
        root = merkle_root(leaves[batch_id])
        if root.hex() != batch["root"]:
            audit.add("batch.root", batch_first, report.name, batch_id)
        problem = timestamp_problem(_unb64(batch["response"]) or b"", root, anchors)
        if problem is not None:
            audit.add("batch.timestamp", batch_first, f"{report.name}: {problem}", batch_id)
    if expected_batch != last + 1:
        report.add("segment.content", f"batches end at {expected_batch - 1}, entries at {last}")


# -- the archive folder against the table ------------------------------------------------------


@dataclass
class ArchivesAudit:
    """The side's segments in a folder, walked in chain order and held against the table."""

    side: str
    directory: Path
    segments: list[SegmentReport] = field(default_factory=list)
    #: Findings of the folder as a whole (order, links, the table), in chain order.
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings and all(segment.clean for segment in self.segments)

    @property
    def first(self) -> Finding | None:
        """The first broken piece, in chain order."""
        for finding in self.findings:
            return finding
        return None

    @property
    def entries(self) -> int:
        return sum(segment.audit.entries for segment in self.segments)

    def as_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "side": self.side,
            "directory": str(self.directory),
            "clean": self.clean,
            "segments": [segment.as_dict() for segment in self.segments],
            "entries": self.entries,
            "first": first.as_dict() if first is not None else None,
            "findings": [finding.as_dict() for finding in self.findings],
        }


def audit_archives(
    db: Session,
    directory: Path,
    side: str = "hub",
    anchors: Sequence[x509.Certificate] = (),
    *,
    intermediates: Sequence[x509.Certificate] = (),
    wrapper: KeyWrapper | None = None,
) -> ArchivesAudit:
    """Walk the side's segments in ``directory`` in chain order: each checked whole
    (:func:`verify_segment`), each following on from the one before (seq, digest, the previous
    file's SHA-256) and matching its ``evidence_archives`` row; a recorded segment missing from
    the folder is named too. Then :func:`lienthong.evidence.audit.audit_chain` checks that the
    database's first entry links to the last archived digest."""
    result = ArchivesAudit(side, directory)
    rows = {
        row.name: row
        for row in db.scalars(select(EvidenceArchive).where(EvidenceArchive.side == side))
    }
    expected, prev, previous_sha = 1, GENESIS, None
    seen: set[str] = set()
    # (the seq expected where a file is walked, 1; or a missing one's first seq, 0; a finding)
    placed: list[tuple[int, int, Finding]] = []
    for path in segment_files(directory, side):
        report = verify_segment(path, anchors, intermediates=intermediates, wrapper=wrapper)
        result.segments.append(report)
        seen.add(path.name)
        row = rows.get(path.name)
        if row is None:
            report.add("segment.unrecorded")
        elif row.sha256 != report.sha256:
            report.add("segment.table")
        info = report.info
        at = expected
        if info:
            first_seq = int(info["first_seq"])
            if first_seq != expected:
                report.add("segment.order", f"starts at {first_seq}, {expected} expected")
            if info.get("previous_segment_sha256") != previous_sha:
                report.add("segment.link")
            if info.get("prev_digest") != prev and first_seq == expected:
                report.audit.add("entry.link", first_seq, path.name)
            expected, prev = int(info["last_seq"]) + 1, str(info["last_digest"])
        elif row is not None:  # unreadable (or encrypted without its key): the table says
            expected, prev = int(row.last_seq) + 1, row.last_digest
        previous_sha = report.sha256
        # the file's own findings first (order, links, the table), then its content's
        placed.extend(
            (at, 1, finding)
            for finding in sorted(
                report.audit.findings, key=lambda f: not f.code.startswith("segment.")
            )
        )
    for name, row in sorted(rows.items(), key=lambda item: item[1].first_seq):
        if name not in seen:
            vi, en = _SEGMENT_MESSAGES["segment.missing"]
            where = f"{name} ({row.first_seq}-{row.last_seq})"
            finding = Finding(
                "segment.missing", int(row.first_seq), f"{where}: {vi}", f"{where}: {en}"
            )
            placed.append((int(row.first_seq), 0, finding))
    placed.sort(key=lambda item: item[:2])  # a missing segment before the file found in its place
    result.findings = [finding for _, _, finding in placed]
    return result
