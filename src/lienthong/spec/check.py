"""Checking whole inputs (files, request bodies): documents in, one result per document out."""

from __future__ import annotations

from dataclasses import dataclass, field

from lienthong.spec.inputs import ParsedInput, read_documents
from lienthong.spec.issues import Issue, make_issue
from lienthong.spec.validate import EnvelopeResult, Validator


@dataclass(slots=True)
class CheckedDocument:
    location: str
    result: EnvelopeResult | None
    """None when the document could not be read or recognised (see ``issues``)."""
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(i.is_error for i in self.issues) and (self.result is None or self.result.ok)

    def all_issues(self) -> list[Issue]:
        return [*self.issues, *(self.result.all_issues() if self.result else [])]


def check_parsed(
    parsed: ParsedInput, validator: Validator, packet: str | None = None
) -> list[CheckedDocument]:
    """Validate every document: envelopes by their ``service``; bare records or share answers
    as ``packet`` when it is given."""
    checked = [CheckedDocument(location, None, [issue]) for location, issue in parsed.issues]
    for document in parsed.documents:
        value = document.value
        if type(value) is dict and "service" in value:
            result = validator.validate_envelope(value, scan_unicode=document.lenient_unicode)
        elif packet is not None:
            if type(value) is dict and (
                "result" in value or "error_code" in value or packet in value
            ):
                result = validator.validate_response(packet, value)
            else:
                record = validator.validate_record(packet, value, 0, "$")
                result = EnvelopeResult(packet, validator.catalog.packet(packet), [], [record])
        else:
            checked.append(
                CheckedDocument(document.location, None, [make_issue("$", "input.unrecognized")])
            )
            continue
        checked.append(CheckedDocument(document.location, result))
    return checked


def check_bytes(
    data: bytes, validator: Validator, name: str = "<input>", packet: str | None = None
) -> list[CheckedDocument]:
    return check_parsed(read_documents(data, name), validator, packet)
