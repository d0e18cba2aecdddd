"""Checking an evidence container with no database and no network (docs/evidence-container.md).

For the container: every data object is listed in the ASiCManifest with its SHA-256, and the
exporter's CAdES signature over the ASiCManifest holds. For each message: the body's SHA-256 is
the entry document's ``body_sha256`` (and so for the signature, the receipt, the verification
result, the certificates and the revocation data); the document's digest, the Merkle leaf, leads
along the inclusion path to the batch's root; the batch's RFC 3161 time-stamp is over that root
and chains to a trust anchor; the sender's signature over the exact body holds as of its signing
time with only the kept certificates and OCSP/CRL data (``allow_fetching=False``: no request ever
leaves the machine); the hub's receipt is signed and names the body's SHA-256.

The hub's receipts and the exporter's signature are checked hard-fail when they carry their
signer's OCSP answer (stapled by the hub's self-check, :mod:`lienthong.security.selfcheck`):
a key revoked when it signed fails. Without it (JWS receipts, a hub without trust anchors, older
containers) they are checked soft-fail, and the report says "revocation not checked offline".

Trust comes only from the anchors the caller gives (a file the third party trusts), never from
the container. Every failed check is named (:class:`Finding`: a stable code, both languages).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson
from cryptography import x509
from cryptography.x509 import ocsp

from lienthong.evidence.container import (
    ASIC_MANIFEST,
    SIGNATURE,
    Container,
    read_container,
)
from lienthong.evidence.merkle import root_from_path
from lienthong.security.cades import staples_ocsp
from lienthong.security.timestamps import Timestamp, TimestampError, verify_timestamp
from lienthong.security.verify import Verification, VerifyContext, verify_cades, verify_jws
from lienthong.store.hashing import canonical_json

__all__ = [
    "ContainerReport",
    "Finding",
    "MessageReport",
    "render_report",
    "verify_container",
]

_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
#: The TSA's clock and the receiver's may differ by this much (the token says ``accuracy``).
_CLOCK_TOLERANCE = dt.timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Finding:
    """One check that failed: a stable code and what it means in Vietnamese and English."""

    code: str
    vi: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.vi, "message_en": self.en}


@dataclass(frozen=True)
class MessageReport:
    """What one message's proof shows, and what did not hold."""

    folder: str
    document: Mapping[str, Any]
    signature: Verification | None = None
    """The sender's signature, checked offline as of its signing time (None: none kept)."""
    receipt: Mapping[str, Any] | None = None
    receipt_signature: Verification | None = None
    receipt_revocation_checked: bool = False
    """The receipt carried the hub's OCSP answer: checked hard-fail (else soft-fail)."""
    timestamp: Timestamp | None = None
    inclusion: Mapping[str, Any] | None = None
    included: bool = False
    """The entry's digest leads to a time-stamped Merkle root."""
    failures: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        timestamp = self.timestamp
        batch = (self.inclusion or {}).get("batch") or {}
        return {
            "folder": self.folder,
            "ok": self.ok,
            "entry": dict(self.document),
            "sender_signature": self.signature.as_dict() if self.signature else None,
            "receipt": dict(self.receipt) if self.receipt is not None else None,
            "receipt_signature": (
                self.receipt_signature.as_dict() if self.receipt_signature else None
            ),
            "receipt_revocation": (
                _revocation_word(self.receipt_revocation_checked)
                if self.receipt_signature
                else None
            ),
            "timestamp": (
                {
                    "time": timestamp.time.isoformat(),
                    "tsa": timestamp.tsa,
                    "serial": timestamp.serial,
                }
                if timestamp
                else None
            ),
            "included": self.included,
            "batch": batch or None,
            "report": [
                {"key": key, "label": lvi, "label_en": len_, "value": vi, "value_en": en}
                for key, lvi, len_, vi, en in _message_rows(self)
            ],
            "failures": [f.as_dict() for f in self.failures],
        }


