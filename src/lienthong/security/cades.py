"""CAdES-B-B detached signatures (ETSI EN 319 122-1) over the exact bytes of a body.

A CMS SignedData (RFC 5652) without encapsulated content: the receiver keeps the body as it came
(Law on E-transactions 20/2023/QH15, Art. 13) and checks the signature against those bytes.
Signed attributes: content-type (id-data), signing-time, message-digest and
signing-certificate-v2 (ESSCertIDv2 with SHA-256, RFC 5035), which binds the certificate to the
signature so that another certificate of the same key cannot be substituted. Certificates: the
signer's and its chain. Optionally the signer's current OCSP response is stapled in ``crls`` as an
``other`` RevocationInfoChoice of format id-ri-ocsp-response (RFC 5940), so the receiver need not
ask the CA for every message, with the answers about the CAs of its chain (OCSP the same way,
CRLs as ``crl`` choices): then a verifier holding only the signature can check it hard-fail,
offline (:func:`staples_ocsp` tells whether a signature does).

Built with asn1crypto's structures and a :class:`~lienthong.security.signers.Signer`'s signature
(written here rather than through pyHanko's builder: no PDF-oriented defaults, no async, and the
stapled OCSP response needs SignedData v5, which that builder does not make).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from asn1crypto import algos, cms, core, ocsp, tsp  # type: ignore[import-untyped]
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from lienthong.security.signers import Signer, SignerError, hash_algorithm

__all__ = ["sign_cades", "signature_algorithm", "staples_ocsp"]


def sign_cades(
    body: bytes,
    signer: Signer,
    *,
    signing_time: dt.datetime | None = None,
    ocsp_response: bytes | None = None,
    revocation: Sequence[bytes] = (),
) -> bytes:
    """The DER CAdES-B-B detached signature of ``body`` by ``signer``.

    ``signing_time`` (aware; default now) is kept to the second, as CMS encodes it.
    ``ocsp_response``: a DER OCSP response about the signer's certificate, stapled (RFC 5940).
    ``revocation``: DER OCSP responses and CRLs about the CAs of its chain, stapled with it so
    that a verifier holding only the signature can check the whole path (offline, hard-fail).
    """
    moment = _signing_moment(signing_time)
    leaf = _asn1_certificate(signer.certificate)
    hasher = hashes.Hash(hash_algorithm(signer.digest))
    hasher.update(body)
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [_time(moment)]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hasher.finalize()]}),
            cms.CMSAttribute(
                {"type": "signing_certificate_v2", "values": [_signing_certificate_v2(leaf)]}
            ),
        ]
    )
    # The signature covers the attributes' DER with the SET OF tag (RFC 5652, 5.4).
    signature = signer.sign(signed_attrs.dump())
    digest_algorithm = algos.DigestAlgorithm({"algorithm": signer.digest})
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": leaf.issuer, "serial_number": leaf.serial_number}
                    )
                }
            ),
            "digest_algorithm": digest_algorithm,
            "signed_attrs": signed_attrs,
            "signature_algorithm": signature_algorithm(signer.scheme, signer.digest),
            "signature": signature,
        }
    )
    certificates = [leaf, *(_asn1_certificate(c) for c in signer.chain)]
    signed_data: dict[str, object] = {
        "version": "v1",
        "digest_algorithms": [digest_algorithm],
        "encap_content_info": {"content_type": "data"},
        "certificates": [cms.CertificateChoices(name="certificate", value=c) for c in certificates],
        "signer_infos": [signer_info],
    }
    choices = [] if ocsp_response is None else [_ocsp_choice(_stapled(ocsp_response, leaf))]
    choices += [_revocation_choice(der) for der in revocation]
    if choices:
        # RFC 5652, 5.1: an "other" revocation choice makes SignedData version 5.
        signed_data["version"] = "v5" if any(c.name == "other" for c in choices) else "v1"
        signed_data["crls"] = choices
    content_info = cms.ContentInfo(
        {"content_type": "signed_data", "content": cms.SignedData(signed_data)}
    )
    return bytes(content_info.dump())


def signature_algorithm(scheme: str, digest: str) -> algos.SignedDigestAlgorithm:
    """The SignerInfo's signatureAlgorithm for a scheme and digest: RSASSA-PSS with its
    parameters (MGF1 on the same hash, salt as long as the digest), rsaEncryption for PKCS#1
    v1.5 (RFC 5754, 3.2), ecdsa-with-SHA* for ECDSA (RFC 5753)."""
    if scheme == "rsassa_pss":
        return algos.SignedDigestAlgorithm(
            {
                "algorithm": "rsassa_pss",
                "parameters": algos.RSASSAPSSParams(
                    {
                        "hash_algorithm": {"algorithm": digest},
                        "mask_gen_algorithm": {
                            "algorithm": "mgf1",
                            "parameters": {"algorithm": digest},
                        },
                        "salt_length": hash_algorithm(digest).digest_size,
                    }
                ),
            }
        )
    if scheme == "rsassa_pkcs1v15":
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
    if scheme == "ecdsa":
        return algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})
    raise SignerError(
        "signature.scheme",
        f"lược đồ ký không biết: {scheme}",
        f"unknown signature scheme: {scheme}",
    )


def _signing_moment(signing_time: dt.datetime | None) -> dt.datetime:
    if signing_time is None:
        signing_time = dt.datetime.now(dt.UTC)
    elif signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    return signing_time.astimezone(dt.UTC).replace(microsecond=0)


def _time(moment: dt.datetime) -> cms.Time:
    # RFC 5652, 11.3: UTCTime from 1950 to 2049, GeneralizedTime otherwise.
    if 1950 <= moment.year < 2050:
        return cms.Time(name="utc_time", value=core.UTCTime(moment))
    return cms.Time(name="generalized_time", value=core.GeneralizedTime(moment))


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _signing_certificate_v2(leaf: asn1_x509.Certificate) -> tsp.SigningCertificateV2:
    # hashAlgorithm left out: its DEFAULT is SHA-256, and DER omits defaults.
    cert_id = {
        "cert_hash": hashlib.sha256(leaf.dump()).digest(),
        "issuer_serial": {
            "issuer": [asn1_x509.GeneralName(name="directory_name", value=leaf.issuer)],
            "serial_number": leaf.serial_number,
        },
    }
    return tsp.SigningCertificateV2({"certs": [cert_id]})


def _ocsp_choice(response: ocsp.OCSPResponse) -> cms.RevocationInfoChoice:
    return cms.RevocationInfoChoice(
        name="other",
        value=cms.OtherRevocationInfoFormat(
            {"other_rev_info_format": "ocsp_response", "other_rev_info": response}
        ),
    )


def _parsed(spec: type[Any], der: bytes, code: str, vi: str, en: str) -> Any:
    """``der`` loaded as ``spec`` and parsed in full now (not in the receiver), or
    :class:`SignerError` ``code`` saying ``vi``/``en`` and why."""
    try:
        value = spec.load(der, strict=True)
        value.native  # noqa: B018 - parses every part
    except (ValueError, TypeError, KeyError) as exc:
        raise SignerError(code, f"{vi}: {exc}", f"{en}: {exc}") from None
    return value


def _revocation_choice(der: bytes) -> cms.RevocationInfoChoice:
    """An OCSP response (RFC 5940) or a CRL about a CA of the chain, as it was fetched."""
    what = ("revocation.malformed", "dữ liệu thu hồi gắn kèm không đọc được")
    english = "the stapled revocation data is neither an OCSP response nor a CRL"
    try:
        return _ocsp_choice(_parsed(ocsp.OCSPResponse, der, *what, english))
    except SignerError:
        crl = _parsed(asn1_crl.CertificateList, der, *what, english)
    return cms.RevocationInfoChoice(name="crl", value=crl)


def _stapled(der: bytes, leaf: asn1_x509.Certificate) -> ocsp.OCSPResponse:
    """The OCSP response, refused unless it is a successful answer about ``leaf``."""
    unreadable = (
        "ocsp_response.malformed",
        "phản hồi OCSP gắn kèm không đọc được",
        "the stapled OCSP response cannot be read",
    )
    response = _parsed(ocsp.OCSPResponse, der, *unreadable)
    try:
        basic = (
            response.basic_ocsp_response
            if response["response_status"].native == "successful"
            else None
        )
        serials = (
            {r["cert_id"]["serial_number"].native for r in basic["tbs_response_data"]["responses"]}
            if basic is not None
            else set()
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise SignerError(
            unreadable[0], f"{unreadable[1]}: {exc}", f"{unreadable[2]}: {exc}"
        ) from None
    if leaf.serial_number not in serials:
        raise SignerError(
            "ocsp_response.other_certificate",
            "phản hồi OCSP gắn kèm không nói về chứng thư số của người ký (hoặc không thành công)",
            "the stapled OCSP response is not a successful answer about the signer's certificate",
        )
    return response


def staples_ocsp(signature: bytes) -> bool:
    """The CAdES ``signature`` (DER) carries an OCSP answer about its signer's certificate
    (False too for bytes that are no CMS: the verifier names what is wrong with them)."""
    try:
        signed = cms.ContentInfo.load(signature)["content"]
        infos = signed["signer_infos"]
        if len(infos) != 1 or infos[0]["sid"].name != "issuer_and_serial_number":
            return False
        serial = infos[0]["sid"].chosen["serial_number"].native
        for choice in signed["crls"] or ():
            if choice.name != "other" or (
                choice.chosen["other_rev_info_format"].native != "ocsp_response"
            ):
                continue
            answer = ocsp.OCSPResponse.load(choice.chosen["other_rev_info"].dump())
            basic = answer.basic_ocsp_response
            responses = basic["tbs_response_data"]["responses"]
            if any(single["cert_id"]["serial_number"].native == serial for single in responses):
                return True
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    return False
