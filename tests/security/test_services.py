"""The test PKI's services over real HTTP: openssl's OCSP client, CRL check and time-stamp
verifier (tools nobody here wrote) take their answers; bad requests get a clear 4xx."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lienthong.security.pki import TestPki
from lienthong.security.services import MAX_REQUEST_BYTES, TSA_POLICY, TimeStampResp


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, errors="replace", timeout=30
    )


def ocsp_request(
    pki: TestPki, name: str, *, nonce: bytes | None = None, issuer: str = "intermediate"
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        pki.entries[name].certificate, pki.entries[issuer].certificate, hashes.SHA256()
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def post_ocsp(url: str, der: bytes) -> ocsp.OCSPResponse:
    answer = httpx.post(
        f"{url}/ocsp", content=der, headers={"Content-Type": "application/ocsp-request"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(answer.content)


# -- OCSP ---------------------------------------------------------------------------------------


def openssl_ocsp(openssl: str, pki: TestPki, url: str, certificate: Path) -> str:
    checked = run(
        openssl,
        "ocsp",
        "-issuer",
        pki.intermediate.certificate_path,
        "-cert",
        certificate,
        "-url",
        f"{url}/ocsp",
        "-CAfile",
        pki.chain_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Response verify OK" in checked.stderr + checked.stdout
    assert "WARNING" not in checked.stderr  # openssl sends a nonce and checks the echo
    return checked.stdout


def test_openssl_ocsp_says_good_for_every_agency(
    openssl: str, test_pki: TestPki, pki_services: str
) -> None:
    for entry in test_pki.agencies.values():  # RSA and ECDSA agencies
        said = openssl_ocsp(openssl, test_pki, pki_services, entry.certificate_path)
        assert f"{entry.certificate_path}: good" in said


def test_openssl_ocsp_says_revoked_with_time_and_reason(
    openssl: str, test_pki: TestPki, pki_services: str
) -> None:
    said = openssl_ocsp(openssl, test_pki, pki_services, test_pki.revoked.certificate_path)
    assert f"{test_pki.revoked.certificate_path}: revoked" in said
    assert "Reason: keyCompromise" in said
    assert test_pki.revoked.revoked_at is not None
    assert f"Revocation Time: {test_pki.revoked.revoked_at:%b %e %H:%M:%S %Y} GMT" in said


def test_ocsp_answers_signed_by_the_responder_and_the_root(
    test_pki: TestPki, pki_services: str
) -> None:
    agency = next(iter(test_pki.agencies))
    answer = post_ocsp(pki_services, ocsp_request(test_pki, f"agency-{agency}", nonce=b"n" * 16))
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert answer.certificates == [test_pki.ocsp.certificate]
    assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16
    responder_key = test_pki.ocsp.certificate.public_key()
    responder_key.verify(  # type: ignore[union-attr, call-arg]
        answer.signature,
        answer.tbs_response_bytes,
        *_padding_of(answer),
    )
    assert answer.next_update_utc is not None and answer.this_update_utc < answer.next_update_utc

    # the intermediate's own status comes from the root, no nonce asked: none echoed
    about_ca = post_ocsp(pki_services, ocsp_request(test_pki, "intermediate", issuer="root"))
    assert about_ca.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert about_ca.certificates == []
    assert (
        about_ca.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(
            test_pki.root.certificate.public_key()  # type: ignore[arg-type]
        ).digest
    )
    with pytest.raises(x509.ExtensionNotFound):
        about_ca.extensions.get_extension_for_class(x509.OCSPNonce)


def _padding_of(answer: ocsp.OCSPResponse) -> tuple[object, ...]:
    from cryptography.hazmat.primitives.asymmetric import padding

    assert answer.signature_hash_algorithm is not None
    return (padding.PKCS1v15(), answer.signature_hash_algorithm)


def test_ocsp_by_get_and_the_unknown_and_unauthorized(test_pki: TestPki, pki_services: str) -> None:
    der = ocsp_request(test_pki, "revoked")
    answer = httpx.get(f"{pki_services}/ocsp/{quote(base64.b64encode(der).decode(), safe='')}")
    assert answer.status_code == 200
    revoked = ocsp.load_der_ocsp_response(answer.content)
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_time_utc == test_pki.revoked.revoked_at
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise

    intermediate = test_pki.intermediate.certificate
    unknown_serial = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            hashlib.sha1(intermediate.subject.public_bytes()).digest(),
            _key_hash(intermediate),
            424242,
            hashes.SHA1(),
        )
        .build()
    )
    unknown = post_ocsp(pki_services, unknown_serial.public_bytes(serialization.Encoding.DER))
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert unknown.serial_number == 424242

    # a certificate of another CA: this responder is not authoritative for it
    other_ca = ocsp_request(test_pki, "hub", issuer="tsa")
    assert post_ocsp(pki_services, other_ca).response_status is (
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    )


def _key_hash(certificate: x509.Certificate) -> bytes:
    from asn1crypto import x509 as asn1_x509

    der = certificate.public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der).public_key.sha1


# -- CRLs ---------------------------------------------------------------------------------------


def test_openssl_crl_check_with_the_served_crl(
    openssl: str, test_pki: TestPki, pki_services: str, tmp_path: Path
) -> None:
    served = httpx.get(f"{pki_services}/crl/intermediate.crl")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(served.content)
    assert crl.next_update_utc is not None and crl.last_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=7)
    pem = tmp_path / "intermediate.crl.pem"
    pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    def check(certificate: Path) -> subprocess.CompletedProcess[str]:
        return run(
            openssl,
            "verify",
            "-crl_check",
            "-CAfile",
            test_pki.chain_path,
            "-CRLfile",
            pem,
            certificate,
        )

    assert check(test_pki.agency(next(iter(test_pki.agencies))).certificate_path).returncode == 0
    refused = check(test_pki.revoked.certificate_path)
    assert refused.returncode != 0
    assert "certificate revoked" in refused.stdout + refused.stderr


def test_the_root_crl_and_the_ca_certificates_are_served(
    test_pki: TestPki, pki_services: str
) -> None:
    root_crl = x509.load_der_x509_crl(httpx.get(f"{pki_services}/crl/root.crl").content)
    assert root_crl.issuer == test_pki.root.certificate.subject and len(root_crl) == 0
    assert root_crl.is_signature_valid(test_pki.root.certificate.public_key())  # type: ignore[arg-type]
    for name in ("root", "intermediate"):
        answer = httpx.get(f"{pki_services}/certs/{name}.cer")
        assert answer.headers["content-type"] == "application/pkix-cert"
        assert answer.content == test_pki.entries[name].der
    for path in ("/crl/hub.crl", "/certs/hub.cer"):
        missing = httpx.get(pki_services + path)
        assert missing.status_code == 404 and missing.json()["error_code"] == "pki.not_found"


# -- time stamps --------------------------------------------------------------------------------


def timestamp(openssl: str, url: str, data: Path, *extra: str) -> tuple[int, Path]:
    query = data.with_suffix(".tsq")
    made = run(openssl, "ts", "-query", "-data", data, "-out", query, *extra)
    assert made.returncode == 0, made.stderr
    answer = httpx.post(
        f"{url}/tsa",
        content=query.read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
    )
    assert answer.headers["content-type"] == "application/timestamp-reply"
    reply = data.with_suffix(".tsr")
    reply.write_bytes(answer.content)
    return answer.status_code, reply


def test_openssl_verifies_the_time_stamp(
    openssl: str, test_pki: TestPki, pki_services: str, tmp_path: Path
) -> None:
    data = tmp_path / "envelope.json"
    data.write_bytes(b'{"service": "DongBoHoSoMC", "data": []}')
    status, reply = timestamp(openssl, pki_services, data, "-sha256", "-cert")
    assert status == 200

    def verify(content: Path) -> subprocess.CompletedProcess[str]:
        return run(
            openssl,
            "ts",
            "-verify",
            "-data",
            content,
            "-in",
            reply,
            "-CAfile",
            test_pki.root.certificate_path,
            "-untrusted",
            test_pki.tsa.certificate_path,
        )

    verified = verify(data)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verification: OK" in verified.stdout
    other = tmp_path / "other.json"
    other.write_bytes(b'{"service": "DongBoHoSoMC", "data": [1]}')
    assert verify(other).returncode != 0

    token = tsp.TimeStampResp.load(reply.read_bytes())
    info = token["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["policy"].native == TSA_POLICY
    assert info["nonce"].native is not None  # openssl asks with a nonce: echoed
    assert abs(info["gen_time"].native - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_the_tsa_refuses_sha1_and_a_wrong_policy(
    openssl: str, pki_services: str, tmp_path: Path
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x")
    for extra, failure in (
        (("-sha1",), "bad_alg"),
        (("-sha256", "-tspolicy", "1.2.3.4"), "unaccepted_policy"),
    ):
        status, reply = timestamp(openssl, pki_services, data, *extra)
        assert status == 400
        answer = TimeStampResp.load(reply.read_bytes())
        assert answer["status"]["status"].native == "rejection"
        assert answer["status"]["fail_info"].native == {failure}
        assert answer["time_stamp_token"].native is None
        shown = run(openssl, "ts", "-reply", "-in", reply, "-text")
        assert "Status: Rejected" in shown.stdout, shown.stdout + shown.stderr


# -- bad requests: a clear 4xx, never 500 ------------------------------------------------------

SERVICES = [("/ocsp", "application/ocsp-request"), ("/tsa", "application/timestamp-query")]


@pytest.mark.parametrize(("path", "content_type"), SERVICES)
def test_garbage_is_a_protocol_error_with_400(
    pki_services: str, path: str, content_type: str
) -> None:
    for garbage in (b"", b"garbage", b"\x30\x82\xff\xff" + b"\x00" * 40, b"\x30\x03\x02\x01\x01"):
        answer = httpx.post(
            pki_services + path, content=garbage, headers={"Content-Type": content_type}
        )
        assert answer.status_code == 400, (garbage, answer.status_code)
        if path == "/ocsp":
            refused = ocsp.load_der_ocsp_response(answer.content)
            assert refused.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        else:
            status = TimeStampResp.load(answer.content)["status"]
            assert status["status"].native == "rejection"
            assert status["fail_info"].native == {"bad_data_format"}
            assert any("TimeStampReq" in text for text in status["status_string"].native)


@pytest.mark.parametrize(("path", "content_type"), SERVICES)
def test_a_huge_body_is_413_and_a_wrong_type_415(
    pki_services: str, path: str, content_type: str
) -> None:
    huge = httpx.post(
        pki_services + path,
        content=b"\x30" * (MAX_REQUEST_BYTES + 1),
        headers={"Content-Type": content_type},
    )
    assert huge.status_code == 413
    assert huge.json()["error_code"] == "pki.too_large"

    def chunks() -> object:
        yield b"\x30" * MAX_REQUEST_BYTES
        yield b"\x30"

    undeclared = httpx.post(  # no Content-Length: refused once it crosses the bound
        pki_services + path,
        content=chunks(),
        headers={"Content-Type": content_type},  # type: ignore[arg-type]
    )
    assert undeclared.status_code == 413

    for wrong in ("application/json", "", "text/plain"):
        answer = httpx.post(pki_services + path, content=b"x", headers={"Content-Type": wrong})
        assert answer.status_code == 415
        body = answer.json()
        assert body["error_code"] == "pki.content_type"
        assert content_type in body["message"] and content_type in body["message_en"]
        assert body["retryable"] is False


def test_bad_ocsp_gets(pki_services: str) -> None:
    for encoded in ("not*base64", "Zm9v", "%00%01"):
        answer = httpx.get(f"{pki_services}/ocsp/{encoded}")
        assert answer.status_code == 400, encoded
        assert (
            ocsp.load_der_ocsp_response(answer.content).response_status
            is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        )
    assert httpx.get(f"{pki_services}/ocsp/{'A' * (MAX_REQUEST_BYTES + 4)}").status_code == 414
    assert httpx.get(f"{pki_services}/tsa").status_code == 405


# -- pyhanko-certvalidator, the path validator the verifier builds on -------------------------


@pytest.mark.parametrize("rule", ["ocsp", "crl"])
def test_pyhanko_certvalidator_fetches_the_status_from_the_services(
    test_pki: TestPki, pki_services: str, rule: str
) -> None:
    """Hard-fail revocation checking by OCSP, or by CRL only, through the URLs in the
    certificates: the intermediate's status (answered by the root) included."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import RevokedError
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )

    required = (
        RevocationCheckingRule.OCSP_REQUIRED
        if rule == "ocsp"
        else RevocationCheckingRule.CRL_REQUIRED
    )

    def validate(name: str) -> None:
        context = ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(test_pki.root.der)],
            allow_fetching=True,
            fetcher_backend=RequestsFetcherBackend(),
            revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(required, required)),
        )
        validator = CertificateValidator(
            asn1_x509.Certificate.load(test_pki.entries[name].der),
            intermediate_certs=[asn1_x509.Certificate.load(test_pki.intermediate.der)],
            validation_context=context,
        )
        asyncio.run(validator.async_validate_usage({"digital_signature"}))

    for entry in test_pki.agencies.values():
        validate(entry.name)
    with pytest.raises(RevokedError, match="compromised key"):
        validate("revoked")