@dataclass(frozen=True)
class ContainerReport:
    """The whole container's check."""

    export: Mapping[str, Any]
    exporter: Verification | None
    """The exporter's signature over the ASiCManifest (None: the container is not signed)."""
    messages: tuple[MessageReport, ...]
    failures: tuple[Finding, ...] = ()
    exporter_revocation_checked: bool = False
    """The exporter's signature carried its OCSP answer: checked hard-fail (else soft-fail)."""
    checked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.messages) and all(m.ok for m in self.messages)

    def all_failures(self) -> list[Finding]:
        return [*self.failures, *(f for m in self.messages for f in m.failures)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat(),
            "export": dict(self.export),
            "exporter_signature": self.exporter.as_dict() if self.exporter else None,
            "exporter_revocation": (
                _revocation_word(self.exporter_revocation_checked) if self.exporter else None
            ),
            "failures": [f.as_dict() for f in self.failures],
            "messages": [m.as_dict() for m in self.messages],
        }


# -- the checks ---------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _revocation_word(checked: bool) -> str:
    """How a receipt's or the exporter's revocation was checked, in the JSON report."""
    return "checked_offline" if checked else "not_checked_offline"


def _revocation_text(checked: bool) -> tuple[str, str]:
    if checked:
        return (
            "thu hồi đã kiểm tra ngoại tuyến (OCSP gắn kèm)",
            "revocation checked offline (stapled OCSP)",
        )
    return "chưa kiểm tra thu hồi khi ngoại tuyến", "revocation not checked offline"


def _stapled_mode(signature: bytes, jws: bool) -> Literal["hard-fail", "soft-fail"]:
    """Hard-fail for a CAdES signature carrying its signer's OCSP answer (the CAs' answers
    ride with it), else soft-fail: nothing offline could tell whether the key was revoked."""
    return "hard-fail" if not jws and staples_ocsp(signature) else "soft-fail"


def _manifest_findings(container: Container) -> list[Finding]:
    found = []
    listed = {reference.uri: reference for reference in container.references}
    for name in container.data_objects():
        reference = listed.pop(name, None)
        if reference is None:
            found.append(
                Finding(
                    "manifest.unlisted",
                    f"tệp {name} không có trong {ASIC_MANIFEST}",
                    f"member {name} is not listed in {ASIC_MANIFEST}",
                )
            )
        elif hashlib.sha256(container.members[name]).digest() != reference.digest:
            found.append(
                Finding(
                    "manifest.digest",
                    f"tệp {name} đã bị thay đổi (SHA-256 khác {ASIC_MANIFEST})",
                    f"member {name} was changed (its SHA-256 differs from {ASIC_MANIFEST})",
                )
            )
    for name in sorted(listed):
        found.append(
            Finding(
                "manifest.missing",
                f"{ASIC_MANIFEST} liệt kê {name} nhưng gói không có",
                f"{ASIC_MANIFEST} lists {name}, which the container lacks",
            )
        )
    return found


def _exporter(
    container: Container, anchors: Sequence[x509.Certificate], others: Sequence[x509.Certificate]
) -> tuple[Verification | None, list[Finding]]:
    if container.signature is None:
        return None, []
    mode = _stapled_mode(container.signature, jws=False)
    result = verify_cades(
        container.manifest,
        container.signature,
        VerifyContext(
            trust_anchors=tuple(anchors),
            other_certs=tuple(others),
            allow_fetching=False,
            # the exporter staples its OCSP answer when it has one; none is not a failure
            revocation_mode=mode,
        ),
    )
    if result.valid:
        return result, []
    return result, [
        Finding(
            f"exporter.{result.reason}",
            f"chữ ký của bên xuất gói ({SIGNATURE}) không hợp lệ: {result.vi}",
            f"the exporter's signature ({SIGNATURE}) does not hold: {result.en}",
        )
    ]


