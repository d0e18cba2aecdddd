"""Offline verification of evidence containers: real signatures, OCSP answers, receipts and a
real TSA token, checked while the PKI's services are stopped (their URLs in the certificates
lead nowhere), by lienthong and by openssl; every part changed by one byte fails by name."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import zipfile
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lienthong.evidence.container import ASIC_MANIFEST, SIGNATURE, build_container
from lienthong.evidence.offline import render_report, verify_container
from lienthong.security.cades import sign_cades
from lienthong.security.pki import PkiEntry, build_crl
from lienthong.security.services import PkiServices
from tests.evidence.proofs import ACCOUNT, DOSSIER, Evidence, anchors, signer_of
from tests.security.interop import openssl_print


def _members(container: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(container)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rewritten(container: bytes, name: str, change: bytes | None = None) -> bytes:
    """The container with member ``name`` changed (one byte flipped when ``change`` is None,
    else the bytes replaced), the manifests left as they were."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for member, data in _members(container).items():
            if member == name:
                if change is None:
                    flipped = bytearray(data)
                    flipped[len(flipped) * 2 // 3] ^= 0x01
                    data = bytes(flipped)
                else:
                    data = change
            kind = zipfile.ZIP_STORED if member == "mimetype" else zipfile.ZIP_DEFLATED
            out.writestr(zipfile.ZipInfo(member), data, compress_type=kind)
    return buffer.getvalue()


def _codes(container: bytes, evidence: Evidence) -> set[str]:
    report = verify_container(container, anchors(evidence))
    assert not report.ok
    return {finding.code for finding in report.all_failures()}


def test_a_container_verifies_offline_and_openssl_agrees_on_its_parts(
    evidence: Evidence, openssl: str, tmp_path: Path
) -> None:
    container = build_container(
        evidence.proofs, export={"dossier": DOSSIER}, signer=evidence.exporter
    )
    # the PKI's services are stopped: the OCSP, CRL and TSA URLs in its certificates lead nowhere
    with pytest.raises(httpx.TransportError):
        httpx.get(evidence.pki.ocsp_url, timeout=2)
    report = verify_container(container, anchors(evidence))
    assert report.ok, report.all_failures()
    assert report.exporter is not None and report.exporter.valid
    assert not report.exporter_revocation_checked  # nothing stapled: soft-fail, and said
    cades, jws, unsigned = report.messages
    assert cades.signature is not None and cades.signature.valid
    assert cades.signature.unit == "000.00.00.H56" and cades.signature.format == "cades"
    # the stapled OCSP answer and the intermediate's revocation data came from the container
    assert cades.signature.revocation and jws.signature is not None and jws.signature.valid
    assert unsigned.signature is None and all(m.included for m in report.messages)
    assert cades.timestamp is not None and "TSA" in cades.timestamp.tsa
    assert cades.receipt is not None and cades.receipt["error_code"] == 0
    assert cades.receipt_signature is not None and cades.receipt_signature.valid
    text = render_report(report)
    assert "KẾT QUẢ KIỂM TRA GÓI CHỨNG CỨ" in text and "EVIDENCE CONTAINER VERIFICATION" in text
    assert f"000.00.00.H56, {ACCOUNT}, CN=" in text and "Included in the log" in text
    as_json = orjson.loads(orjson.dumps(report.as_dict()))
    assert as_json["ok"] is True and as_json["export"]["dossier"] == DOSSIER
    assert [m["entry"]["seq"] for m in as_json["messages"]] == [1, 2, 3]

    # another anchor: nothing is trusted, the time-stamp and the signatures say so
    stranger = verify_container(container, [evidence.pki.hub.certificate])
    codes = {finding.code for finding in stranger.all_failures()}
    assert "timestamp.invalid" in codes and "sender.certificate.untrusted" in codes

    # the independent verifier, on the extracted parts
    with zipfile.ZipFile(io.BytesIO(container)) as archive:
        archive.extractall(tmp_path / "x")
    folder = tmp_path / "x" / "messages" / "1"

    def cms(content: Path, signature: Path) -> None:
        done = subprocess.run(
            [
                openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
                "-content", str(content), "-CAfile", str(evidence.root_pem), "-purpose", "any",
                "-out", str(tmp_path / "out"),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and "Verification successful" in done.stderr, done.stderr

    cms(folder / "message.json", folder / "message.json.p7s")
    cms(folder / "receipt.json", folder / "receipt.json.p7s")
    cms(tmp_path / "x" / ASIC_MANIFEST, tmp_path / "x" / SIGNATURE)
    done = subprocess.run(
        [
            openssl, "ts", "-verify", "-data", str(folder / "root.bin"),
            "-in", str(folder / "timestamp.tsr"), "-CAfile", str(evidence.root_pem),
            "-untrusted", str(evidence.tsa_pem),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr


#: (member, replacement or None for a flipped byte, the failure that names it)
TAMPERING = [
    ("messages/1/message.json", None, "message.digest"),
    ("messages/1/message.json.p7s", None, "signature.digest"),
    ("messages/1/receipt.json", "error_code", "receipt.digest"),
    ("messages/1/entry.json", "kind", "inclusion.root"),
    ("messages/1/inclusion.json", "path", "inclusion.root"),
    ("messages/1/root.bin", None, "inclusion.root_file"),
    ("messages/1/timestamp.tsr", None, "timestamp."),
    ("certificates", None, "certificate.digest"),
]


def _replacement(data: bytes, what: str) -> bytes:
    if what == "error_code":
        return data.replace(b'"error_code":0', b'"error_code":1')
    if what == "kind":
        return data.replace(b'"kind":"push"', b'"kind":"pusH"')
    value = orjson.loads(data)
    first = value["path"][0]
    value["path"][0] = ("1" if first[0] == "0" else "0") + first[1:]
    return orjson.dumps(value)


def test_one_changed_byte_in_any_part_fails_with_its_reason(evidence: Evidence) -> None:
    container = build_container(evidence.proofs, signer=evidence.exporter)
    members = _members(container)
    for name, replacement, expected in TAMPERING:
        if name == "certificates":
            name = next(m for m in members if m.startswith("certificates/"))
        change = _replacement(members[name], replacement) if replacement else None
        assert change != members[name]
        codes = _codes(_rewritten(container, name, change), evidence)
        # the manifest names the changed file, and the proof itself names what it breaks
        assert "manifest.digest" in codes, (name, codes)
        assert any(code.startswith(expected) for code in codes), (name, codes)
    # the exporter's manifest changed: its signature no longer holds
    manifest = members[ASIC_MANIFEST].replace(
        b'MimeType="application/json"', b'MimeType="text/plain"', 1
    )
    codes = _codes(_rewritten(container, ASIC_MANIFEST, manifest), evidence)
    assert any(code.startswith("exporter.") for code in codes), codes

    # a message left out: the manifest and export.json still name it
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for member, data in members.items():
            if not member.startswith("messages/3/"):
                out.writestr(member, data)
    codes = _codes(buffer.getvalue(), evidence)
    assert {"manifest.missing", "container.messages"} <= codes, codes

    # someone rebuilds the container around a changed body: the manifest agrees, the proof not
    first = evidence.proofs[0]
    changed = dataclasses.replace(first, body=first.body.replace(b"0001", b"0002"))
    codes = _codes(build_container([changed, *evidence.proofs[1:]]), evidence)
    assert "message.digest" in codes and "receipt.request" in codes
    assert not any(code.startswith("manifest.") for code in codes)


def test_an_entry_not_time_stamped_yet_is_not_proven_included(evidence: Evidence) -> None:
    unstamped = dataclasses.replace(evidence.proofs[2], inclusion=None)
    report = verify_container(build_container([unstamped]), anchors(evidence))
    assert not report.ok and report.exporter is None
    (message,) = report.messages
    assert [f.code for f in message.failures] == ["inclusion.unstamped"]
    assert "KHÔNG" in render_report(report) and "not signed" in render_report(report)


def _ocsp_in_process(evidence: Evidence, entry: PkiEntry) -> bytes:
    """The PKI's OCSP answer about ``entry``, asked in process (its services are stopped)."""
    pki = evidence.pki
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(entry.certificate, pki.issuer_of(entry).certificate, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    status, answer = PkiServices(pki).ocsp_answer(request)
    assert status == 200
    return answer


def test_stapled_receipts_and_exporter_are_checked_hard_fail_offline(
    evidence: Evidence, tmp_path: Path
) -> None:
    stapled = evidence.exporter_stapled
    assert stapled.ocsp_response is not None and stapled.chain  # the leaf's and the CA's
    container = build_container(
        evidence.proofs,
        export={"dossier": DOSSIER},
        signer=evidence.exporter,
        ocsp_response=stapled.ocsp_response,
        revocation=stapled.chain,
    )
    with pytest.raises(httpx.TransportError):
        httpx.get(evidence.pki.ocsp_url, timeout=2)
    report = verify_container(container, anchors(evidence))
    assert report.ok, report.all_failures()
    assert report.exporter is not None and report.exporter_revocation_checked
    assert ("ocsp", "stapled") in {(r.kind, r.origin) for r in report.exporter.revocation}
    first, second, third = report.messages
    # the hub checked its key and stapled its answers to the first two receipts, not the third
    assert first.receipt_revocation_checked and second.receipt_revocation_checked
    assert not third.receipt_revocation_checked
    assert first.receipt_signature is not None and first.receipt_signature.valid
    assert {r.origin for r in first.receipt_signature.revocation} == {"stapled"}
    assert third.receipt_signature is not None and third.receipt_signature.valid
    as_json = report.as_dict()
    assert as_json["exporter_revocation"] == "checked_offline"
    assert [m["receipt_revocation"] for m in as_json["messages"]] == [
        "checked_offline",
        "checked_offline",
        "not_checked_offline",
    ]
    text = render_report(report)
    assert "revocation checked offline (stapled OCSP)" in text
    assert "revocation not checked offline" in text and "chưa kiểm tra thu hồi" in text
    # openssl sees the hub's OCSP answer inside the receipt's CMS (RFC 5940)
    printed = openssl_print(evidence.proofs[0].receipt_signature or b"", tmp_path / "print")
    assert "ocsp" in printed.lower() and "otherRevInfo" in printed, printed

    # a receipt signed with a key revoked at the time: its stapled answer says so, offline
    revoked = signer_of(evidence.pki, evidence.pki.revoked)
    receipt = evidence.proofs[0].receipt or b""
    answer = _ocsp_in_process(evidence, evidence.pki.revoked)
    crl = build_crl(evidence.pki, "root")  # the intermediate's status, from the root
    for staple in (True, False):
        signature = sign_cades(
            receipt,
            revoked,
            ocsp_response=answer if staple else None,
            revocation=[crl] if staple else [],
        )
        forged = dataclasses.replace(evidence.proofs[0], receipt_signature=signature)
        codes = _codes(build_container([forged, *evidence.proofs[1:]]), evidence)
        # soft-fail (nothing stapled) cannot tell: the gap the hub's staple closes
        assert ("receipt.certificate.revoked" in codes) is staple, codes
