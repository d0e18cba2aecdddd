"""The verification result as a person reads it, in Vietnamese and English, with the fields
Circular 15/2025/TT-BKHCN (Appendix II) asks verifying software to show: issuer, signer,
managing organisation, signing time, integrity, validity at the signing time, the certificate's
validity period; and the revocation data the answer rests on (OCSP/CRL, from where, when).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lienthong.security.verify import RevocationData, Status, Verification

__all__ = ["ReportField", "render_text", "report_dict", "report_fields"]

_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

_STATUS: dict[Status, tuple[str, str]] = {
    Status.VALID: ("HỢP LỆ", "VALID"),
    Status.INVALID: ("KHÔNG HỢP LỆ", "INVALID"),
    Status.UNTRUSTED: ("KHÔNG TIN CẬY", "UNTRUSTED"),
    Status.REVOKED: ("CHỨNG THƯ ĐÃ BỊ THU HỒI", "CERTIFICATE REVOKED"),
    Status.EXPIRED: ("CHỨNG THƯ HẾT HIỆU LỰC", "CERTIFICATE EXPIRED"),
    Status.WEAK: ("THUẬT TOÁN KHÔNG ĐƯỢC PHÉP", "ALGORITHM NOT ALLOWED"),
    Status.INDETERMINATE: ("CHƯA XÁC ĐỊNH ĐƯỢC", "INDETERMINATE"),
    Status.WRONG_UNIT: ("SAI ĐƠN VỊ", "WRONG UNIT"),
}

_ORIGIN = {
    "stapled": ("kèm theo chữ ký", "stapled to the signature"),
    "configured": ("do bên kiểm tra cung cấp", "held by the verifier"),
    "fetched": ("lấy từ tổ chức cấp", "fetched from the CA"),
}


@dataclass(frozen=True, slots=True)
class ReportField:
    key: str
    label_vi: str
    label_en: str
    value_vi: str
    value_en: str


def _when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(_ZONE).strftime("%Y-%m-%d %H:%M:%S (GMT+7)")


def _or_unknown(value: str | None) -> tuple[str, str]:
    return (value, value) if value else ("(không có)", "(none)")


def _integrity(result: Verification) -> tuple[str, str]:
    if result.integrity is True:
        return "còn nguyên vẹn", "intact"
    if result.integrity is False:
        return "đã bị thay đổi", "changed"
    return "chưa kiểm tra được", "not checked"


def _validity(result: Verification) -> tuple[str, str]:
    if result.status is Status.VALID:
        if result.revoked_at is not None:
            later = _when(result.revoked_at)
            return (
                f"có hiệu lực (bị thu hồi sau đó, lúc {later})",
                f"valid (revoked later, at {later})",
            )
        return "có hiệu lực", "valid"
    if result.status is Status.INDETERMINATE:
        return "chưa xác định được (thử lại sau)", "undetermined (try again later)"
    if result.status is Status.REVOKED:
        at = _when(result.revoked_at)
        return (f"không: đã bị thu hồi lúc {at}", f"no: revoked at {at}")
    if result.status is Status.EXPIRED:
        return "không: ngoài thời hạn chứng thư", "no: outside the certificate's validity"
    if result.status in (Status.INVALID, Status.WEAK) and result.integrity is not True:
        return "không kiểm tra (chữ ký không dùng được)", "not checked (unusable signature)"
    return "không", "no"


def _period(result: Verification) -> tuple[str, str]:
    if result.not_before is None or result.not_after is None:
        return _or_unknown(None)
    start, end = _when(result.not_before), _when(result.not_after)
    return f"từ {start} đến {end}", f"from {start} to {end}"


def _revocation_item(item: RevocationData) -> tuple[str, str]:
    origin_vi, origin_en = _ORIGIN[item.origin]
    kind = item.kind.upper()
    when = _when(item.issued_at) or "?"
    return (f"{kind} phát hành {when}, {origin_vi}", f"{kind} issued {when}, {origin_en}")


def _revocation(result: Verification) -> tuple[str, str]:
    if not result.revocation:
        return "không có dữ liệu thu hồi", "no revocation data"
    items = [_revocation_item(item) for item in result.revocation]
    return "; ".join(vi for vi, _ in items), "; ".join(en for _, en in items)


def report_fields(result: Verification) -> list[ReportField]:
    """The report's fields in their order, each in both languages."""
    status_vi, status_en = _STATUS[result.status]
    organisation = result.organisation
    if result.unit:
        organisation = f"{organisation} ({result.unit})" if organisation else result.unit
    algorithm = " / ".join(part for part in (result.scheme, result.digest) if part) or None
    rows: list[tuple[str, str, str, tuple[str, str]]] = [
        ("result", "Kết quả", "Result", (f"{status_vi}: {result.vi}", f"{status_en}: {result.en}")),
        ("issuer", "Tổ chức cấp chứng thư", "Issuer", _or_unknown(result.issuer)),
        ("signer", "Người ký", "Signer", _or_unknown(result.signer)),
        ("organisation", "Đơn vị quản lý", "Managing organisation", _or_unknown(organisation)),
        ("signing_time", "Thời điểm ký", "Signing time", _or_unknown(_when(result.signing_time))),
        ("integrity", "Tính toàn vẹn", "Integrity", _integrity(result)),
        (
            "validity_at_signing_time",
            "Hiệu lực tại thời điểm ký",
            "Validity at the signing time",
            _validity(result),
        ),
        (
            "certificate_period",
            "Thời hạn chứng thư",
            "Certificate validity period",
            _period(result),
        ),
        ("revocation", "Nguồn kiểm tra thu hồi", "Revocation source", _revocation(result)),
        (
            "format",
            "Định dạng, thuật toán",
            "Format, algorithm",
            _or_unknown(f"{result.format.upper()} {algorithm or ''}".strip()),
        ),
        (
            "fingerprint",
            "Dấu vân tay chứng thư (SHA-256)",
            "Certificate fingerprint (SHA-256)",
            _or_unknown(result.fingerprint),
        ),
        ("checked_at", "Thời điểm kiểm tra", "Checked at", _or_unknown(_when(result.checked_at))),
    ]
    return [ReportField(key, lvi, len_, vi, en) for key, lvi, len_, (vi, en) in rows]


def render_text(result: Verification, languages: tuple[str, ...] = ("vi", "en")) -> str:
    """Plain text: one block per language, Vietnamese first."""
    fields = report_fields(result)
    blocks = []
    for language in languages:
        title = (
            "KẾT QUẢ KIỂM TRA CHỮ KÝ SỐ" if language == "vi" else "DIGITAL SIGNATURE VERIFICATION"
        )
        pairs = [
            (f.label_vi, f.value_vi) if language == "vi" else (f.label_en, f.value_en)
            for f in fields
        ]
        width = max(len(label) for label, _ in pairs)
        lines = [title] + [f"  {label.ljust(width)}  {value}" for label, value in pairs]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def report_dict(result: Verification) -> dict[str, Any]:
    """JSON: the labelled fields (as shown) and the whole result (with the DER evidence)."""
    return {
        "status": result.status.value,
        "retryable": result.retryable,
        "report": [
            {
                "key": f.key,
                "label": f.label_vi,
                "label_en": f.label_en,
                "value": f.value_vi,
                "value_en": f.value_en,
            }
            for f in report_fields(result)
        ],
        "verification": result.as_dict(),
    }