def _carried_certificates(container: Container) -> list[x509.Certificate]:
    found = []
    for name, data in container.members.items():
        if name.startswith("certificates/"):
            try:
                found.append(x509.load_der_x509_certificate(data))
            except ValueError:
                continue  # a changed file: its message's check names it
    return found


def _revocation_data(ders: Sequence[bytes]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The kept answers split into OCSP responses and CRLs (by what they parse as)."""
    ocsps, crls = [], []
    for der in ders:
        try:
            ocsp.load_der_ocsp_response(der)
            ocsps.append(der)
            continue
        except ValueError:
            pass
        try:
            x509.load_der_x509_crl(der)
            crls.append(der)
        except ValueError:
            continue  # neither: the signature check will miss it and say so
    return tuple(ocsps), tuple(crls)


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class _Message:
    """The checks of one message folder, collecting findings."""

    def __init__(
        self,
        container: Container,
        folder: str,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate],
    ) -> None:
        self.container, self.folder = container, folder
        self.anchors, self.intermediates = tuple(anchors), tuple(intermediates)
        self.failures: list[Finding] = []

    def fail(self, code: str, vi: str, en: str) -> None:
        self.failures.append(Finding(code, f"{self.folder}: {vi}", f"{self.folder}: {en}"))

    def member(self, name: str) -> bytes | None:
        return self.container.members.get(f"{self.folder}/{name}")

    def json(self, name: str) -> Any:
        data = self.member(name)
        if data is None:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            self.fail(
                f"{name.split('.')[0]}.malformed", f"{name} không phải JSON", f"{name} is not JSON"
            )
            return None

    def covered(self, data: bytes | None, expected: object, code: str, what: str, vi: str) -> None:
        """``data`` is what the document's digest ``expected`` stands for (both absent too)."""
        actual = _sha256(data) if data is not None else None
        if actual != expected:
            self.fail(
                code,
                f"{vi} không khớp bản ghi sổ (SHA-256 khác {what} của entry.json)",
                f"{what}: the bytes do not match the log entry (SHA-256 differs from entry.json)",
            )

    def signature_member(self, base: str) -> tuple[bytes | None, str | None]:
        for extension, kind in (("p7s", "cades"), ("jws", "jws")):
            data = self.member(f"{base}.{extension}")
            if data is not None:
                return data, kind
        return None, None

    def kept(self, kind: str, listed: object) -> list[bytes]:
        found: list[bytes] = []
        if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
            self.fail("entry.malformed", f"entry.json: {kind} sai dạng", f"entry.json: bad {kind}")
            return found
        for digest in listed:
            data = self.container.members.get(f"{kind}/{digest}.der")
            if data is None:
                self.fail(
                    f"{kind[:-1]}.missing",
                    f"thiếu {kind}/{digest}.der",
                    f"{kind}/{digest}.der is missing",
                )
            elif _sha256(data) != digest:
                self.fail(
                    f"{kind[:-1]}.digest",
                    f"{kind}/{digest}.der đã bị thay đổi (SHA-256 khác tên tệp)",
                    f"{kind}/{digest}.der was changed (its SHA-256 differs from its name)",
                )
            else:
                found.append(data)
        return found

    def check(self) -> MessageReport:
        document = self.json("entry.json")
        if not isinstance(document, dict) or document.get("v") != 1:
            self.fail(
                "entry.missing",
                "không có entry.json đọc được (phiên bản 1)",
                "no readable entry.json (version 1)",
            )
            return MessageReport(self.folder, {}, failures=tuple(self.failures))
        if f"messages/{document.get('seq')}" != self.folder:
            self.fail(
                "entry.folder",
                "số thứ tự của bản ghi sổ khác tên thư mục",
                "the log entry's seq differs from the folder's name",
            )
        body = self.member("message.json")
        if body is None:
            self.fail("message.missing", "thiếu message.json", "message.json is missing")
        self.covered(body, document.get("body_sha256"), "message.digest", "body_sha256", "nội dung")
        signature, signature_format = self.signature_member("message.json")
        self.covered(
            signature,
            document.get("signature_sha256"),
            "signature.digest",
            "signature_sha256",
            "chữ ký",
        )
        if signature is not None and signature_format != document.get("signature_format"):
            self.fail(
                "signature.format",
                "định dạng chữ ký khác bản ghi sổ",
                "the signature's format differs from the log entry",
            )
        receipt = self.member("receipt.json")
        receipt_signature, _ = self.signature_member("receipt.json")
        self.covered(
            receipt, document.get("receipt_sha256"), "receipt.digest", "receipt_sha256", "biên nhận"
        )
        self.covered(
            receipt_signature,
            document.get("receipt_signature_sha256"),
            "receipt.signature_digest",
            "receipt_signature_sha256",
            "chữ ký biên nhận",
        )
        self.covered(
            self.member("validation.json"),
            document.get("validation_sha256"),
            "validation.digest",
            "validation_sha256",
            "kết quả kiểm tra chữ ký",
        )
        self.kept("certificates", document.get("certificates"))  # there, and unchanged
        revocations = self.kept("revocations", document.get("revocations"))
        leaf = _sha256(canonical_json(document))
        inclusion, timestamp, included = self.inclusion(leaf, document)
        sender = self.sender(body, signature, signature_format, revocations, document)
        receipt_value, receipt_check = self.receipt(body, receipt, receipt_signature)
        return MessageReport(
            self.folder,
            document,
            signature=sender,
            receipt=receipt_value,
            receipt_signature=receipt_check,
            receipt_revocation_checked=receipt_check is not None
            and receipt_signature is not None
            and _stapled_mode(receipt_signature, _is_jws(receipt_signature)) == "hard-fail",
            timestamp=timestamp,
            inclusion=inclusion,
            included=included,
            failures=tuple(self.failures),
        )

    def inclusion(
        self, leaf: str, document: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any] | None, Timestamp | None, bool]:
        value = self.json("inclusion.json")
        if value is None:
            self.fail(
                "inclusion.unstamped",
                "bản ghi chưa được đóng dấu thời gian (chưa có trong lô nào): chưa chứng minh "
                "được là có trong sổ",
                "the entry is not time-stamped yet (in no batch): its place in the log is not "
                "proven",
            )
            return None, None, False
        try:
            batch = value["batch"]
            first, last = int(batch["first_seq"]), int(batch["last_seq"])
            index, size = int(value["leaf_index"]), int(value["tree_size"])
            path = [bytes.fromhex(node) for node in value["path"]]
            root = bytes.fromhex(value["root"])
            seq = int(document["seq"])
        except (KeyError, TypeError, ValueError):
            self.fail(
                "inclusion.malformed", "inclusion.json sai dạng", "inclusion.json is malformed"
            )
            return None, None, False
        included = True
        if not (first <= seq <= last and index == seq - first and size == last - first + 1):
            self.fail(
                "inclusion.position",
                f"vị trí trong lô không khớp số thứ tự {seq} (lô {first}–{last})",
                f"the position in the batch does not match seq {seq} (batch {first}-{last})",
            )
            included = False
        try:
            reached = root_from_path(bytes.fromhex(leaf), index, size, path)
        except ValueError:
            reached = b""
        if reached != root:
            self.fail(
                "inclusion.root",
                "đường Merkle từ bản ghi không dẫn tới gốc của lô (bản ghi hoặc đường đã bị thay đổi)",
                "the Merkle path from the entry does not lead to the batch's root (the entry or "
                "the path was changed)",
            )
            included = False
        if self.member("root.bin") != root:
            self.fail(
                "inclusion.root_file",
                "root.bin khác gốc trong inclusion.json",
                "root.bin differs from the root in inclusion.json",
            )
        token = self.member("timestamp.tsr")
        timestamp: Timestamp | None = None
        if token is None:
            self.fail("timestamp.missing", "thiếu timestamp.tsr", "timestamp.tsr is missing")
            return value, None, False
        others = self.intermediates
        try:
            timestamp = verify_timestamp(token, root, self.anchors, others)
        except TimestampError as exc:
            self.fail(
                exc.code, f"dấu thời gian của lô: {exc.vi}", f"the batch's time-stamp: {exc.en}"
            )
            return value, None, False
        received = _parse_time(document.get("at"))
        if received is not None and timestamp.time + _CLOCK_TOLERANCE < received:
            self.fail(
                "timestamp.before_entry",
                "dấu thời gian của lô có trước thời điểm nhận thông điệp",
                "the batch's time-stamp is earlier than the message's reception",
            )
            included = False
        return value, timestamp, included

    def sender(
        self,
        body: bytes | None,
        signature: bytes | None,
        signature_format: str | None,
        revocations: list[bytes],
        document: Mapping[str, Any],
    ) -> Verification | None:
        if signature is None or body is None:
            return None
        ocsps, crls = _revocation_data(revocations)
        context = VerifyContext(
            trust_anchors=self.anchors,
            other_certs=self.intermediates,
            ocsps=ocsps,
            crls=crls,
            allow_fetching=False,
            # as the receiver judged it: signed no later than received
            now=_parse_time(document.get("at")),
        )
        return self.signature(
            body, signature, signature_format == "jws", context, "sender", "của người gửi"
        )

    def signature(
        self, data: bytes, signature: bytes, jws: bool, context: VerifyContext, who: str, vi: str
    ) -> Verification:
        """A detached signature over ``data`` checked; a failure named ``<who>.<reason>``."""
        result = (verify_jws if jws else verify_cades)(data, signature, context)
        if not result.valid:
            self.fail(
                f"{who}.{result.reason}",
                f"chữ ký {vi}: {result.vi}",
                f"the {who}'s signature: {result.en}",
            )
        return result

    def receipt(
        self,
        body: bytes | None,
        receipt: bytes | None,
        signature: bytes | None,
    ) -> tuple[Mapping[str, Any] | None, Verification | None]:
        if receipt is None:
            return None, None
        value = self.json("receipt.json")
        if not isinstance(value, dict):
            self.fail("receipt.malformed", "biên nhận không đọc được", "the receipt cannot be read")
            return None, None
        if body is not None and value.get("request_sha256") != _sha256(body):
            self.fail(
                "receipt.request",
                "biên nhận không nói về nội dung này (request_sha256 khác SHA-256 của message.json)",
                "the receipt is not about this body (request_sha256 differs from the SHA-256 of "
                "message.json)",
            )
        if signature is None:
            self.fail("receipt.unsigned", "biên nhận không có chữ ký", "the receipt is not signed")
            return value, None
        jws = _is_jws(signature)
        context = VerifyContext(
            trust_anchors=self.anchors,
            other_certs=self.intermediates,
            allow_fetching=False,
            # hard-fail when the hub stapled its OCSP answer (its self-check), else soft-fail
            revocation_mode=_stapled_mode(signature, jws),
        )
        result = self.signature(receipt, signature, jws, context, "receipt", "biên nhận")
        if result.valid and value.get("hub") != result.fingerprint:
            self.fail(
                "receipt.hub",
                "biên nhận được ký bằng chứng thư khác chứng thư nó ghi (hub)",
                "the receipt is signed with another certificate than the one it names (hub)",
            )
        return value, result


