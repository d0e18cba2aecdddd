"""Backfill: the initial load of historical records (JSON Lines) into the outbox.

>>> loader = Backfill(service)           # an AgentService (the worker need not run here)
>>> report = loader.run(Path("hoso.jsonl"), "DongBoHoSoMC", "000.00.00.H56")

- One record per line. Each chunk of lines is checked like a submission of the local API (the
  same validator, unit check and order keys, :meth:`lienthong.agent.intake.Intake.check`); a bad
  line is reported with its line number, code, path and message and never stops the load.
- Each chunk is queued in ONE transaction (a bulk insert, :meth:`Outbox.enqueue`) together with
  the progress of the load in ``agent_state``: the file's identity and the byte offset just after
  the chunk's last line. A kill after a commit therefore neither loses nor duplicates rows: the
  next run reads the offset and continues at the next line. A finished file is not loaded again
  (unless ``restart``).
- The file's identity is the SHA-256 of its first KiB and its size (with the service and unit):
  the same file under another name is recognized, a changed file is a new load.
- It may run while the agent runs on the same database: the rows are ordinary outbox rows, which
  the agent's worker delivers (it finds them at its next poll). Writers are serialized (SQLite:
  ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock, see :func:`outbox.begin_write`), so the ids
  stay in commit order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lienthong.agent.errors import LocalApiError
from lienthong.agent.intake import Intake
from lienthong.agent.outbox import NewRow, Outbox
from lienthong.agent.runlock import AgentAlreadyRunning, RunLock
from lienthong.agent.settings import ApiKey
from lienthong.spec.inputs import loads

__all__ = [
    "CHUNK_RECORDS",
    "Backfill",
    "BackfillError",
    "BackfillProblem",
    "BackfillReport",
    "FileIdentity",
    "default_params",
]

#: Records per chunk (one transaction each).
CHUNK_RECORDS = 2000
#: Bytes hashed for the file's identity.
HEAD_BYTES = 1024
STATE_PREFIX = "backfill:"
#: The submitter recorded on the rows.
SUBMITTER = "backfill"

_RECORD_PATH = re.compile(r"^\$\.data\[\d+\]")


class BackfillError(RuntimeError):
    """The load cannot start or go on (unreadable file, changed file, invalid parameters)."""


@dataclass(frozen=True, slots=True)
class BackfillProblem:
    """One refused line (or one issue of it)."""

    line: int
    key: str | None
    code: str
    path: str
    message: str
    message_en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "key": self.key,
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "message_en": self.message_en,
        }


@dataclass(frozen=True, slots=True)
class FileIdentity:
    path: str
    size: int
    mtime: str
    head_sha256: str

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        try:
            stat = path.stat()
            with path.open("rb") as handle:
                head = handle.read(HEAD_BYTES)
        except OSError as exc:
            raise BackfillError(f"cannot read {path}: {exc.strerror or exc}") from exc
        mtime = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).isoformat(timespec="seconds")
        return cls(str(path.resolve()), stat.st_size, mtime, hashlib.sha256(head).hexdigest())

    def state_key(self, service: str, unit: str) -> str:
        digest = hashlib.sha256(
            f"{self.head_sha256}:{self.size}:{service}:{unit}".encode()
        ).hexdigest()
        return f"{STATE_PREFIX}{digest[:40]}"


@dataclass(slots=True)
class BackfillReport:
    """What one run did (the totals include the earlier runs of the same load)."""

    file: FileIdentity
    state_key: str
    service: str
    unit: str
    resumed_at_line: int = 0
    """Lines already committed by earlier runs when this one started."""
    lines: int = 0
    queued: int = 0
    refused: int = 0
    queued_now: int = 0
    refused_now: int = 0
    already_finished: bool = False
    """The file had been loaded completely before: nothing was done."""
    finished: bool = False
    started_at: str = ""
    finished_at: str | None = None
    problems: list[BackfillProblem] = field(default_factory=list)
    """The refused lines of this run (each error issue)."""


def default_params(service: str) -> dict[str, str]:
    """Envelope parameters a backfill needs when none are given (``isUpdating`` "False": the
    portal answers "exists" for a dossier it already has, and the agent resends it as an
    update)."""
    return {"isUpdating": "False"} if service == "DongBoHoSoMC" else {}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class _Line:
    number: int
    record: Any
    problem: BackfillProblem | None


@dataclass(slots=True)
class _Chunk:
    lines: list[_Line]
    end: int
    """Byte offset just after the chunk's last line."""
    last_line: int


