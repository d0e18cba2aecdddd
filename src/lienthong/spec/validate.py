"""Validation: envelopes and records in, per-record issues out. Never raises on input.

A batch yields one :class:`RecordResult` per record, so one bad record never hides or blocks
the good ones. Unknown fields are a warning in lenient mode (the default for received data) and
an error in strict mode.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Any

from lienthong.spec import identifiers
from lienthong.spec.batch import BatchChecker
from lienthong.spec.catalog import Catalog, PacketKind, PacketSpec, load_catalog
from lienthong.spec.compiler import Check, compile_checker, short
from lienthong.spec.dates import now_vietnam
from lienthong.spec.issues import STRICT_ONLY_CODES, Issue, Severity, make_issue
from lienthong.spec.layouts import LAYOUTS, Layout
from lienthong.spec.models import PacketModel, model_for
from lienthong.spec.rules import BATCH_RULES, RULES, BatchRule, Rule, RuleContext

ENVELOPE_KEYS = ("session", "madonvi", "service")


@dataclass(slots=True)
class RecordResult:
    """The outcome of one record of a batch."""

    index: int
    path: str
    key: str | None
    """The record's identifier (its first required field, e.g. ``MaHoSo``) when readable."""
    issues: list[Issue]
    record: dict[str, Any] | None = None
    """The record as received (wire form), when it was an object."""

    @property
    def ok(self) -> bool:
        return not any(issue.is_error for issue in self.issues)

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.issues if not issue.is_error]


@dataclass(slots=True)
class EnvelopeResult:
    """The outcome of one envelope: its own issues, then one result per record."""

    service: str | None
    packet: PacketSpec | None
    issues: list[Issue] = field(default_factory=list)
    records: list[RecordResult] = field(default_factory=list)
    clean_columns: dict[str, Sequence[Any]] | None = None
    """The records' fields column by column (field -> one value per record, None where absent),
    when the column checks proved every record free of any issue; None otherwise. A consumer
    can then read a field of the whole batch without a loop per record."""

    @property
    def envelope_ok(self) -> bool:
        return not any(issue.is_error for issue in self.issues)

    @property
    def ok(self) -> bool:
        return self.envelope_ok and all(record.ok for record in self.records)

    def all_issues(self) -> list[Issue]:
        found = list(self.issues)
        for record in self.records:
            found.extend(record.issues)
        return found

    @property
    def accepted(self) -> list[RecordResult]:
        return [record for record in self.records if record.ok] if self.envelope_ok else []

    @property
    def rejected(self) -> list[RecordResult]:
        return [record for record in self.records if not record.ok]


class PacketValidationError(ValueError):
    """Raised by :meth:`Validator.parse` when a record has errors; ``issues`` lists them all."""

    def __init__(self, packet: str, issues: list[Issue]) -> None:
        self.packet = packet
        self.issues = issues
        first = issues[0] if issues else None
        super().__init__(
            f"{packet}: {len(issues)} error(s)"
            + (f"; first: {first.path} {first.code}: {first.en}" if first else "")
        )


BATCH_FAST_PATH_MIN = 16
"""Batches at least this long first try the column-wise fast path (lienthong.spec.batch)."""


@dataclass(frozen=True)
class _Compiled:
    spec: PacketSpec
    batch: BatchChecker
    batch_rules: tuple[BatchRule, ...] | None
    """Column forms of the rules; None when one of the packet's rules has none."""
    check: Check
    envelope_check: Check
    rules: tuple[Rule, ...]
    key_field: str | None
    layouts: tuple[tuple[str, Layout], ...] = ()


def _tightened(issue: Issue) -> Issue:
    if issue.code in STRICT_ONLY_CODES and not issue.is_error:
        return dataclasses.replace(issue, severity=Severity.ERROR)
    return issue


