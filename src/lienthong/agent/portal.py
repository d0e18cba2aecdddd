"""The portal client: login, session upkeep, envelopes to the integration and share endpoints.

Works against the hub and the real portal alike: every path and the ``dstcode`` header are
settings. The session is refreshed before it expires (from the login's ``expires_in``) and again
whenever the portal answers that the session is invalid or expired (codes 22, 23). The session
token and the password are never logged.

Exceptions (all :class:`PortalError`):

- :class:`PortalUnavailable`: no usable answer (network error, timeout). Retry later.
- :class:`PortalLoginFailed`: the login was refused; ``code`` says why (20 wrong credentials,
  21 too many failures, 24 disabled). The rows are fine; the account needs attention.

:class:`Portal` is what the rest of the agent uses of a client; :func:`open_portal` makes the one
``portal.kind`` names: this envelope client, or :class:`lienthong.agent.lgsp.LgspClient` for a
provincial adapter.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

from lienthong.agent.classify import SESSION_CODES, normalize_code
from lienthong.agent.settings import PortalSettings
from lienthong.security.header import HEADER, SignatureHeaderError, parse_header
from lienthong.security.receipts import RECEIPT_HEADER, RECEIPT_SIGNATURE_HEADER

__all__ = [
    "BodySigner",
    "Portal",
    "PortalAnswer",
    "PortalClient",
    "PortalError",
    "PortalLoginFailed",
    "PortalUnavailable",
    "SessionInfo",
    "open_portal",
    "receipt_fields",
    "refresh_margin",
    "sent_fields",
    "unavailable",
]

logger = logging.getLogger("lienthong.agent.portal")


class PortalError(Exception):
    """Base of the portal client's errors."""


class PortalUnavailable(PortalError):
    """The portal could not be reached or did not answer in time."""


def unavailable(exc: httpx.HTTPError, path: str) -> PortalUnavailable:
    """The error of a call to ``path`` that got no answer. A TLS failure says why (a
    certificate the CA does not vouch for, a refused client certificate): the operator must
    change a setting, not wait. The request (with the password, the secret, the session or the
    token) is never part of the message."""
    reason = ""
    cause = exc.__context__ or exc.__cause__
    if isinstance(exc, httpx.ConnectError) and isinstance(cause, ssl.SSLError):
        reason = f": TLS: {cause.reason or cause}"
    elif isinstance(exc, httpx.TransportError) and "SSL" in str(exc):
        reason = f": TLS: {str(exc)[:200]}"
    return PortalUnavailable(f"{type(exc).__name__} on {path}{reason}")


