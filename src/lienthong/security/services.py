"""The test PKI's services as one Starlette app (``lienthong pki serve``): an OCSP responder
(RFC 6960, POST and GET), the CRL distribution point and CA certificates, and an RFC 3161
time-stamp authority.

The OCSP responder answers from the PKI's own index: good, revoked (its time, reason
keyCompromise) or unknown. Answers about certificates of the intermediate are signed by the
delegated responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck), about the
intermediate itself by the root. A nonce asked for is echoed. CRLs are built when the app is
made (each ``serve`` start), next update a week ahead.

Every request body is read bounded; a body that is not what the service takes gets a 4xx: a
wrong content type 415 and an oversized body 413 (bilingual JSON like the hub's errors),
garbage 400 with the protocol's own error (OCSP ``malformedRequest``, a time-stamp
``rejection`` with its failure reason).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from asn1crypto import algos, cms, core, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509 import ocsp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lienthong.asgi import GuardMiddleware, read_limited_body
from lienthong.security.pki import PkiEntry, Role, TestPki, write_crls
from lienthong.security.policy import AlgorithmPolicy, AlgorithmProblem

__all__ = [
    "MAX_REQUEST_BYTES",
    "OCSP_VALIDITY",
    "TSA_POLICY",
    "PkiServices",
    "TimeStampResp",
    "create_app",
]

#: An OCSP or time-stamp request is a few hundred bytes; anything above this is refused unread.
MAX_REQUEST_BYTES = 16 * 1024
#: How long an OCSP answer may be relied on (its nextUpdate).
OCSP_VALIDITY = dt.timedelta(days=1)
#: The time-stamp policy of the test TSA: a UUID-derived OID (ITU-T X.667, arc 2.25), which
#: needs no registration and names no real policy.
TSA_POLICY = "2.25.171593927413307271651478296405395962881"

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
TSA_REQUEST = "application/timestamp-query"
TSA_RESPONSE = "application/timestamp-reply"


class TimeStampResp(tsp.TimeStampResp):  # type: ignore[misc]
    """RFC 3161's TimeStampResp, whose token is OPTIONAL (absent from a rejection): asn1crypto
    declares it required."""

    _fields = [  # noqa: RUF012  # asn1crypto's own class attribute
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _error(status: int, code: str, vi: str, en: str, path: str = "$") -> JSONResponse:
    return JSONResponse(
        {"error_code": code, "message": vi, "message_en": en, "path": path, "retryable": False},
        status_code=status,
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _bounded_body(request: Request, expected: str) -> bytes | Response:
    """The body when it has the expected content type and fits; else the 415 or 413."""
    if _media_type(request) != expected:
        return _error(
            415,
            "pki.content_type",
            f"kiểu nội dung phải là {expected}",
            f"the content type must be {expected}",
            "headers.content-type",
        )
    body = await read_limited_body(request, MAX_REQUEST_BYTES)
    if body is None:
        return _error(
            413,
            "pki.too_large",
            f"yêu cầu lớn hơn {MAX_REQUEST_BYTES} byte",
            f"the request is larger than {MAX_REQUEST_BYTES} bytes",
            "body",
        )
    return body


def _sign(key: PrivateKeyTypes, data: bytes) -> tuple[bytes, str]:
    """A SHA-256 signature of ``data`` and its CMS signature algorithm name."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256()), "rsassa_pkcs1v15"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    raise TypeError(f"no signature scheme for {type(key).__name__}")