class Validator:
    """Validates envelopes and records of one catalog (profile + overrides).

    ``strict``: unknown fields are errors (use it for what you are about to send); otherwise
    warnings (the default for data received from others). ``today`` fixes the date used for
    "not in the future" and "closed agency code" checks (default: today in Vietnam).
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        strict: bool = False,
        today: dt.date | None = None,
    ) -> None:
        self.catalog = catalog or load_catalog()
        self.strict = strict
        self._today = today
        self._compiled: dict[str, _Compiled] = {}
        self._generic_envelope, _ = compile_checker(
            self.catalog, self.catalog.envelope, "envelope", strict=False
        )

    @property
    def today(self) -> dt.date:
        return self._today or now_vietnam().date()

    # -- compilation ---------------------------------------------------------------------

    def _compile(self, name: str) -> _Compiled:
        compiled = self._compiled.get(name)
        if compiled is None:
            spec = self.catalog.packet(name)
            check, _ = compile_checker(
                self.catalog, spec.fields, name, strict=self.strict, today=self._today
            )
            envelope_check, _ = compile_checker(
                self.catalog,
                (*self.catalog.envelope, *spec.params),
                name,
                strict=self.strict,
                also_known=frozenset({"data"}),
            )
            compiled = _Compiled(
                spec=spec,
                batch=BatchChecker(self.catalog, spec.fields, self._today),
                batch_rules=(
                    tuple(BATCH_RULES[rule] for rule in spec.rules)
                    if all(rule in BATCH_RULES for rule in spec.rules)
                    else None
                ),
                check=check,
                envelope_check=envelope_check,
                rules=tuple(RULES[rule] for rule in spec.rules),
                key_field=next((f.name for f in spec.fields if f.required), None),
                layouts=tuple((name, LAYOUTS[name]) for name in spec.layouts),
            )
            self._compiled[name] = compiled
        return compiled

    # -- records -------------------------------------------------------------------------

    def validate_record(
        self, packet: str, record: Any, index: int = 0, base_path: str = "$.data"
    ) -> RecordResult:
        """Validate one record of ``packet`` (a ``data`` item, or a ``result`` row)."""
        return self._record(self._compile(packet), record, index, base_path, scan_unicode=True)

    def validate_records(
        self, packet: str, records: Iterable[Any], base_path: str = "$.data"
    ) -> list[RecordResult]:
        return self._records(self._compile(packet), list(records), base_path, True)[0]

    def parse(self, packet: str, record: Any) -> PacketModel:
        """Validate one record and return it as the typed model of ``packet``.

        Raises :class:`PacketValidationError` (with every issue) when the record has errors.
        """
        result = self.validate_record(packet, record, 0, "$")
        if not result.ok or result.record is None:
            raise PacketValidationError(packet, result.errors)
        return model_for(packet, self.catalog).model_validate(result.record)

    def _records(
        self, compiled: _Compiled, records: list[Any], base_path: str, scan_unicode: bool
    ) -> tuple[list[RecordResult], dict[str, Sequence[Any]] | None]:
        """One result per record, and the records as columns when every one is clean
        (:attr:`EnvelopeResult.clean_columns`)."""
        # a packet with other layouts rewrites records one by one: no column-wise proof
        big = len(records) >= BATCH_FAST_PATH_MIN and not compiled.layouts
        columns = compiled.batch.clean_columns(records) if big else None
        if columns is not None and not scan_unicode and compiled.batch_rules is not None:
            # Every field of every record is clean and each rule has a column form: only the
            # records a rule suspects are looked at one by one.
            ctx = RuleContext(today=self._today)
            suspects: set[int] = set()
            for batch_rule in compiled.batch_rules:
                suspects |= batch_rule(columns, len(records), ctx)
            results = list(
                map(
                    RecordResult,
                    range(len(records)),
                    _record_paths(base_path, len(records)),
                    _shown_keys(records, columns, compiled.key_field),
                    map(list, repeat((), len(records))),
                    records,
                )
            )
            for index in suspects:
                results[index] = self._record(
                    compiled,
                    records[index],
                    index,
                    base_path,
                    scan_unicode=False,
                    fields_clean=True,
                )
            clean = not any(results[index].issues for index in suspects)
            return results, columns if clean else None
        if columns is not None:
            # every field of every record is clean: only the cross-field rules remain
            return [
                self._record(
                    compiled, record, index, base_path, scan_unicode=scan_unicode, fields_clean=True
                )
                for index, record in enumerate(records)
            ], None
        return [
            self._record(compiled, record, index, base_path, scan_unicode=scan_unicode)
            for index, record in enumerate(records)
        ], None

    def _record(
        self,
        compiled: _Compiled,
        record: Any,
        index: int,
        base_path: str,
        *,
        scan_unicode: bool,
        fields_clean: bool = False,
    ) -> RecordResult:
        path = f"{base_path}[{index}]"
        if record.__class__ is not dict:
            return RecordResult(index, path, None, [make_issue(path, "record.not_object")])
        issues: list[Issue] = []
        for name, layout in compiled.layouts:
            rewritten = layout(record)
            if rewritten is not None:  # checked, kept and stored in the catalog's layout
                record = rewritten
                issues.append(make_issue(path, "record.layout", layout=name))
                break
        if not fields_clean:
            try:
                compiled.check(record, path, issues)
            except RecursionError:
                issues.append(make_issue(path, "json.too_deep"))
        if compiled.rules:
            ctx = RuleContext(today=self._today)
            for rule in compiled.rules:
                issues.extend(rule(record, path, ctx))
        if scan_unicode:
            _scan_unicode(record, path, issues)
        if self.strict and issues:  # a tolerated deviation is an error for what is to be sent
            issues = [_tightened(issue) for issue in issues]
        return RecordResult(index, path, _shown_key(record, compiled.key_field), issues, record)

    # -- envelopes -----------------------------------------------------------------------

    def validate_envelope(self, envelope: Any, *, scan_unicode: bool = True) -> EnvelopeResult:
        """Validate one envelope ``{session, madonvi, service, ...params, data}`` and its records."""
        if type(envelope) is not dict:
            return EnvelopeResult(None, None, [make_issue("$", "envelope.not_object")])
        issues: list[Issue] = []
        service = envelope.get("service")
        for key in ENVELOPE_KEYS:
            if envelope.get(key) in (None, ""):
                issues.append(make_issue(f"$.{key}", "envelope.missing", field=key))
        if type(service) is not str or service not in self.catalog.packets:
            if type(service) is str and service:
                issues.append(
                    make_issue(
                        "$.service",
                        "envelope.unknown_service",
                        service=short(service),
                        profile=self.catalog.profile,
                    )
                )
            self._check_envelope_fields(envelope, None, issues)
            return EnvelopeResult(short(service) if type(service) is str else None, None, issues)
        compiled = self._compile(service)
        spec = compiled.spec
        self._check_envelope_fields(envelope, compiled, issues)
        if spec.is_provisional:
            issues.append(make_issue("$.service", "packet.provisional", packet=spec.name))
        result = EnvelopeResult(service, spec, issues)
        if spec.kind is PacketKind.PUSH:
            data = envelope.get("data")
            if data is None:
                issues.append(make_issue("$.data", "envelope.missing", field="data"))
            elif type(data) is not list:
                issues.append(make_issue("$.data", "envelope.data_not_array"))
            else:
                if not data:
                    issues.append(make_issue("$.data", "envelope.data_empty"))
                result.records, result.clean_columns = self._records(
                    compiled, data, "$.data", scan_unicode
                )
        return result

    def _check_envelope_fields(
        self, envelope: dict[str, Any], compiled: _Compiled | None, issues: list[Issue]
    ) -> None:
        found: list[Issue] = []
        if compiled is not None:
            compiled.envelope_check(envelope, "$", found)
        else:
            self._generic_envelope(envelope, "$", found)
            found = [i for i in found if not i.code.startswith("field.unknown")]
        # a missing session/madonvi/service was already reported as envelope.missing
        issues.extend(
            i for i in found if not (i.code == "field.required" and i.path[2:] in ENVELOPE_KEYS)
        )
        unit = envelope.get("madonvi")
        if unit.__class__ is str and unit:
            problem = identifiers.check_agency_open(unit, self.today)
            if problem is not None and problem.code == "agency.closed":
                issues.append(
                    make_issue(
                        "$.madonvi", problem.code, field="madonvi", vi=problem.vi, en=problem.en
                    )
                )

    def validate_response(self, packet: str, response: Any) -> EnvelopeResult:
        """Validate a share answer ``{error_code, message, result: [...]}`` of ``packet``."""
        compiled = self._compile(packet)
        result = EnvelopeResult(packet, compiled.spec)
        if type(response) is not dict:
            result.issues.append(make_issue("$", "envelope.not_object"))
            return result
        rows = response.get("result")
        rows_path = "$.result"
        if rows is None and packet in response:
            # DanhSachPAKNCongKhai arrives keyed by its own name, without error_code (OpenCPS proxy)
            rows, rows_path = response[packet], f"$.{packet}"
        elif "error_code" not in response:
            result.issues.append(make_issue("$.error_code", "envelope.missing", field="error_code"))
        error_code = response.get("error_code")
        if error_code is not None and error_code.__class__ not in (str, int):
            result.issues.append(
                make_issue(
                    "$.error_code",
                    "field.type",
                    field="error_code",
                    expected="chuỗi hoặc số",
                    expected_en="a string or an integer",
                )
            )
        failed = error_code not in (None, 0, "0", "00")
        if rows is None and failed:
            return result  # a failure answer carries a message, not rows
        if type(rows) is not list:
            result.issues.append(make_issue("$.result", "envelope.data_not_array"))
            return result
        result.records = self._records(compiled, rows, rows_path, True)[0]
        return result


@lru_cache(maxsize=64)
def _record_paths(base_path: str, count: int) -> tuple[str, ...]:
    """``$.data[0]``, ``$.data[1]``...: a batch of 1000 need not format 1000 paths each time."""
    return tuple(f"{base_path}[{index}]" for index in range(count))


def _shown_keys(
    records: list[Any], columns: dict[str, Sequence[Any]], key_field: str | None
) -> Sequence[str | None]:
    """:func:`_shown_key` of each record of a clean batch, from its key column when every key
    is short ASCII text (as identifiers are) and so is shown as it is."""
    keys = columns.get(key_field) if key_field else None
    if (
        keys is not None
        and _TEXT_ONLY.issuperset(map(type, keys))
        and "".join(keys).isascii()
        and max(map(len, keys), default=0) <= 80
    ):
        return keys
    return [_shown_key(record, key_field) for record in records]


_TEXT_ONLY = frozenset({str})


def _shown_key(record: dict[str, Any], key_field: str | None) -> str | None:
    key = record.get(key_field) if key_field else None
    if key.__class__ is not str:
        return None
    return key if key.isascii() and len(key) <= 80 else short(key, 80)


def _scan_unicode(value: Any, path: str, issues: list[Issue], depth: int = 0) -> None:
    """Find lone surrogates (invalid Unicode) that a lenient JSON parser let through, and NUL
    characters, which PostgreSQL cannot store in text or JSON."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            issues.append(make_issue(path, "field.nul", field=path.rsplit(".", 1)[-1]))
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                issues.append(make_issue(path, "field.unicode", field=path.rsplit(".", 1)[-1]))
    elif depth > 64:
        return
    elif kind is dict:
        for key, item in value.items():
            where = f"{path}.{short(key, 40)}"
            if key.__class__ is str and "\x00" in key:
                issues.append(make_issue(where, "field.nul", field=short(key, 40)))
            if key.__class__ is str and not key.isascii():
                try:
                    key.encode("utf-8")
                except UnicodeEncodeError:
                    issues.append(make_issue(where, "field.unicode", field=short(key, 40)))
            _scan_unicode(item, where, issues, depth + 1)
    elif kind is list:
        for position, item in enumerate(value):
            _scan_unicode(item, f"{path}[{position}]", issues, depth + 1)
