"""The answer codes of the agent's local API: one table, like the hub's ``ANSWER_CODES``.

The local API speaks to the one-stop system next door, not to the portal, so its codes are
dotted names (like the issue codes of :mod:`lienthong.spec.issues`) rather than the portal's
numbers: they can never be mistaken for a portal answer. Codes never change meaning once
released. Every error body is ``{"error_code", "message", "message_en", "path", "retryable"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LOCAL_CODES", "LocalApiError", "LocalCode"]


@dataclass(frozen=True, slots=True)
class LocalCode:
    code: str
    http_status: int
    vi: str
    en: str
    retryable: bool = False
    """Whether sending the same request again (later) can succeed."""


LOCAL_CODES: Mapping[str, LocalCode] = {
    entry.code: entry
    for entry in (
        LocalCode("ok", 200, "Đã nhận toàn bộ bản ghi", "Every record was queued"),
        LocalCode(
            "partial",
            207,
            "Một số bản ghi không hợp lệ; xem kết quả từng bản ghi",
            "Some records were invalid; see the per-record results",
        ),
        LocalCode(
            "rejected",
            422,
            "Không bản ghi nào được nhận; xem kết quả từng bản ghi",
            "No record was queued; see the per-record results",
        ),
        LocalCode(
            "auth.key_missing", 401, "Thiếu khóa API (X-API-Key)", "Missing API key (X-API-Key)"
        ),
        LocalCode("auth.key_invalid", 401, "Khóa API không hợp lệ", "Invalid API key"),
        LocalCode(
            "auth.unit_forbidden",
            403,
            "Khóa API không được phép gửi cho đơn vị này",
            "The API key may not submit for this unit",
        ),
        LocalCode("request.too_large", 413, "Yêu cầu quá lớn", "Request body too large"),
        LocalCode(
            "request.content_type",
            415,
            "Content-Type phải là application/json",
            "Content-Type must be application/json",
        ),
        LocalCode(
            "request.not_json",
            400,
            "Nội dung yêu cầu không phải JSON hợp lệ",
            "The request body is not valid JSON",
        ),
        LocalCode(
            "request.not_object",
            400,
            "Gói tin phải là một đối tượng JSON",
            "The envelope must be a JSON object",
        ),
        LocalCode(
            "envelope.missing",
            400,
            "Thiếu trường bắt buộc của gói tin",
            "A required envelope field is missing",
        ),
        LocalCode(
            "envelope.invalid",
            422,
            "Gói tin không hợp lệ; xem danh sách lỗi",
            "The envelope is invalid; see the issues",
        ),
        LocalCode("service.unknown", 400, "Dịch vụ không được hỗ trợ", "Unknown service"),
        LocalCode(
            "service.not_pushable",
            400,
            "Dịch vụ chia sẻ (lấy dữ liệu) không gửi qua hàng đợi",
            "A share (pull) service cannot be queued for delivery",
        ),
        LocalCode("outbox.not_found", 404, "Không tìm thấy bản ghi", "No such outbox record"),
        LocalCode("pulled.not_found", 404, "Không tìm thấy mục đã lấy về", "No such pulled item"),
        LocalCode(
            "request.query", 400, "Tham số truy vấn không hợp lệ", "Invalid query parameters"
        ),
        LocalCode(
            "internal", 500, "Lỗi hệ thống; thử lại sau", "Internal error; try again later", True
        ),
    )
}


class LocalApiError(Exception):
    """A refusal of the whole request, raised below the HTTP layer of the local API."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        detail_en: str = "",
        *,
        path: str | None = None,
        issues: list[dict[str, Any]] | None = None,
    ) -> None:
        self.entry = LOCAL_CODES[code]
        self.detail = detail
        self.detail_en = detail_en or detail
        self.path = path
        self.issues = issues
        super().__init__(
            f"{code}: {self.entry.en}{': ' + self.detail_en if self.detail_en else ''}"
        )

    @property
    def http_status(self) -> int:
        return self.entry.http_status

    def body(self) -> dict[str, Any]:
        entry = self.entry
        body: dict[str, Any] = {
            "error_code": entry.code,
            "message": entry.vi + (f": {self.detail}" if self.detail else ""),
            "message_en": entry.en + (f": {self.detail_en}" if self.detail_en else ""),
            "path": self.path,
            "retryable": entry.retryable,
        }
        if self.issues is not None:
            body["issues"] = self.issues
        return body