class PkiServices:
    """The state behind the app: the PKI, its CRLs and the signing keys of the services."""

    def __init__(
        self, pki: TestPki, clock: Callable[[], dt.datetime] = _now, *, nonce_bytes: int = 8
    ) -> None:
        self.pki = pki
        self.clock = clock
        self.crls = write_crls(pki, clock())
        self.keys = {
            entry.name: entry.private_key()
            for entry in (pki.root, pki.intermediate, pki.ocsp, pki.tsa)
        }
        self.nonce_bytes = nonce_bytes
        self.policy = AlgorithmPolicy()
        self._tsa_certificate = asn1_x509.Certificate.load(pki.tsa.der)
        self._tsa_chain = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in pki.chain_of(pki.tsa)
        ]

    # -- OCSP -----------------------------------------------------------------------------

    def _issuer_for(self, request: ocsp.OCSPRequest) -> PkiEntry | None:
        name = request.hash_algorithm.name
        for ca in self.pki.cas:
            spki = asn1_x509.Certificate.load(ca.der)["tbs_certificate"]["subject_public_key_info"]
            name_hash = hashlib.new(name, ca.certificate.subject.public_bytes()).digest()
            key_hash = hashlib.new(name, bytes(spki["public_key"])).digest()
            if (name_hash, key_hash) == (request.issuer_name_hash, request.issuer_key_hash):
                return ca
        return None

    def ocsp_answer(self, der: bytes) -> tuple[int, bytes]:
        """The HTTP status and DER OCSP response to one DER request."""
        try:
            request = ocsp.load_der_ocsp_request(der)
            algorithm = request.hash_algorithm
            issuer = self._issuer_for(request)
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        except (ValueError, UnsupportedAlgorithm):
            failed = ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            )
            return 400, failed.public_bytes(serialization.Encoding.DER)
        if issuer is None:  # not a CA of this PKI: RFC 6960 2.3 "unauthorized"
            failed = ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            )
            return 200, failed.public_bytes(serialization.Encoding.DER)
        now = self.clock()
        builder = ocsp.OCSPResponseBuilder()
        subject = next(
            (
                entry
                for entry in self.pki.entries.values()
                if entry.issuer == issuer.name
                and entry.certificate.serial_number == request.serial_number
            ),
            None,
        )
        if subject is None:
            builder = builder.add_response_by_hash(
                request.issuer_name_hash,
                request.issuer_key_hash,
                request.serial_number,
                algorithm,
                ocsp.OCSPCertStatus.UNKNOWN,
                now,
                now + OCSP_VALIDITY,
                None,
                None,
            )
        else:
            revoked = subject.revoked_at is not None and subject.revoked_at <= now
            builder = builder.add_response(
                subject.certificate,
                issuer.certificate,
                algorithm,
                ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
                now,
                now + OCSP_VALIDITY,
                subject.revoked_at if revoked else None,
                x509.ReasonFlags.key_compromise if revoked else None,
            )
        # The intermediate's certificates are answered by the delegated responder, the
        # intermediate itself by the root.
        responder = self.pki.ocsp if issuer.role is Role.INTERMEDIATE else issuer
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
        if responder is not issuer:
            builder = builder.certificates([responder.certificate])
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        key = self.keys[responder.name]
        response = builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]
        return 200, response.public_bytes(serialization.Encoding.DER)

    # -- time stamps ----------------------------------------------------------------------

    def _rejection(self, failure: str, vi: str, en: str) -> tuple[int, bytes]:
        status = tsp.PKIStatusInfo(
            {
                "status": "rejection",
                "status_string": [vi, en],
                "fail_info": tsp.PKIFailureInfo({failure}),
            }
        )
        return 400, TimeStampResp({"status": status}).dump()

    def timestamp_answer(self, der: bytes) -> tuple[int, bytes]:
        """The HTTP status and DER TimeStampResp to one DER TimeStampReq (RFC 3161)."""
        try:
            request = tsp.TimeStampReq.load(der, strict=True)
            request.native  # noqa: B018  # parses every part now: garbage fails here
            digest = request["message_imprint"]["hash_algorithm"]["algorithm"].native
            imprint = request["message_imprint"]["hashed_message"].native
        except (ValueError, TypeError, KeyError):
            return self._rejection(
                "bad_data_format",
                "yêu cầu cấp dấu thời gian không đọc được (RFC 3161 TimeStampReq, DER)",
                "unreadable time-stamp request (RFC 3161 TimeStampReq, DER)",
            )
        if request["version"].native != "v1":
            return self._rejection(
                "bad_request", "phiên bản yêu cầu phải là v1", "the request version must be v1"
            )
        try:
            self.policy.check_digest(str(digest))
            size = hashlib.new(str(digest)).digest_size
        except (AlgorithmProblem, ValueError) as problem:
            vi = problem.vi if isinstance(problem, AlgorithmProblem) else str(problem)
            en = problem.en if isinstance(problem, AlgorithmProblem) else str(problem)
            return self._rejection("bad_alg", vi, en)
        if len(imprint) != size:
            return self._rejection(
                "bad_data_format",
                f"giá trị băm dài {len(imprint)} byte, {digest} cần {size}",
                f"the imprint is {len(imprint)} bytes, {digest} needs {size}",
            )
        asked_policy = request["req_policy"].native
        if asked_policy is not None and asked_policy != TSA_POLICY:
            return self._rejection(
                "unaccepted_policy",
                f"chính sách {asked_policy} không được hỗ trợ (chỉ {TSA_POLICY})",
                f"policy {asked_policy} is not supported (only {TSA_POLICY})",
            )
        if request["extensions"].native:
            return self._rejection(
                "unaccepted_extension",
                "yêu cầu có phần mở rộng không được hỗ trợ",
                "the request carries extensions that are not supported",
            )
        token = self._token(request, self.clock())
        granted = tsp.PKIStatusInfo({"status": "granted"})
        return 200, TimeStampResp({"status": granted, "time_stamp_token": token}).dump()

    def _token(self, request: tsp.TimeStampReq, now: dt.datetime) -> cms.ContentInfo:
        tsa = self._tsa_certificate
        fields: dict[str, Any] = {
            "version": "v1",
            "policy": TSA_POLICY,
            "message_imprint": request["message_imprint"],
            "serial_number": secrets.randbits(63) + 1,
            "gen_time": now,
            "accuracy": {"seconds": 1},
            "tsa": asn1_x509.GeneralName({"directory_name": tsa.subject}),
        }
        if request["nonce"].native is not None:
            fields["nonce"] = request["nonce"]
        info = tsp.TSTInfo(fields).dump()
        essid = tsp.ESSCertIDv2(
            {
                "hash_algorithm": {"algorithm": "sha256"},
                "cert_hash": hashlib.sha256(tsa.dump()).digest(),
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName({"directory_name": tsa.issuer})],
                    "serial_number": tsa.serial_number,
                },
            }
        )
        signed_attributes = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(now)})]},
                {"type": "message_digest", "values": [hashlib.sha256(info).digest()]},
                {
                    "type": "signing_certificate_v2",
                    "values": [tsp.SigningCertificateV2({"certs": [essid]})],
                },
            ]
        )
        signature, scheme = _sign(self.keys[self.pki.tsa.name], signed_attributes.dump())
        digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"})
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": tsa.issuer,
                            "serial_number": tsa.serial_number,
                        }
                    }
                ),
                "digest_algorithm": digest_algorithm,
                "signed_attrs": signed_attributes,
                "signature_algorithm": {"algorithm": scheme},
                "signature": signature,
            }
        )
        signed: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": [digest_algorithm],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(info),
            },
            "signer_infos": [signer],
        }
        if request["cert_req"].native:  # RFC 3161 2.4.1: only when asked; with its chain
            signed["certificates"] = [tsa, *self._tsa_chain]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed)})


