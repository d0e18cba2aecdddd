"""Checking whole inputs (files, request bodies): documents in, one result per document out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lienthong.spec.infer import Inference, infer_packet
from lienthong.spec.inputs import ParsedInput, Unreadable, read_documents
from lienthong.spec.issues import Issue, make_issue
from lienthong.spec.validate import EnvelopeResult, Validator


@dataclass(slots=True)
class CheckedDocument:
    location: str
    result: EnvelopeResult | None
    """None when the document could not be read or recognised (see ``issues``)."""
    issues: list[Issue] = field(default_factory=list)
    assumed_packet: str | None = None
    """The packet of a bare record, inferred from its fields (no ``--packet`` was given)."""

    @property
    def ok(self) -> bool:
        return not any(i.is_error for i in self.issues) and (self.result is None or self.result.ok)

    def all_issues(self) -> list[Issue]:
        return [*self.issues, *(self.result.all_issues() if self.result else [])]


def _is_bare_record(value: Any) -> bool:
    """A JSON object that is neither an envelope nor a share answer."""
    return type(value) is dict and not {"service", "result", "error_code"} & value.keys()


def _as_record(validator: Validator, packet: str, value: Any) -> EnvelopeResult:
    record = validator.validate_record(packet, value, 0, "$")
    return EnvelopeResult(packet, validator.catalog.packet(packet), [], [record])


def _not_inferred(inference: Inference) -> Issue:
    if not inference.candidates:
        return make_issue("$", "input.unrecognized")
    code = "input.packet_same_fields" if inference.same_fields else "input.packet_ambiguous"
    return make_issue("$", code, candidates=", ".join(inference.candidates))


def check_parsed(
    parsed: ParsedInput, validator: Validator, packet: str | None = None
) -> list[CheckedDocument]:
    """Validate every document, in input order: envelopes by their ``service``; bare records
    or share answers as ``packet`` when it is given. Without ``packet``, the bare records of
    the input are checked as the packet their field names evidently belong to
    (:func:`~lienthong.spec.infer.infer_packet`, one answer for the whole input), which each
    result names in ``assumed_packet``."""
    inference = None
    if packet is None:
        bare = [d.value for d in parsed.documents if _is_bare_record(d.value)]
        if bare:
            inference = infer_packet(validator.catalog, bare)
    checked: list[CheckedDocument] = []
    for part in parsed.parts:
        if isinstance(part, Unreadable):
            checked.append(CheckedDocument(part.location, None, [part.issue]))
            continue
        value = part.value
        if type(value) is dict and "service" in value:
            result = validator.validate_envelope(value, scan_unicode=part.lenient_unicode)
        elif packet is not None:
            if type(value) is dict and (
                "result" in value or "error_code" in value or packet in value
            ):
                result = validator.validate_response(packet, value)
            else:
                result = _as_record(validator, packet, value)
        elif inference is not None and inference.packet and _is_bare_record(value):
            result = _as_record(validator, inference.packet, value)
            checked.append(CheckedDocument(part.location, result, assumed_packet=inference.packet))
            continue
        else:
            issue = (
                _not_inferred(inference)
                if inference is not None and _is_bare_record(value)
                else make_issue("$", "input.unrecognized")
            )
            checked.append(CheckedDocument(part.location, None, [issue]))
            continue
        checked.append(CheckedDocument(part.location, result))
    return checked


def check_bytes(
    data: bytes, validator: Validator, name: str = "<input>", packet: str | None = None
) -> list[CheckedDocument]:
    return check_parsed(read_documents(data, name), validator, packet)
