"""The test PKI: what each certificate is, checked with cryptography and with openssl (a tool
nobody here wrote) as the independent verifier; the index read back; refusals."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lienthong.security.certificates import (
    CertificateProblem,
    fingerprint,
    key_description,
    load_certificate,
    load_certificates,
    load_pkcs12,
    load_private_key,
    unit_of,
)
from lienthong.security.pki import (
    DEMO_UNITS,
    PkiProblem,
    Role,
    TestPki,
    create_test_pki,
    load_test_pki,
)
from lienthong.security.policy import AlgorithmPolicy, AlgorithmProblem


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, errors="replace", timeout=30
    )


def verify(openssl: str, pki: TestPki, certificate: Path) -> subprocess.CompletedProcess[str]:
    return run(
        openssl,
        "verify",
        "-CAfile",
        pki.root.certificate_path,
        "-untrusted",
        pki.intermediate.certificate_path,
        certificate,
    )


# -- openssl, the independent verifier ----------------------------------------------------------


@pytest.mark.parametrize("name", ["agencies", "hub", "ocsp", "tsa", "tls"])
def test_openssl_builds_the_path_to_the_root(openssl: str, test_pki: TestPki, name: str) -> None:
    entries = list(test_pki.agencies.values()) if name == "agencies" else [test_pki.entries[name]]
    for entry in entries:
        checked = verify(openssl, test_pki, entry.certificate_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.strip().endswith(": OK")


def test_openssl_refuses_the_expired_certificate(openssl: str, test_pki: TestPki) -> None:
    checked = verify(openssl, test_pki, test_pki.expired.certificate_path)
    assert checked.returncode != 0
    assert "certificate has expired" in checked.stdout + checked.stderr


def test_the_index_fingerprint_is_the_one_openssl_computes(openssl: str, test_pki: TestPki) -> None:
    shown = run(
        openssl, "x509", "-in", test_pki.root.certificate_path, "-noout", "-fingerprint", "-sha256"
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split("=", 1)[1].strip().replace(":", "").lower() == fingerprint(
        test_pki.root.certificate
    )


def test_the_crl_written_at_init_lists_the_revoked_certificate(
    openssl: str, test_pki: TestPki
) -> None:
    crl = x509.load_der_x509_crl(test_pki.crl_path("intermediate").read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(test_pki.revoked.certificate.serial_number)
    assert entry is not None and entry.revocation_date_utc == test_pki.revoked.revoked_at
    assert crl.is_signature_valid(test_pki.intermediate.certificate.public_key())  # type: ignore[arg-type]
    shown = run(
        openssl,
        "crl",
        "-inform",
        "DER",
        "-in",
        test_pki.crl_path("intermediate"),
        "-noout",
        "-text",
    )
    assert "Key Compromise" in shown.stdout


# -- what each certificate is -------------------------------------------------------------------


def test_the_negative_certificates_really_are_what_they_say(test_pki: TestPki) -> None:
    weak = test_pki.rsa_1024.certificate.public_key()
    assert isinstance(weak, rsa.RSAPublicKey) and weak.key_size == 1024
    with pytest.raises(AlgorithmProblem):
        AlgorithmPolicy().check_key(*key_description(test_pki.rsa_1024.certificate))

    sha1 = test_pki.sha1.certificate
    assert isinstance(sha1.signature_hash_algorithm, hashes.SHA1)
    assert sha1.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA1
    issuer_key = test_pki.intermediate.certificate.public_key()
    assert isinstance(issuer_key, rsa.RSAPublicKey)
    # a real SHA-1 signature by the intermediate, not a relabelled one
    issuer_key.verify(sha1.signature, sha1.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(InvalidSignature):
        issuer_key.verify(
            sha1.signature, sha1.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256()
        )

    now = dt.datetime.now(dt.UTC)
    assert test_pki.expired.certificate.not_valid_after_utc < now
    assert test_pki.revoked.revoked_at is not None
    assert test_pki.revoked.certificate.not_valid_before_utc < test_pki.revoked.revoked_at < now


def test_agencies_have_rsa_and_ecdsa_keys_the_policy_accepts(test_pki: TestPki) -> None:
    assert set(test_pki.agencies) == set(DEMO_UNITS)
    kinds = {key_description(e.certificate) for e in test_pki.agencies.values()}
    assert kinds == {("rsa", 2048), ("ec", 256)}
    for entry in test_pki.agencies.values():
        AlgorithmPolicy().check_key(*key_description(entry.certificate))
        key = entry.private_key()
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        assert key.public_key() == entry.certificate.public_key()


def test_the_unit_code_is_the_subjects_organizational_unit(test_pki: TestPki) -> None:
    for unit, entry in test_pki.agencies.items():
        assert unit_of(entry.certificate) == unit
        ou = entry.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert [a.value for a in ou] == [unit]
    assert unit_of(test_pki.hub.certificate) == "000.00.00.G22"
    for role in (Role.REVOKED, Role.EXPIRED, Role.RSA_1024, Role.SHA1):
        assert unit_of(test_pki.entries[role.value].certificate) == DEMO_UNITS[0]
    for entry in (test_pki.root, test_pki.intermediate, test_pki.ocsp, test_pki.tsa):
        assert unit_of(entry.certificate) is None


def test_every_name_says_it_is_a_simulation(test_pki: TestPki) -> None:
    for entry in test_pki.entries.values():
        organization = entry.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        assert organization and str(organization[0].value).endswith("(giả lập)"), entry.name
    root = test_pki.root.certificate
    assert root.subject == root.issuer
    assert "Ban Cơ yếu Chính phủ (giả lập)" in root.subject.rfc4514_string()


def test_every_issued_certificate_names_the_services(test_pki: TestPki) -> None:
    base = test_pki.base_url
    for entry in test_pki.entries.values():
        if entry.role is Role.ROOT:
            continue
        extensions = entry.certificate.extensions
        access = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        urls = {(d.access_method, d.access_location.value) for d in access}
        assert (x509.AuthorityInformationAccessOID.OCSP, f"{base}/ocsp") in urls
        assert (
            x509.AuthorityInformationAccessOID.CA_ISSUERS,
            f"{base}/certs/{entry.issuer}.cer",
        ) in urls
        points = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [p.full_name[0].value for p in points if p.full_name] == [
            f"{base}/crl/{entry.issuer}.crl"
        ]


def test_the_services_certificates_carry_their_purposes(test_pki: TestPki) -> None:
    tsa = test_pki.tsa.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa.critical and list(tsa.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    responder = test_pki.ocsp.certificate.extensions
    assert list(responder.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING
    ]
    responder.get_extension_for_class(x509.OCSPNoCheck)
    tls = test_pki.tls.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert tls.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in tls.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for ca in (test_pki.root, test_pki.intermediate):
        assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


# -- the index, read back -----------------------------------------------------------------------


def test_load_reads_back_what_create_wrote(test_pki: TestPki) -> None:
    loaded = load_test_pki(test_pki.directory)
    assert loaded.base_url == test_pki.base_url
    assert {n: fingerprint(e.certificate) for n, e in loaded.entries.items()} == {
        n: fingerprint(e.certificate) for n, e in test_pki.entries.items()
    }
    assert loaded.revoked.revoked_at == test_pki.revoked.revoked_at
    assert loaded.chain_of(loaded.agency(DEMO_UNITS[0])) == (loaded.intermediate.certificate,)
    assert [c.subject for c in load_certificates(loaded.chain_path)] == [
        loaded.intermediate.certificate.subject,
        loaded.root.certificate.subject,
    ]


def test_each_agency_has_a_pkcs12_with_its_password(test_pki: TestPki) -> None:
    for entry in test_pki.agencies.values():
        assert entry.pkcs12_path is not None and entry.pkcs12_password
        bundle = load_pkcs12(entry.pkcs12_path, entry.pkcs12_password)
        assert bundle.certificate == entry.certificate
        assert bundle.chain == (test_pki.intermediate.certificate, test_pki.root.certificate)
        with pytest.raises(CertificateProblem, match="wrong password"):
            load_pkcs12(entry.pkcs12_path, "not-the-password")


def test_key_files_are_readable_by_their_owner_only(test_pki: TestPki) -> None:
    for entry in test_pki.entries.values():
        assert stat.S_IMODE(entry.key_path.stat().st_mode) == 0o600, entry.name


def test_certificates_load_from_pem_and_der(test_pki: TestPki, tmp_path: Path) -> None:
    certificate = test_pki.hub.certificate
    der = tmp_path / "hub.cer"
    der.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    assert load_certificate(der) == load_certificate(test_pki.hub.certificate_path) == certificate
    assert load_private_key(test_pki.hub.key_path).public_key() == certificate.public_key()
    for garbage in (b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nxx\n"):
        with pytest.raises(CertificateProblem, match=r"not an X\.509 certificate"):
            load_certificate(garbage)
    with pytest.raises(CertificateProblem, match="cannot read"):
        load_certificate(tmp_path / "missing.pem")
    with pytest.raises(CertificateProblem, match="larger than"):
        load_certificate(b"0" * (1024 * 1024 + 1))


# -- refusals -----------------------------------------------------------------------------------


def test_a_directory_with_a_pki_is_not_overwritten(test_pki: TestPki) -> None:
    before = (test_pki.directory / "pki.json").read_bytes()
    with pytest.raises(PkiProblem, match="already holds a test PKI"):
        create_test_pki(test_pki.directory)
    assert (test_pki.directory / "pki.json").read_bytes() == before


@pytest.mark.parametrize(
    ("units", "base_url", "message"),
    [
        (["thanh-hoa"], "http://127.0.0.1:8180", "invalid unit code 'thanh-hoa'"),
        ([], "http://127.0.0.1:8180", "at least one unit"),
        (DEMO_UNITS, "ftp://127.0.0.1", "invalid base URL"),
        (DEMO_UNITS, "127.0.0.1:8180", "invalid base URL"),
    ],
)
def test_bad_units_and_urls_are_refused_before_anything_is_written(
    tmp_path: Path, units: list[str], base_url: str, message: str
) -> None:
    with pytest.raises(PkiProblem, match=message) as refused:
        create_test_pki(tmp_path / "pki", units, base_url=base_url)
    assert refused.value.vi and refused.value.en
    assert not (tmp_path / "pki").exists()


def test_loading_where_there_is_no_pki_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(PkiProblem, match="lienthong pki init"):
        load_test_pki(tmp_path)
    (tmp_path / "pki.json").write_text('{"format": "something else"}')
    with pytest.raises(PkiProblem, match="not a test PKI index"):
        load_test_pki(tmp_path)
    (tmp_path / "pki.json").write_text("{not json")
    with pytest.raises(PkiProblem, match="cannot read"):
        load_test_pki(tmp_path)