class PortalLoginFailed(PortalError):
    """The portal refused the login (or answered it with something unusable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"login refused ({code}): {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PortalAnswer:
    """One answer: its HTTP status and, when it was a JSON object, the body."""

    http_status: int
    body: dict[str, Any] | None
    relogged: bool = False
    """True when the session had to be renewed (codes 22/23) during this call."""
    receipt: str | None = None
    """The ``X-Lienthong-Receipt`` header of the answer (the hub's receipt, base64)."""
    receipt_signature: str | None = None
    """The ``X-Lienthong-Receipt-Signature`` header (its signature)."""
    sent_sha256: str | None = None
    """SHA-256 (hex) of the exact body bytes sent: what a receipt must name."""
    sent: bytes | None = field(default=None, repr=False)
    """The exact body bytes sent (kept as evidence, :mod:`lienthong.agent.evidence`)."""
    signature: bytes | None = field(default=None, repr=False)
    """The signature sent with them (the ``X-Lienthong-Signature`` value decoded): CAdES DER,
    or the compact JWS's ASCII; None when unsigned."""
    signature_format: str | None = None
    """``cades`` or ``jws`` (None when unsigned)."""

    @property
    def error_code(self) -> str | None:
        return normalize_code(self.body.get("error_code")) if self.body is not None else None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What may be shown about the session (never the token)."""

    logged_in_at: float
    """``time.time()`` of the login."""
    expires_in: int
    logins: int
    """Logins since the client was made (each refresh is one)."""


#: Headers that carry a signature of a request body (its exact bytes).
BodySigner = Callable[[bytes], Mapping[str, str]]


class Portal(Protocol):
    """What the delivery worker, the pulls and the status use of a portal client."""

    signer: BodySigner | None
    """Signs each envelope's body (:mod:`lienthong.agent.signing`); None: unsigned."""

    @property
    def session_info(self) -> SessionInfo | None: ...

    def integration(
        self,
        service: str,
        madonvi: str,
        params: Mapping[str, Any] | None = None,
        data: list[dict[str, Any]] | None = None,
    ) -> PortalAnswer: ...

    def share(
        self, service: str, madonvi: str, params: Mapping[str, Any] | None = None
    ) -> PortalAnswer: ...

    def close(self) -> None: ...


def open_portal(settings: PortalSettings, *, timeout: float = 30.0) -> Portal:
    """The client ``settings.kind`` names (``envelope`` or ``lgsp``)."""
    if settings.kind == "lgsp":
        from lienthong.agent.lgsp import LgspClient  # it builds on this module

        return LgspClient(settings, timeout=timeout)
    return PortalClient(settings, timeout=timeout)


def sent_fields(sent: bytes | None, signed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The :class:`PortalAnswer` fields of what was sent: the exact bytes, their digest, and the
    signature the ``signed`` headers carried (decoded from its header value)."""
    signature, signature_format = None, None
    carried_value = (signed or {}).get(HEADER)
    if carried_value is not None:
        try:
            carried = parse_header(carried_value)
        except SignatureHeaderError:  # the agent's own header: cannot happen, keep the text
            signature, signature_format = carried_value.encode("utf-8"), None
        else:
            signature_format = carried.format
            signature = carried.cades if carried.cades is not None else (carried.jws or "").encode()
    return {
        "sent": sent,
        "sent_sha256": hashlib.sha256(sent).hexdigest() if sent is not None else None,
        "signature": signature,
        "signature_format": signature_format,
    }


def receipt_fields(
    response: httpx.Response, sent: bytes | None, signed: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The :class:`PortalAnswer` fields of a receipt: the answer's receipt headers, and what was
    sent (:func:`sent_fields`; :mod:`lienthong.agent.receipts` checks the digest)."""
    return {
        "receipt": response.headers.get(RECEIPT_HEADER),
        "receipt_signature": response.headers.get(RECEIPT_SIGNATURE_HEADER),
        **sent_fields(sent, signed),
    }


def refresh_margin(ttl: int) -> float:
    """Seconds ahead of a session's expiry to renew it: 10 % of the lifetime, at least 1 s, at
    most 5 minutes, and never more than half of a very short lifetime."""
    return min(300.0, max(1.0, ttl * 0.1), ttl / 2)


class CredentialedClient(abc.ABC):
    """What both portal clients share: one ``httpx.Client``, calls serialised by a lock, and a
    credential (a session, a token) renewed shortly before it expires or when refused."""

    def __init__(
        self,
        settings: PortalSettings,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None,
        clock: Callable[[], float],
        headers: Mapping[str, str],
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._http = httpx.Client(
            base_url=settings.base_url,
            timeout=timeout,
            transport=transport,
            verify=settings.tls(),
            headers=dict(headers),
        )
        self._lock = threading.RLock()
        self._credential: str | None = None
        self._refresh_at = 0.0
        self._issued = 0
        self._info: SessionInfo | None = None
        self.signer: BodySigner | None = None
        """Signs each envelope's body (:mod:`lienthong.agent.signing`); None: unsigned."""

    def close(self) -> None:
        self._http.close()

    @property
    def session_info(self) -> SessionInfo | None:
        return self._info

    @abc.abstractmethod
    def _renew(self) -> None:
        """Get a new credential (and :meth:`_keep` it), or raise PortalLoginFailed or
        PortalUnavailable."""

    def _keep(self, credential: str, ttl: int) -> None:
        self._credential = credential
        self._refresh_at = self._clock() + max(0.0, ttl - refresh_margin(ttl))
        self._issued += 1
        self._info = SessionInfo(time.time(), ttl, self._issued)

    def _forget(self) -> None:
        with self._lock:
            self._credential = None

    def _current(self) -> str:
        """The credential, renewed first when there is none or it is about to expire."""
        if self._credential is None or self._clock() >= self._refresh_at:
            self._renew()
        assert self._credential is not None
        return self._credential


class PortalClient(CredentialedClient):
    """A session with the portal over one ``httpx.Client`` (thread-safe: calls are serialised)."""

    def __init__(
        self,
        settings: PortalSettings,
        *,
        password: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            settings,
            timeout=timeout,
            transport=transport,
            clock=clock,
            headers={"dstcode": settings.dstcode, "Content-Type": "application/json"},
        )
        self._password = settings.resolved_password() if password is None else password

    def __repr__(self) -> str:
        return f"PortalClient(base_url={self.settings.base_url!r}, username={self.settings.username!r})"

    # -- session -----------------------------------------------------------------------------

    def login(self) -> None:
        """Log in now (also used to refresh). Raises PortalLoginFailed or PortalUnavailable."""
        with self._lock:
            self._credential = None
            answer = self._post(
                self.settings.login_path,
                {"username": self.settings.username, "password": self._password},
            )
            body = answer.body or {}
            token, code = body.get("session"), answer.error_code
            if code not in ("00", None) or not isinstance(token, str) or not token:
                message = str(body.get("message_en") or body.get("message") or "")[:300]
                raise PortalLoginFailed(code or f"http {answer.http_status}", message)
            expires_in = body.get("expires_in")
            ttl = (
                int(expires_in)
                if isinstance(expires_in, (int, float, str)) and str(expires_in).isdigit()
                else 1800
            )
            self._keep(token, ttl)
            logger.info("logged in to %s as %s", self.settings.base_url, self.settings.username)

    _renew = login

    def forget_session(self) -> None:
        self._forget()

    # -- calls ---------------------------------------------------------------------------------

    def integration(
        self,
        service: str,
        madonvi: str,
        params: Mapping[str, Any] | None = None,
        data: list[dict[str, Any]] | None = None,
    ) -> PortalAnswer:
        """POST one envelope to the integration endpoint."""
        return self.call(self.settings.integration_path, service, madonvi, params, data)

    def share(
        self, service: str, madonvi: str, params: Mapping[str, Any] | None = None
    ) -> PortalAnswer:
        """POST one envelope to the share endpoint (for pulls: ``TraCuuHoSo``, ``LayThuTuc``...)."""
        return self.call(self.settings.share_path, service, madonvi, params, None)

    def call(
        self,
        path: str,
        service: str,
        madonvi: str,
        params: Mapping[str, Any] | None,
        data: list[dict[str, Any]] | None,
    ) -> PortalAnswer:
        """Send ``{session, madonvi, service, ...params, data}``; log in again once on 22/23."""
        with self._lock:
            relogged = False
            for _ in range(2):
                envelope: dict[str, Any] = {
                    "session": self._current(),
                    "madonvi": madonvi,
                    "service": service,
                    **(params or {}),
                }
                if data is not None:
                    envelope["data"] = data
                answer = self._post(path, envelope)
                if answer.error_code in SESSION_CODES and not relogged:
                    logger.info("portal session refused (%s): logging in again", answer.error_code)
                    self._credential, relogged = None, True
                    continue
                break
            return dataclasses.replace(answer, relogged=relogged)

    def _post(self, path: str, body: dict[str, Any]) -> PortalAnswer:
        content = orjson.dumps(body)  # serialized once: the signature covers these bytes
        # the login is not signed: it carries the password, which no signature must outlive
        signed = self.signer is not None and path != self.settings.login_path
        headers = dict(self.signer(content)) if signed and self.signer is not None else None
        try:
            response = self._http.post(path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise unavailable(exc, path) from None
        try:
            value = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            value = None
        return PortalAnswer(
            response.status_code,
            value if isinstance(value, dict) else None,
            **receipt_fields(response, content, headers),
        )