def _is_jws(signature: bytes) -> bool:
    return signature.lstrip().startswith(b"eyJ")


def verify_container(
    source: bytes | Path,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
) -> ContainerReport:
    """Check a container offline against ``anchors``; :class:`ContainerError` when it cannot
    even be read as one (its form: see :func:`lienthong.evidence.container.read_container`)."""
    container = read_container(source)
    findings = _manifest_findings(container)
    # every certificate carried may help build a path (never end one: only anchors do)
    others = (*intermediates, *_carried_certificates(container))
    exporter, exporter_findings = _exporter(container, anchors, others)
    findings += exporter_findings
    messages = tuple(
        _Message(container, folder, anchors, others).check() for folder in container.folders()
    )
    listed = container.export.get("messages")
    if listed != [message.document.get("seq") for message in messages]:
        findings.append(
            Finding(
                "container.messages",
                "export.json liệt kê các thông điệp khác với các thư mục trong gói",
                "export.json lists other messages than the container's folders",
            )
        )
    if not messages:
        findings.append(
            Finding(
                "container.empty", "gói không có thông điệp nào", "the container holds no message"
            )
        )
    return ContainerReport(
        container.export,
        exporter,
        messages,
        tuple(findings),
        exporter_revocation_checked=exporter is not None
        and container.signature is not None
        and _stapled_mode(container.signature, jws=False) == "hard-fail",
    )


