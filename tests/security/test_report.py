"""The human report: Circular 15/2025/TT-BKHCN's fields, in Vietnamese and English."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from lienthong.security.report import render_text, report_dict, report_fields
from lienthong.security.verify import (
    RevocationData,
    Status,
    Verification,
    VerifyContext,
    verify_cades,
)
from tests.security.openssl_pki import UNIT, OpensslPki, openssl_pki

__all__ = ["openssl_pki"]

BODY = b'{"service":"DongBoHoSoMC","data":[]}'

LABELS_VI = [
    "Tổ chức cấp chứng thư",
    "Người ký",
    "Đơn vị quản lý",
    "Thời điểm ký",
    "Tính toàn vẹn",
    "Hiệu lực tại thời điểm ký",
    "Thời hạn chứng thư",
    "Nguồn kiểm tra thu hồi",
]
LABELS_EN = [
    "Issuer",
    "Signer",
    "Managing organisation",
    "Signing time",
    "Integrity",
    "Validity at the signing time",
    "Certificate validity period",
    "Revocation source",
]


def test_a_valid_signature_reports_every_field_in_both_languages(
    openssl_pki: OpensslPki,
) -> None:
    context = VerifyContext(
        trust_anchors=(openssl_pki.cert("root"),), crls=openssl_pki.crls, unit=UNIT
    )
    result = verify_cades(BODY, openssl_pki.sign_cms("rsa", BODY, pss=True), context)
    text = render_text(result)
    vi, en = text.split("\n\n")
    assert vi.startswith("KẾT QUẢ KIỂM TRA CHỮ KÝ SỐ") and en.startswith("DIGITAL SIGNATURE")
    for label in LABELS_VI:
        assert label in vi
    for label in LABELS_EN:
        assert label in en
    assert "HỢP LỆ" in vi and "VALID" in en
    assert "CA phục vụ các cơ quan (giả lập)" in vi  # issuer
    assert "Sở Thử nghiệm (rsa)" in vi  # signer
    assert f"UBND tỉnh Thử nghiệm ({UNIT})" in vi  # organisation and unit
    assert "còn nguyên vẹn" in vi and "intact" in en
    assert "có hiệu lực" in vi and "(GMT+7)" in vi
    assert (
        "CRL phát hành" in vi and "do bên kiểm tra cung cấp" in vi and "held by the verifier" in en
    )
    assert "rsassa_pss / sha256" in en
    as_json = json.loads(json.dumps(report_dict(result)))
    assert as_json["status"] == "valid" and as_json["retryable"] is False
    keys = [row["key"] for row in as_json["report"]]
    assert keys[:9] == [
        "result",
        "issuer",
        "signer",
        "organisation",
        "signing_time",
        "integrity",
        "validity_at_signing_time",
        "certificate_period",
        "revocation",
    ]
    assert as_json["verification"]["chain"] and as_json["verification"]["revocation"]


def _result(**fields: object) -> Verification:
    base: dict[str, object] = {
        "status": Status.INVALID,
        "reason": "signature.malformed",
        "vi": "chữ ký không đúng định dạng",
        "en": "malformed signature",
        "format": "cades",
        "checked_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    return Verification(**{**base, **fields})  # type: ignore[arg-type]


def test_an_unreadable_signature_says_what_is_unknown() -> None:
    fields = {f.key: f for f in report_fields(_result())}
    assert fields["signer"].value_vi == "(không có)" and fields["signer"].value_en == "(none)"
    assert fields["integrity"].value_vi == "chưa kiểm tra được"
    assert fields["revocation"].value_en == "no revocation data"
    assert fields["checked_at"].value_vi == "2026-01-02 10:04:05 (GMT+7)"


def test_revocation_and_retry_are_said() -> None:
    signed = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    revoked = _result(
        status=Status.REVOKED,
        integrity=True,
        signing_time=signed,
        revoked_at=signed - timedelta(days=1),
        revocation=(
            RevocationData("ocsp", b"0", signed, "stapled"),
            RevocationData("crl", b"0", None, "fetched"),
        ),
    )
    fields = {f.key: f for f in report_fields(revoked)}
    assert fields["validity_at_signing_time"].value_vi.startswith(
        "không: đã bị thu hồi lúc 2026-01-01"
    )
    assert fields["revocation"].value_vi == (
        "OCSP phát hành 2026-01-02 10:00:00 (GMT+7), kèm theo chữ ký; "
        "CRL phát hành ?, lấy từ tổ chức cấp"
    )
    later = _result(status=Status.VALID, integrity=True, revoked_at=signed + timedelta(days=1))
    assert (
        "revoked later"
        in {f.key: f for f in report_fields(later)}["validity_at_signing_time"].value_en
    )
    pending = report_dict(_result(status=Status.INDETERMINATE, integrity=True))
    assert pending["retryable"] is True
    assert (
        "thử lại" in {r["key"]: r for r in pending["report"]}["validity_at_signing_time"]["value"]
    )
