"""The hub's answer codes: one table, each code with its HTTP status, messages and whether a
retry can help. ``docs/protocol.md`` prints this table; existing clients parse ``error_code`` as an
integer and compare it with 0, and treat 3 with "đã tồn tại" as "already exists"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AnswerCode:
    code: str
    http_status: int
    vi: str
    en: str
    retryable: bool
    """Whether sending the same request again (later) can succeed."""


def _a(code: str, status: int, vi: str, en: str, retryable: bool = False) -> AnswerCode:
    return AnswerCode(code, status, vi, en, retryable)


ANSWER_CODES: Mapping[str, AnswerCode] = {
    entry.code: entry
    for entry in (
        _a("00", 200, "Thành công", "Success"),
        _a(
            "01",
            200,
            "Một số bản ghi bị từ chối; xem kết quả từng bản ghi",
            "Some records were rejected; see the per-record outcomes",
        ),
        _a(
            "3",
            200,
            "Hồ sơ đã tồn tại; gửi lại với isUpdating = True",
            "The dossier already exists; resend with isUpdating = True",
        ),
        _a(
            "10",
            400,
            "Nội dung yêu cầu không phải JSON hợp lệ",
            "The request body is not valid JSON",
        ),
        _a(
            "11",
            415,
            "Content-Type phải là application/json",
            "Content-Type must be application/json",
        ),
        _a("12", 400, "Thiếu trường bắt buộc của gói tin", "A required envelope field is missing"),
        _a("13", 400, "Dịch vụ không được hỗ trợ", "Unknown or unsupported service"),
        _a("14", 413, "Yêu cầu quá lớn", "Request body too large"),
        _a(
            "16",
            413,
            "Gói tin có quá nhiều bản ghi; chia thành nhiều gói nhỏ hơn",
            "Too many records in one envelope; split the batch",
        ),
        _a(
            "17",
            405,
            "Phương thức HTTP không đúng cho dịch vụ này",
            "Wrong HTTP method for this service",
        ),
        _a(
            "15",
            422,
            "Dữ liệu không hợp lệ; xem danh sách lỗi",
            "The data is invalid; see the issues",
        ),
        _a("20", 401, "Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password"),
        _a(
            "21",
            429,
            "Đăng nhập sai quá nhiều lần; thử lại sau",
            "Too many failed logins; try again later",
            True,
        ),
        _a(
            "22",
            401,
            "Phiên làm việc không hợp lệ; đăng nhập lại",
            "Invalid session; log in again",
            True,
        ),
        _a(
            "23",
            401,
            "Phiên làm việc đã hết hạn; đăng nhập lại",
            "Session expired; log in again",
            True,
        ),
        _a("24", 403, "Tài khoản đã bị khóa", "The account is disabled"),
        _a(
            "25",
            401,
            "Chứng thư số máy khách không khớp tài khoản",
            "The client certificate does not match the account",
        ),
        _a(
            "30",
            403,
            "Tài khoản không được phép thao tác cho đơn vị này",
            "The account may not act for this unit",
        ),
        _a(
            "31",
            403,
            "Tài khoản không được cấp quyền dịch vụ này",
            "The account is not granted this service",
        ),
        _a("40", 404, "Không tìm thấy hồ sơ", "Dossier not found"),
        _a(
            "41",
            404,
            "Không tìm thấy phản ánh, kiến nghị hoặc câu hỏi",
            "Petition or question not found",
        ),
        _a(
            "42",
            409,
            "Bước xử lý không được phép ở trạng thái hiện tại",
            "Workflow step not allowed in the current status",
        ),
        _a(
            "43",
            429,
            "Gửi quá nhiều phản ánh, kiến nghị hoặc câu hỏi; thử lại sau",
            "Too many petitions or questions sent; try again later",
            True,
        ),
        _a(
            "44",
            429,
            "Tra cứu quá nhiều lần; thử lại sau",
            "Too many lookups; try again later",
            True,
        ),
        _a(
            "50",
            400,
            "Gói tin phải được ký số (tiêu đề X-Lienthong-Signature)",
            "The envelope must be signed (X-Lienthong-Signature header)",
        ),
        _a("51", 400, "Chữ ký số không hợp lệ", "The signature is not valid"),
        _a(
            "52",
            403,
            "Chứng thư số không thuộc chuỗi tin cậy đã cấu hình",
            "The certificate does not chain to a configured trust anchor",
        ),
        _a(
            "53",
            403,
            "Chứng thư số đã bị thu hồi trước thời điểm ký",
            "The certificate was revoked before the signing time",
        ),
        _a(
            "54",
            403,
            "Chứng thư số không còn hiệu lực tại thời điểm ký",
            "The certificate was not valid at the signing time",
        ),
        _a(
            "55",
            400,
            "Thuật toán hoặc khóa không được phép (TT 15/2025/TT-BKHCN)",
            "An algorithm or key that is not allowed (Circular 15/2025/TT-BKHCN)",
        ),
        _a(
            "56",
            503,
            "Chưa kiểm tra được tình trạng thu hồi chứng thư; thử lại sau",
            "The certificate's revocation status could not be checked; try again later",
            True,
        ),
        _a(
            "57",
            403,
            "Chứng thư số không thuộc đơn vị gửi (madonvi)",
            "The certificate does not belong to the sending unit (madonvi)",
        ),
        _a(
            "60",
            503,
            "Nhật ký chứng cứ chưa được đóng dấu thời gian quá lâu; tạm ngừng nhận dữ liệu, "
            "thử lại sau",
            "The evidence log has gone without a time-stamp for too long; pushes are refused "
            "until it has one, try again later",
            True,
        ),
        _a("99", 500, "Lỗi hệ thống; thử lại sau", "Internal error; try again later", True),
    )
}


#: The internal spelling of success; answers spell it as the account's form asks.
SUCCESS = "00"
#: Each form's spelling on the wire (the names are ``store.accounts.SUCCESS_CODE_FORMS``).
SUCCESS_SPELLINGS: Mapping[str, str | int] = {"0": "0", "00": "00", "integer": 0}


def spell_success(body: dict[str, Any], form: str) -> None:
    """Write success in ``body`` (the answer's ``error_code`` and each record outcome's) in
    ``form``, in place. Real clients differ: one compares ``error_code == "0"`` as a string,
    OpenCPS parses it as an integer, none accepts ``"00"`` (docs/protocol.md)."""
    spelling = SUCCESS_SPELLINGS[form]
    if spelling == SUCCESS:
        return
    if body.get("error_code") == SUCCESS:
        body["error_code"] = spelling
    records = body.get("records")
    if isinstance(records, list):
        for outcome in records:
            if isinstance(outcome, dict) and outcome.get("error_code") == SUCCESS:
                outcome["error_code"] = spelling


def shown(text: str, limit: int = 200) -> str:
    """``text`` fit for an answer or a log line: at most ``limit`` characters, and control
    characters, lone surrogates and NULs written as escapes (they could not be encoded or would
    act on a terminal)."""
    text = text[:limit]
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


class HubError(Exception):
    """An answer other than success, raised anywhere below the HTTP layer."""

    def __init__(self, code: str, detail: str = "", detail_en: str = "") -> None:
        self.answer = ANSWER_CODES[code]
        self.detail = shown(detail, 4000)
        self.detail_en = shown(detail_en, 4000) or self.detail
        super().__init__(
            f"{code}: {self.answer.en}{': ' + self.detail_en if self.detail_en else ''}"
        )

    def body(self) -> dict[str, object]:
        answer = self.answer
        return {
            "error_code": answer.code,
            "message": answer.vi + (f": {self.detail}" if self.detail else ""),
            "message_en": answer.en + (f": {self.detail_en}" if self.detail_en else ""),
            "retryable": answer.retryable,
        }