# -- the report ---------------------------------------------------------------------------------


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "?"
    return moment.astimezone(_ZONE).strftime("%Y-%m-%d %H:%M:%S (GMT+7)")


def _yes_no(ok: bool) -> tuple[str, str]:
    return ("CÓ", "YES") if ok else ("KHÔNG", "NO")


def _signature_row(result: Verification | None) -> tuple[str, str]:
    if result is None:
        return "không có chữ ký", "not signed"
    subject = result.signer or "?"
    signed = _when(result.signing_time)
    if result.valid:
        return (
            f"HỢP LỆ tại thời điểm ký {signed} ({subject}): {result.vi}",
            f"VALID at the signing time {signed} ({subject}): {result.en}",
        )
    return f"KHÔNG HỢP LỆ: {result.vi}", f"NOT VALID: {result.en}"


def _receipt_row(report: MessageReport) -> tuple[str, str]:
    receipt = report.receipt
    if receipt is None:
        return "không có biên nhận", "no receipt"
    code = receipt.get("error_code")
    records = receipt.get("records")
    count = len(records) if isinstance(records, list) else receipt.get("records_count")
    statuses: dict[str, int] = {}
    for item in records if isinstance(records, list) else ():
        status = str(item.get("status")) if isinstance(item, dict) else "?"
        statuses[status] = statuses.get(status, 0) + 1
    listed = ", ".join(f"{name}: {n}" for name, n in sorted(statuses.items()))
    signed = report.receipt_signature
    signer_vi = "chữ ký hợp lệ" if signed is not None and signed.valid else "chữ ký KHÔNG hợp lệ"
    signer_en = "signature valid" if signed is not None and signed.valid else "signature NOT valid"
    if signed is not None:
        revocation_vi, revocation_en = _revocation_text(report.receipt_revocation_checked)
        signer_vi, signer_en = f"{signer_vi}, {revocation_vi}", f"{signer_en}, {revocation_en}"
    return (
        f"mã {code}, {count} bản ghi ({listed}), nhận lúc {receipt.get('received_at')}; {signer_vi}",
        f"code {code}, {count} records ({listed}), received at {receipt.get('received_at')}; "
        f"{signer_en}",
    )


