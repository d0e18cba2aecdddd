"""Taking a submission from the local system: check, validate at the edge, queue in one transaction.

The whole request is refused (:class:`~lienthong.agent.errors.LocalApiError`) only for problems of
the envelope: not an object, unknown or share service, a unit the key may not submit for, an
invalid envelope. Otherwise every record gets its own result: ``queued`` (with its outbox id),
``invalid`` (with the validator's issues) or ``forbidden`` (the record belongs to a unit the key
may not submit for). A bad record never blocks the good ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lienthong.agent.errors import LOCAL_CODES, LocalApiError
from lienthong.agent.outbox import NewRow, Outbox, record_identity, record_unit
from lienthong.agent.settings import AgentSettings, ApiKey
from lienthong.spec import PacketKind, PacketSpec, Validator
from lienthong.spec.compiler import short

__all__ = ["ENVELOPE_NAMES", "Intake", "RecordReceipt", "SubmitReceipt", "key_field_of"]

#: Envelope keys that are not packet parameters; everything else (``isUpdating``, ...) is kept
#: with each row and sent back in the envelope.
ENVELOPE_NAMES = frozenset({"session", "madonvi", "service", "data"})

#: Stands in for the portal session while validating: the local system never has one.
_PLACEHOLDER_SESSION = "agent-local"


@dataclass(slots=True)
class RecordReceipt:
    """The result of one submitted record."""

    index: int
    key: str | None
    status: str
    """``queued``, ``invalid`` or ``forbidden``."""
    outbox_id: int | None = None
    issues: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "key": self.key, "status": self.status}
        if self.outbox_id is not None:
            body["outbox_id"] = self.outbox_id
        if self.issues:
            body["issues"] = self.issues
        return body


@dataclass(slots=True)
class SubmitReceipt:
    """The answer to one submission."""

    service: str
    madonvi: str
    records: list[RecordReceipt]
    issues: list[dict[str, Any]] = field(default_factory=list)
    """Warnings about the envelope itself (an unknown field, an empty ``data``)."""

    @property
    def queued(self) -> int:
        return sum(1 for record in self.records if record.status == "queued")

    @property
    def code(self) -> str:
        if self.queued == len(self.records):
            return "ok"
        return "partial" if self.queued else "rejected"

    @property
    def http_status(self) -> int:
        return LOCAL_CODES[self.code].http_status

    def body(self) -> dict[str, Any]:
        entry = LOCAL_CODES[self.code]
        body: dict[str, Any] = {
            "error_code": entry.code,
            "message": entry.vi,
            "message_en": entry.en,
            "service": self.service,
            "madonvi": self.madonvi,
            "queued": self.queued,
            "refused": len(self.records) - self.queued,
            "records": [record.as_dict() for record in self.records],
        }
        if self.issues:
            body["issues"] = self.issues
        return body


def key_field_of(packet: PacketSpec | None) -> str | None:
    """The packet's first required field: its records' natural id when no better one is known."""
    return next((f.name for f in packet.fields if f.required), None) if packet else None


def _forbidden_issue(path: str, field_name: str, unit: str) -> dict[str, Any]:
    return {
        "path": path,
        "code": "unit.forbidden",
        "severity": "error",
        "message": f"{field_name} thuộc đơn vị {unit}, khóa API không được phép gửi cho đơn vị này",
        "message_en": f"{field_name} belongs to unit {unit}; the API key may not submit for it",
    }


class Intake:
    """Validates submissions with the agent's catalog and queues the valid records."""

    def __init__(self, settings: AgentSettings, validator: Validator, outbox: Outbox) -> None:
        self.settings = settings
        self.validator = validator
        self.outbox = outbox

    def submit(self, envelope: Any, key: ApiKey) -> SubmitReceipt:
        receipt, rows = self.check(envelope, key)
        ids = iter(self.outbox.enqueue(rows))  # one transaction: committed before we answer
        for record in receipt.records:
            if record.status == "queued":
                record.outbox_id = next(ids)
        return receipt

    def check(self, envelope: Any, key: ApiKey) -> tuple[SubmitReceipt, list[NewRow]]:
        """Check and validate a submission without queuing it: the receipt (``queued`` records
        without their outbox id yet) and the rows to queue, in the order of the records."""
        if not isinstance(envelope, dict):
            raise LocalApiError("request.not_object", path="$")
        service = self._service(envelope)
        unit = self._unit(envelope, key)
        data = envelope.get("data")
        if data is None:
            raise LocalApiError("envelope.missing", "data", "data", path="$.data")
        if not isinstance(data, list):
            raise LocalApiError(
                "envelope.invalid", "data phải là một mảng", "data must be an array", path="$.data"
            )
        checked = {**envelope, "session": _PLACEHOLDER_SESSION, "madonvi": unit}
        result = self.validator.validate_envelope(checked, scan_unicode=True)
        errors = [issue for issue in result.issues if issue.is_error]
        if errors:
            raise LocalApiError(
                "envelope.invalid",
                f"{errors[0].path}: {errors[0].vi}",
                f"{errors[0].path}: {errors[0].en}",
                path=errors[0].path,
                issues=[issue.as_dict() for issue in result.issues],
            )
        params = {name: value for name, value in envelope.items() if name not in ENVELOPE_NAMES}
        key_field = key_field_of(result.packet)
        receipts: list[RecordReceipt] = []
        rows: list[NewRow] = []
        for checked_record in result.records:
            issues = [issue.as_dict() for issue in checked_record.issues]
            receipt = RecordReceipt(
                checked_record.index, checked_record.key, "invalid", None, issues
            )
            receipts.append(receipt)
            record = checked_record.record
            if not checked_record.ok or record is None:
                continue
            owner = record_unit(service, record)
            if owner is not None and not key.may_submit_for(owner[1]):
                receipt.status = "forbidden"
                receipt.issues.append(
                    _forbidden_issue(f"{checked_record.path}.{owner[0]}", owner[0], owner[1])
                )
                continue
            receipt.status = "queued"
            record_key, order_key = record_identity(service, unit, record, key_field)
            if receipt.key is None:
                receipt.key = record_key
            rows.append(NewRow(service, unit, record, params, key.name, record_key, order_key))
        issues = [i.as_dict() for i in result.issues]
        return SubmitReceipt(service, unit, receipts, issues), rows

    def _service(self, envelope: dict[str, Any]) -> str:
        service = envelope.get("service")
        if service in (None, ""):
            raise LocalApiError("envelope.missing", "service", "service", path="$.service")
        if not isinstance(service, str) or service not in self.validator.catalog.packets:
            shown = short(str(service), 64)
            raise LocalApiError("service.unknown", shown, shown, path="$.service")
        if self.validator.catalog.packet(service).kind is not PacketKind.PUSH:
            raise LocalApiError("service.not_pushable", service, service, path="$.service")
        return service

    def _unit(self, envelope: dict[str, Any], key: ApiKey) -> str:
        unit = envelope.get("madonvi")
        if unit in (None, ""):
            # one unit to choose from: the key's, else the agent's
            candidates = key.units if len(key.units) == 1 else self.settings.units
            if len(candidates) != 1:
                raise LocalApiError("envelope.missing", "madonvi", "madonvi", path="$.madonvi")
            unit = candidates[0]
        if not isinstance(unit, str):
            raise LocalApiError(
                "envelope.invalid",
                "madonvi phải là chuỗi",
                "madonvi must be a string",
                path="$.madonvi",
            )
        if not key.may_submit_for(unit):
            shown = short(unit, 40)
            raise LocalApiError("auth.unit_forbidden", shown, shown, path="$.madonvi")
        return unit