def create_app(pki: TestPki, clock: Callable[[], dt.datetime] = _now) -> Starlette:
    """The app serving ``pki``: ``/ocsp``, ``/crl/{ca}.crl``, ``/certs/{ca}.cer``, ``/tsa``,
    ``/healthz``. Its CRLs are regenerated (and written to the PKI's directory) now."""
    services = PkiServices(pki, clock)

    async def ocsp_post(request: Request) -> Response:
        body = await _bounded_body(request, OCSP_REQUEST)
        if isinstance(body, Response):
            return body
        status, der = services.ocsp_answer(body)
        return Response(der, status, media_type=OCSP_RESPONSE)

    async def ocsp_get(request: Request) -> Response:
        encoded = str(request.path_params["encoded"])
        if len(encoded) > MAX_REQUEST_BYTES:
            return _error(
                414, "pki.too_large", "địa chỉ yêu cầu quá dài", "the request URL is too long"
            )
        try:
            der = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            der = b""  # answered as malformed below
        status, answer = services.ocsp_answer(der)
        return Response(answer, status, media_type=OCSP_RESPONSE)

    async def timestamp(request: Request) -> Response:
        body = await _bounded_body(request, TSA_REQUEST)
        if isinstance(body, Response):
            return body
        status, der = services.timestamp_answer(body)
        return Response(der, status, media_type=TSA_RESPONSE)

    async def crl(request: Request) -> Response:
        name = str(request.path_params["ca"])
        if name not in services.crls:
            return _error(404, "pki.not_found", f"không có CRL {name}", f"no CRL {name}", "path")
        return Response(services.crls[name], media_type="application/pkix-crl")

    async def certificate(request: Request) -> Response:
        name = str(request.path_params["ca"])
        found = next((ca for ca in pki.cas if ca.name == name), None)
        if found is None:
            return _error(
                404, "pki.not_found", f"không có chứng thư CA {name}", f"no CA certificate {name}"
            )
        return Response(found.der, media_type="application/pkix-cert")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/ocsp", ocsp_post, methods=["POST"]),
            Route("/ocsp/{encoded:path}", ocsp_get, methods=["GET"]),
            Route("/tsa", timestamp, methods=["POST"]),
            Route("/crl/{ca}.crl", crl, methods=["GET"]),
            Route("/certs/{ca}.cer", certificate, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.add_middleware(GuardMiddleware)
    app.state.services = services
    return app