def _message_rows(report: MessageReport) -> list[tuple[str, str, str, str, str]]:
    document = report.document
    certificate = report.signature.chain[0] if report.signature and report.signature.chain else None
    subject = (
        x509.load_der_x509_certificate(certificate).subject.rfc4514_string() if certificate else "-"
    )
    sender = (
        f"{document.get('origin_unit') or '-'}, {document.get('origin_account') or '-'}, {subject}"
    )
    timestamp = report.timestamp
    batch = (report.inclusion or {}).get("batch") or {}
    included_vi, included_en = _yes_no(report.included)
    where = f"seq {document.get('seq')}, lô/batch {batch.get('first_seq')}–{batch.get('last_seq')}"
    signature_vi, signature_en = _signature_row(report.signature)
    receipt_vi, receipt_en = _receipt_row(report)
    rows = [
        (
            "result",
            "Kết quả",
            "Result",
            *(("HỢP LỆ", "VALID") if report.ok else ("KHÔNG HỢP LỆ", "NOT VALID")),
        ),
        (
            "sender",
            "Người gửi (đơn vị, tài khoản, chứng thư)",
            "Sender (unit, account, certificate)",
            sender,
            sender,
        ),
        (
            "service",
            "Dịch vụ",
            "Service",
            str(document.get("service") or "-"),
            str(document.get("service") or "-"),
        ),
        ("kind", "Loại", "Kind", str(document.get("kind")), str(document.get("kind"))),
        (
            "received_at",
            "Thời điểm nhận",
            "Received at",
            _when(_parse_time(document.get("at"))),
            _when(_parse_time(document.get("at"))),
        ),
        ("signature", "Chữ ký người gửi", "Sender's signature", signature_vi, signature_en),
        (
            "timestamp",
            "Dấu thời gian",
            "Time-stamp",
            f"{_when(timestamp.time)}, TSA {timestamp.tsa}"
            if timestamp
            else "không có / không hợp lệ",
            f"{_when(timestamp.time)}, TSA {timestamp.tsa}" if timestamp else "none / not valid",
        ),
        (
            "included",
            "Có trong sổ",
            "Included in the log",
            f"{included_vi} ({where})",
            f"{included_en} ({where})",
        ),
        ("receipt", "Biên nhận", "Receipt", receipt_vi, receipt_en),
    ]
    return rows


