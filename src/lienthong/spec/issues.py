"""Validation issues: a JSON path, a stable code, a severity and a message in Vietnamese and English.

Every code a user can meet is listed once in :data:`ISSUE_CODES`; ``docs/packets.md`` and
``lienthong spec codes`` print this table. Codes never change meaning once released.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class IssueCode:
    code: str
    severity: Severity
    vi: str
    """Vietnamese message template (``str.format`` with the issue's context)."""
    en: str
    """English message template."""


def _c(code: str, severity: str, vi: str, en: str) -> IssueCode:
    return IssueCode(code, Severity(severity), vi, en)


_TABLE: tuple[IssueCode, ...] = (
    # Input as a whole
    _c(
        "json.invalid",
        "error",
        "Dữ liệu không phải JSON hợp lệ: {detail}",
        "Not valid JSON: {detail}",
    ),
    _c("json.too_deep", "error", "JSON lồng nhau quá sâu", "JSON nested too deeply"),
    _c("json.empty", "error", "Tệp rỗng, không có dữ liệu", "Empty input, no data"),
    _c(
        "input.unrecognized",
        "error",
        "Không nhận dạng được: cần một gói tin có 'service', hoặc chỉ rõ gói tin (--packet)",
        "Not recognised: expected an envelope with 'service', or name the packet (--packet)",
    ),
    _c(
        "input.packet_ambiguous",
        "error",
        "Không rõ gói tin của các bản ghi: các trường hợp với {candidates}; chỉ rõ bằng --packet",
        "Which packet the records are is unclear: their fields fit {candidates}; "
        "name it with --packet",
    ),
    _c(
        "input.packet_same_fields",
        "error",
        "Không rõ gói tin của các bản ghi: {candidates} có cùng các trường; chỉ rõ bằng --packet",
        "Which packet the records are cannot be told: {candidates} have the same fields; "
        "name it with --packet",
    ),
    _c(
        "record.not_object",
        "error",
        "Bản ghi phải là một đối tượng JSON",
        "A record must be a JSON object",
    ),
    # Envelope
    _c(
        "envelope.not_object",
        "error",
        "Gói tin phải là một đối tượng JSON",
        "The envelope must be a JSON object",
    ),
    _c(
        "envelope.missing",
        "error",
        "Thiếu trường bắt buộc của gói tin: {field}",
        "Missing envelope field: {field}",
    ),
    _c(
        "envelope.unknown_service",
        "error",
        "Dịch vụ không có trong danh mục gói tin ({profile}): {service}",
        "Service not in the packet catalog ({profile}): {service}",
    ),
    _c(
        "envelope.data_not_array",
        "error",
        "Trường 'data' phải là một mảng bản ghi",
        "Field 'data' must be an array of records",
    ),
    _c(
        "envelope.data_empty",
        "warning",
        "Gói tin không có bản ghi nào",
        "The envelope holds no record",
    ),
    _c(
        "packet.provisional",
        "warning",
        "Gói tin {packet} chưa có bảng chính thức; kiểm tra theo bộ trường tạm thời của lienthong",
        "Packet {packet} has no official table yet; checked against lienthong's provisional field set",
    ),
    # Fields
    _c(
        "field.required",
        "error",
        "Thiếu trường bắt buộc {field}",
        "Required field {field} is missing or empty",
    ),
    _c("field.type", "error", "{field} phải là {expected}", "{field} must be {expected_en}"),
    _c(
        "field.too_long",
        "error",
        "{field} dài {length} ký tự, vượt quá {max_length}",
        "{field} is {length} characters long, over the limit of {max_length}",
    ),
    _c(
        "field.code",
        "error",
        "{field} = {value!r} không thuộc danh mục {code_list} ({codes})",
        "{field} = {value!r} is not in code list {code_list} ({codes})",
    ),
    _c(
        "field.integer",
        "error",
        "{field} = {value!r} phải là số nguyên",
        "{field} = {value!r} must be an integer",
    ),
    _c(
        "field.decimal",
        "error",
        "{field} = {value!r} phải là số",
        "{field} = {value!r} must be a number",
    ),
    _c(
        "field.bool",
        "error",
        '{field} = {value!r} phải là "True" hoặc "False"',
        '{field} = {value!r} must be "True" or "False"',
    ),
    _c(
        "field.date",
        "error",
        "{field} = {value!r} không phải ngày giờ hợp lệ theo định dạng {formats}",
        "{field} = {value!r} is not a real date-time in format {formats}",
    ),
    _c(
        "field.unicode",
        "error",
        "{field} chứa ký tự Unicode không hợp lệ",
        "{field} contains invalid Unicode (lone surrogate)",
    ),
    _c(
        "field.nul",
        "error",
        "{field} chứa ký tự NUL (\\u0000), không lưu được",
        "{field} contains a NUL character (\\u0000), which cannot be stored",
    ),
    _c(
        "field.unknown",
        "warning",
        "Trường {field} không có trong danh mục gói tin {packet}",
        "Field {field} is not in the catalog of packet {packet}",
    ),
    _c(
        "field.unknown_strict",
        "error",
        "Trường {field} không có trong danh mục gói tin {packet} (chế độ nghiêm ngặt)",
        "Field {field} is not in the catalog of packet {packet} (strict mode)",
    ),
    # Identifiers and formats (messages come from lienthong.spec.identifiers)
    _c("agency.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("agency.hierarchy", "error", "{field}: {vi}", "{field}: {en}"),
    _c("agency.unknown_level1", "warning", "{field}: {vi}", "{field}: {en}"),
    _c("agency.closed", "error", "{field}: {vi}", "{field}: {en}"),
    _c("dossier_code.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("dossier_code.date", "error", "{field}: {vi}", "{field}: {en}"),
    _c("dossier_code.sequence", "error", "{field}: {vi}", "{field}: {en}"),
    _c("tthc_code.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("linhvuc_code.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("personal_id.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("personal_id.century", "error", "{field}: {vi}", "{field}: {en}"),
    _c("social_insurance.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("email.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("phone.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("url.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("percent.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c("percent.not_a_number", "warning", "{field}: {vi}", "{field}: {en}"),
    _c("month_year.format", "error", "{field}: {vi}", "{field}: {en}"),
    _c(
        "record.layout",
        "warning",
        "Bản ghi theo bố cục khác ({layout}): đã chuyển về bố cục của danh mục trước khi kiểm tra",
        "Record in another layout ({layout}): rewritten into the catalog's before the checks",
    ),
    # Cross-field rules
    _c(
        "date.order",
        "error",
        "{field} ({value}) trước {other} ({other_value})",
        "{field} ({value}) is before {other} ({other_value})",
    ),
    _c(
        "date.future",
        "error",
        "{field} ({value}) ở tương lai",
        "{field} ({value}) is in the future",
    ),
    _c(
        "field.range",
        "error",
        "{field} = {value} ngoài khoảng cho phép ({range})",
        "{field} = {value} is out of range ({range})",
    ),
    _c(
        "dossier.returned_without_date",
        "warning",
        "Hồ sơ ở trạng thái 10 (Đã trả kết quả) phải có NgayTra",
        "A dossier in status 10 (result returned) must have NgayTra",
    ),
    _c(
        "dossier.unit_closed",
        "error",
        "{field}: mã đơn vị {unit} đã đóng từ {closed_on} (thay bằng {successor}); chỉ chấp nhận với hồ sơ tiếp nhận trước ngày đó",
        "{field}: unit code {unit} closed on {closed_on} (successor {successor}); accepted only on dossiers received before that date",
    ),
    _c(
        "stats.sum",
        "error",
        "{field} = {value} nhưng {formula} = {expected}",
        "{field} = {value} but {formula} = {expected}",
    ),
    _c(
        "stats.percent",
        "warning",
        "{field} = {value} không khớp với số liệu ({expected})",
        "{field} = {value} does not agree with the counts ({expected})",
    ),
    _c(
        "survey.percent_sum",
        "error",
        "Tổng tỷ lệ đánh giá là {total}%, phải bằng 100%",
        "Satisfaction percentages add up to {total}%, expected 100%",
    ),
)

ISSUE_CODES: Mapping[str, IssueCode] = {entry.code: entry for entry in _TABLE}

#: Deviations real clients send that the hub takes, a warning for received data (lenient) and
#: an error in strict mode (what is about to be sent): rules about completeness or derived
#: figures rather than the meaning of what is stored, another record layout, a percentage that
#: is not a number. A rule protecting meaning (dates in order, none in the future, open unit
#: codes, totals that add up, survey percentages that add up to 100 within rounding) is an
#: error in both.
STRICT_ONLY_CODES = frozenset(
    {
        "dossier.returned_without_date",
        "stats.percent",
        "survey.percent_sum",
        "record.layout",
        "percent.not_a_number",
    }
)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in one place of the input."""

    path: str
    """JSON path of the offending value, e.g. ``$.data[3].TaiLieuNop[0].IsDeleted``."""
    code: str
    """Stable code from :data:`ISSUE_CODES`."""
    severity: Severity
    vi: str
    en: str
    context: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.vi,
            "message_en": self.en,
        }


def make_issue(path: str, code: str, severity: Severity | None = None, **context: Any) -> Issue:
    """Build an issue from the code table; ``severity`` overrides the table's (strict mode)."""
    entry = ISSUE_CODES[code]
    values = _Blank(context)
    return Issue(
        path=path,
        code=code,
        severity=severity or entry.severity,
        vi=entry.vi.format_map(values),
        en=entry.en.format_map(values),
        context=context,
    )