class Backfill:
    """Loads JSON Lines files into the outbox of one agent database."""

    def __init__(
        self,
        intake: Intake,
        outbox: Outbox,
        *,
        chunk_records: int = CHUNK_RECORDS,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.intake = intake
        self.outbox = outbox
        self.chunk_records = max(1, chunk_records)
        self.on_commit = on_commit
        """Called after each committed chunk (an in-process agent wakes its worker)."""

    def status(self, path: Path, service: str, unit: str) -> dict[str, Any] | None:
        """The progress kept for this file (None when it was never loaded)."""
        return self.outbox.state(FileIdentity.of(path).state_key(service, unit))

    def run(
        self,
        path: Path,
        service: str,
        unit: str,
        params: dict[str, Any] | None = None,
        *,
        restart: bool = False,
        progress: Callable[[int, int, int], None] | None = None,
        submitter: str = SUBMITTER,
    ) -> BackfillReport:
        """Load ``path``; ``progress(byte_offset, size, records_so_far)`` after each chunk.

        Raises :class:`BackfillError` for a problem of the load as a whole (the chunks committed
        before it stay queued, and a re-run continues after them)."""
        identity = FileIdentity.of(path)
        key = identity.state_key(service, unit)
        # two loads of one file at once would queue its records twice
        lock = RunLock(
            self.outbox.sessions.kw["bind"],
            "backfill-" + hashlib.sha256(key.encode()).hexdigest()[:16],
            "tệp này đang được nạp bởi một lệnh backfill khác",
            "another backfill is loading this file",
        )
        try:
            lock.acquire()
        except AgentAlreadyRunning as exc:
            raise BackfillError(str(exc)) from None
        try:
            return self._run(
                identity, key, path, service, unit, params, restart, progress, submitter
            )
        finally:
            lock.release()

    def _run(
        self,
        identity: FileIdentity,
        key: str,
        path: Path,
        service: str,
        unit: str,
        params: dict[str, Any] | None,
        restart: bool,
        progress: Callable[[int, int, int], None] | None,
        submitter: str,
    ) -> BackfillReport:
        params = dict(params if params is not None else default_params(service))
        report = BackfillReport(identity, key, service, unit, started_at=_now())
        state = None if restart else self.outbox.state(key)
        if state is not None and state.get("finished_at"):
            report.already_finished, report.finished = True, True
            report.lines, report.queued = int(state.get("line", 0)), int(state.get("queued", 0))
            report.refused = int(state.get("refused", 0))
            report.started_at = str(state.get("started_at", ""))
            report.finished_at = str(state["finished_at"])
            return report
        offset = 0
        if state is not None:
            offset = int(state.get("offset", 0))
            report.resumed_at_line = report.lines = int(state.get("line", 0))
            report.queued, report.refused = (
                int(state.get("queued", 0)),
                int(state.get("refused", 0)),
            )
            report.started_at = str(state.get("started_at") or report.started_at)
            if state.get("params") is not None and state.get("params") != params:
                raise BackfillError(
                    f"this load was started with the parameters {state.get('params')}, not "
                    f"{params}: give the same ones, or restart it"
                )
        if offset > identity.size:
            raise BackfillError(f"{path} is shorter than the {offset} bytes already loaded")
        key_of = ApiKey(submitter, "", (unit,))

        def facts(position: int, finished: bool = False) -> dict[str, Any]:
            return {
                "kind": "backfill",
                "file": identity.path,
                "size": identity.size,
                "mtime": identity.mtime,
                "head_sha256": identity.head_sha256,
                "service": service,
                "unit": unit,
                "params": params,
                "offset": position,
                "line": report.lines,
                "queued": report.queued,
                "refused": report.refused,
                "started_at": report.started_at,
                "updated_at": _now(),
                "finished_at": _now() if finished else None,
            }

        try:
            handle = path.open("rb")
        except OSError as exc:
            raise BackfillError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with handle:
            if offset:
                handle.seek(offset - 1)
                if handle.read(1) != b"\n":
                    raise BackfillError(
                        f"{path} changed since the load began (byte {offset} is not the start "
                        "of a line): restart the load"
                    )
            position = offset
            for chunk in _chunks(handle, offset, report.lines, self.chunk_records):
                rows = self._check(chunk.lines, service, unit, params, key_of, report)
                position, report.lines = chunk.end, chunk.last_line
                state_facts = {key: facts(position)}
                if rows:
                    self.outbox.enqueue(rows, state=state_facts)
                else:
                    self.outbox.put_state(key, state_facts[key])
                if self.on_commit is not None:
                    self.on_commit()
                if progress is not None:
                    progress(position, identity.size, report.queued + report.refused)
        report.finished, report.finished_at = True, _now()
        self.outbox.put_state(key, facts(position, finished=True))
        return report

    def _check(
        self,
        chunk: list[_Line],
        service: str,
        unit: str,
        params: dict[str, Any],
        key: ApiKey,
        report: BackfillReport,
    ) -> list[NewRow]:
        """The rows to queue of one chunk; refused lines are added to ``report``."""
        parsed = [line for line in chunk if line.problem is None]
        for line in chunk:
            if line.problem is not None:
                self._refuse(report, [line.problem])
        if not parsed:
            return []
        envelope = {**params, "service": service, "madonvi": unit}
        envelope["data"] = [line.record for line in parsed]
        try:
            receipt, rows = self.intake.check(envelope, key)
        except LocalApiError as error:
            raise BackfillError(
                str(error)
                + (f" ({error.path})" if error.path else "")
                + "".join(
                    f"\n  {issue.get('path')} {issue.get('code')}: {issue.get('message_en')}"
                    for issue in error.issues or []
                    if issue.get("severity") == "error"
                )
            ) from error
        for record in receipt.records:
            if record.status == "queued":
                continue
            line = parsed[record.index]
            problems = [
                BackfillProblem(
                    line.number,
                    record.key,
                    str(issue.get("code", "")),
                    _RECORD_PATH.sub("$", str(issue.get("path", "$"))),
                    str(issue.get("message", "")),
                    str(issue.get("message_en", "")),
                )
                for issue in record.issues
                if issue.get("severity", "error") == "error"
            ] or [BackfillProblem(line.number, record.key, record.status, "$", "", "")]
            self._refuse(report, problems)
        report.queued += len(rows)
        report.queued_now += len(rows)
        return rows

    @staticmethod
    def _refuse(report: BackfillReport, problems: list[BackfillProblem]) -> None:
        report.refused += 1
        report.refused_now += 1
        report.problems.extend(problems)


def _chunks(handle: BinaryIO, offset: int, line: int, size: int) -> Iterator[_Chunk]:
    """The lines of ``handle`` from ``offset`` (``line`` lines before it), parsed, in chunks of
    ``size`` records. Blank lines count as lines but hold no record. A last line without a
    newline is read too."""
    chunk = _Chunk([], offset, line)
    for raw in handle:
        chunk.last_line += 1
        chunk.end += len(raw)
        text = raw.strip()
        if not text:
            continue
        value, problem, _ = loads(text)
        issue = None
        if problem is not None:
            issue = BackfillProblem(
                chunk.last_line, None, problem.code, "$", problem.vi, problem.en
            )
        chunk.lines.append(_Line(chunk.last_line, value, issue))
        if len(chunk.lines) >= size:
            yield chunk
            chunk = _Chunk([], chunk.end, chunk.last_line)
    if chunk.end > offset and (chunk.lines or chunk.last_line > line):
        yield chunk