def render_report(report: ContainerReport, languages: tuple[str, ...] = ("vi", "en")) -> str:
    """Plain text: one block per language, Vietnamese first."""
    blocks = []
    for language in languages:
        vi = language == "vi"
        lines = [
            "KẾT QUẢ KIỂM TRA GÓI CHỨNG CỨ" if vi else "EVIDENCE CONTAINER VERIFICATION",
            ("  Kết quả: " if vi else "  Result: ")
            + (
                ("HỢP LỆ" if vi else "VALID")
                if report.ok
                else ("KHÔNG HỢP LỆ" if vi else "NOT VALID")
            ),
        ]
        selection = {k: v for k, v in report.export.items() if k not in ("format", "messages")}
        lines.append(
            ("  Nội dung xuất: " if vi else "  Export: ")
            + ", ".join(f"{k}={v}" for k, v in selection.items())
        )
        exporter = report.exporter
        if exporter is None:
            lines.append(
                "  Bên xuất gói: gói không được ký"
                if vi
                else "  Exporter: the container is not signed"
            )
        else:
            revocation = _revocation_text(report.exporter_revocation_checked)
            state = (
                (
                    ("chữ ký hợp lệ" if vi else "signature valid")
                    if exporter.valid
                    else (exporter.vi if vi else exporter.en)
                )
                + ", "
                + (revocation[0] if vi else revocation[1])
            )
            lines.append(
                ("  Bên xuất gói: " if vi else "  Exporter: ") + f"{exporter.signer} ({state})"
            )
        for message in report.messages:
            lines.append("")
            lines.append(("  Thông điệp " if vi else "  Message ") + message.folder)
            rows = _message_rows(message)
            width = max(len(row[1] if vi else row[2]) for row in rows)
            for _, label_vi, label_en, value_vi, value_en in rows:
                label, value = (label_vi, value_vi) if vi else (label_en, value_en)
                lines.append(f"    {label.ljust(width)}  {value}")
        failures = report.all_failures()
        if failures:
            lines.append("")
            lines.append("  Không đạt:" if vi else "  Failed:")
            lines += [f"    [{f.code}] {f.vi if vi else f.en}" for f in failures]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
