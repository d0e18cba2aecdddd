"""HTTPS for the hub and the agent: the server's TLS context (TLS 1.2 at least) and the ASGI TLS
extension, so that an application sees the client certificate of its connection.

uvicorn serves TLS but does not tell the application which certificate the client presented.
:class:`TLSProtocol` is uvicorn's own h11 protocol (its ``http=`` extension point) that, once the
handshake is done, puts ``scope["extensions"]["tls"]`` on every request of the connection, as the
ASGI TLS extension specifies (https://asgi.readthedocs.io/en/latest/specs/tls.html).

Shared by the hub and the agent, which never import each other.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "HUB_SETTINGS",
    "MINIMUM_VERSION",
    "TLSProblem",
    "TLSProtocol",
    "client_certificate",
    "server_context",
    "tls_problem",
    "uvicorn_tls_options",
]

#: TLS 1.2 or later (Circular 15/2025/TT-BKHCN); older versions fail the handshake.
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2

#: ``tls_version`` of the extension: the protocol's number on the wire.
_VERSION_NUMBERS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def server_context(
    certfile: str, keyfile: str | None = None, client_ca: str | None = None
) -> ssl.SSLContext:
    """A server context: the certificate and its key, TLS 1.2 at least, and, with
    ``client_ca``, a client certificate asked for (optional) and checked against that CA.

    Raises OSError (a file missing or unreadable) or ssl.SSLError (not PEM, a key that does not
    match the certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    context.load_cert_chain(certfile, keyfile)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _context_factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: its context from the ``ssl_*`` options, with TLS 1.2
    as the least version (uvicorn has no option for that). Module-level: workers unpickle it."""
    context = default()
    context.minimum_version = MINIMUM_VERSION
    return context


def uvicorn_tls_options(
    certfile: str, keyfile: str | None = None, client_ca: str | None = None
) -> dict[str, Any]:
    """The options of ``uvicorn.run`` / ``uvicorn.Config`` that serve HTTPS with
    :func:`server_context`'s rules and the TLS extension (:class:`TLSProtocol`)."""
    return {
        "ssl_certfile": certfile,
        "ssl_keyfile": keyfile or None,
        "ssl_ca_certs": client_ca or None,
        "ssl_cert_reqs": ssl.CERT_OPTIONAL if client_ca else ssl.CERT_NONE,
        "ssl_context_factory": _context_factory,
        "http": "lienthong.asgi_tls:TLSProtocol",
    }


@dataclass(frozen=True, slots=True)
class TLSProblem:
    """Why the server cannot serve HTTPS with its settings, in Vietnamese and English."""

    vi: str
    en: str


#: The hub's names of the three settings, as its errors say them.
HUB_SETTINGS = ("LIENTHONG_TLS_CERTFILE", "LIENTHONG_TLS_KEYFILE", "LIENTHONG_TLS_CLIENT_CA")


def tls_problem(
    certfile: str, keyfile: str, client_ca: str = "", names: tuple[str, str, str] = HUB_SETTINGS
) -> TLSProblem | None:
    """None when ``certfile`` and ``keyfile`` (and ``client_ca``, when given) make a server
    context, or when neither is set (plain HTTP); else what is wrong, naming the setting
    (``names``: those of the certificate, the key and the client CA). One of the two without
    the other is a problem too."""
    if not certfile and not keyfile:
        return None
    cert_name, key_name, ca_name = names
    if not certfile or not keyfile:
        given, missing = (cert_name, key_name) if certfile else (key_name, cert_name)
        return TLSProblem(
            f"{given} đã đặt nhưng thiếu {missing}", f"{given} is set but {missing} is not"
        )
    for name, path in ((cert_name, certfile), (key_name, keyfile), (ca_name, client_ca)):
        if not path:
            continue
        try:
            Path(path).read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return TLSProblem(
                f"{name}: không đọc được tệp {path}: {reason}",
                f"{name}: cannot read the file {path}: {reason}",
            )
    try:
        server_context(certfile, keyfile, client_ca or None)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return TLSProblem(
                f"{key_name}: khóa {keyfile} không khớp chứng thư {certfile}",
                f"{key_name}: the key {keyfile} does not match the certificate {certfile}",
            )
        reason = exc.reason or str(exc)
        return TLSProblem(
            f"{cert_name}, {key_name}, {ca_name}: chứng thư {certfile}, khóa {keyfile} hoặc CA "
            f"{client_ca or '-'} không phải PEM dùng được: {reason}",
            f"{cert_name}, {key_name}, {ca_name}: the certificate {certfile}, key {keyfile} or "
            f"CA {client_ca or '-'} is not usable PEM: {reason}",
        )
    return None


def client_certificate(scope: Scope) -> str | None:
    """The PEM client certificate of the request's connection (the ASGI TLS extension), or
    None: plain HTTP, or no certificate presented."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not isinstance(tls, dict):
        return None
    chain = tls.get("client_cert_chain") or []
    return str(chain[0]) if chain else None


def _extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension of one connection."""
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        chain.append(ssl.DER_cert_to_PEM_cert(der))
        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    cipher = ssl_object.cipher()
    suite = None
    if cipher is not None:  # the IANA number, from OpenSSL's table of the context's ciphers
        for known in ssl_object.context.get_ciphers():
            if known["name"] == cipher[0]:
                suite = int(known["id"]) & 0xFFFF
                break
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        # a certificate that failed the check ends the handshake: one that is here passed
        "client_cert_error": None,
        "tls_version": _VERSION_NUMBERS.get(ssl_object.version() or ""),
        "cipher_suite": suite,
    }


class _WithTLS:
    """The application, with the connection's TLS extension in every HTTP request's scope."""

    def __init__(self, app: ASGIApp, tls: dict[str, Any]) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": self.tls}}
        await self.app(scope, receive, send)


class TLSProtocol(H11Protocol):
    """uvicorn's h11 protocol, telling the application about the connection's TLS (the ASGI TLS
    extension). Given to uvicorn as ``http=`` (:func:`uvicorn_tls_options`)."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject):  # plain HTTP on this port: nothing to add
            self.app = _WithTLS(self.app, _extension(ssl_object))
