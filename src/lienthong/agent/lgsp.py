"""The client of a provincial adapter (LGSP) in front of the portal (``portal.kind = "lgsp"``).

Some provinces put their integration platform between the one-stop systems and the portal. It
does not take QCVN 120 envelopes:

- a token comes from an OAuth2 client-credentials endpoint (``POST {token path}``, HTTP Basic
  client id and secret, ``grant_type=client_credentials``) and goes as ``Authorization: Bearer``
  on every call;
- a push is the bare ``data`` array, POSTed to ``{base_url}/{Service}?MaDinhDanhDV=<madonvi>&
  isUpdating=<True|False>`` (or to a path of its own on adapters with separate URLs for adding,
  updating and progress: the ``lgsp_*_path`` settings);
- a share is ``GET {base_url}/{lgsp_share_prefix}/{Service}?<params>``, its result a JSON text
  inside ``message``.

:class:`LgspClient` offers what the agent uses of the envelope client
(:class:`lienthong.agent.portal.Portal`) and turns each adapter answer into the
:class:`PortalAnswer` the delivery worker, :mod:`lienthong.agent.classify` and the pulls already
understand (:func:`push_answer`, :func:`share_answer`). The token and the secret are never logged.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from lienthong.agent.classify import (
    ACCOUNT_CODES,
    PERMANENT_CODES,
    RETRYABLE_CODES,
    is_updating,
    normalize_code,
)
from lienthong.agent.portal import (
    CredentialedClient,
    PortalAnswer,
    PortalLoginFailed,
    PortalUnavailable,
    receipt_fields,
    unavailable,
)
from lienthong.agent.settings import PortalSettings

__all__ = [
    "NOT_TAKEN",
    "LgspClient",
    "message_says_taken",
    "push_answer",
    "share_answer",
]

logger = logging.getLogger("lienthong.agent.lgsp")

#: The ``error_code`` put on an adapter's message-only answer that does not say every record was
#: taken, when the adapter's own code would read as success: the batch is retried.
NOT_TAKEN = "lgsp.not_taken"

#: A data refusal (the hub's 15) stands for an HTTP 400 or 422 whose code the agent does not know.
_REFUSED = "15"

_KNOWN_CODES = PERMANENT_CODES | RETRYABLE_CODES | ACCOUNT_CODES
_SUCCESS = "00"
_DEFAULT_TTL = 3600


def message_says_taken(message: str) -> bool:
    """The rule of the clients that read only the message: every record was taken iff it says
    "thành công" and not "không thành công" (in any case, composed or not)."""
    text = unicodedata.normalize("NFC", message).casefold()
    return "thành công" in text and "không thành công" not in text


def push_answer(http_status: int, body: dict[str, Any] | None, relogged: bool) -> PortalAnswer:
    """The adapter's answer to a push, as the envelope answer that means the same.

    Per-record ``records`` are kept as they are. Without them a message decides (the "thành
    công" rule): all taken is ``error_code`` "00"; not all taken keeps the adapter's code when it
    is not a success, else becomes :data:`NOT_TAKEN` (retried). An HTTP 400 or 422 with a code
    the agent does not know is a data refusal (15: dead letters with the adapter's message).
    The adapter's own code, when replaced, stays in ``adapter_error_code``."""
    if body is None or isinstance(body.get("records"), list):
        return PortalAnswer(http_status, body, relogged)
    code = normalize_code(body.get("error_code"))
    message = body.get("message")
    mapped = code
    if http_status < 300 and isinstance(message, str) and message.strip():
        if message_says_taken(message):
            mapped = _SUCCESS
        elif code in (_SUCCESS, ""):
            mapped = NOT_TAKEN
    elif http_status in (400, 422) and code not in _KNOWN_CODES:
        mapped = _REFUSED
    if mapped == code:
        return PortalAnswer(http_status, body, relogged)
    rewritten = {**body, "error_code": mapped}
    if "error_code" in body:
        rewritten["adapter_error_code"] = body["error_code"]
    return PortalAnswer(http_status, rewritten, relogged)


def share_answer(http_status: int, body: dict[str, Any] | None, relogged: bool) -> PortalAnswer:
    """The adapter's answer to a share, with the JSON text of ``message`` unwrapped into
    ``result`` (a list, as the pulls expect) when the call succeeded."""
    if body is None or http_status >= 300 or "result" in body:
        return PortalAnswer(http_status, body, relogged)
    code = normalize_code(body.get("error_code"))
    if code not in (_SUCCESS, ""):
        return PortalAnswer(http_status, body, relogged)
    message = body.get("message")
    value: Any = message
    if isinstance(message, (str, bytes)):
        try:
            value = orjson.loads(message)
        except orjson.JSONDecodeError:
            return PortalAnswer(http_status, body, relogged)  # the pulls say: no result list
    if isinstance(value, dict):
        value = value.get("result", [value])
    if not isinstance(value, list):
        return PortalAnswer(http_status, body, relogged)
    return PortalAnswer(
        http_status,
        {**body, "error_code": body.get("error_code", _SUCCESS), "result": value},
        relogged,
    )


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


class LgspClient(CredentialedClient):
    """A token and calls to one adapter over one ``httpx.Client`` (thread-safe: serialised)."""

    def __init__(
        self,
        settings: PortalSettings,
        *,
        client_secret: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            settings,
            timeout=timeout,
            transport=transport,
            clock=clock,
            headers={"Accept": "application/json"},
        )
        self._secret = settings.resolved_client_secret() if client_secret is None else client_secret

    def __repr__(self) -> str:
        return (
            f"LgspClient(base_url={self.settings.base_url!r}, client_id={self.settings.account!r})"
        )

    # -- token ----------------------------------------------------------------------------------

    def fetch_token(self) -> None:
        """Get a token now (also used to renew). Raises PortalLoginFailed or PortalUnavailable."""
        with self._lock:
            self._credential = None
            path = self.settings.lgsp_token_path
            try:
                response = self._http.post(
                    path,
                    data={"grant_type": "client_credentials"},
                    auth=httpx.BasicAuth(self.settings.account, self._secret),
                )
            except httpx.HTTPError as exc:
                raise unavailable(exc, path) from None
            body = _json_object(response.content)
            status = response.status_code
            token = body.get("access_token") if body is not None else None
            if status == 200 and isinstance(token, str) and token:
                ttl = _seconds(body.get("expires_in") if body is not None else None)
                self._keep(token, ttl)
                logger.info("token from %s for %s", self.settings.base_url, self.settings.account)
                return
            if body is None or status >= 500:
                raise PortalUnavailable(f"token endpoint {path}: HTTP {status}")
            # RFC 6749 §5.2: ``error`` says why; 429 is the adapter's limit of failed logins
            error = str(body.get("error") or f"http {status}")
            message = str(body.get("error_description_en") or body.get("error_description") or "")
            raise PortalLoginFailed("21" if status == 429 else error, message[:300])

    _renew = fetch_token

    def forget_token(self) -> None:
        self._forget()

    # -- calls ----------------------------------------------------------------------------------

    def push_target(
        self, service: str, madonvi: str, params: Mapping[str, Any] | None
    ) -> tuple[str, dict[str, str]]:
        """The path and query string of a push: ``MaDinhDanhDV``, ``isUpdating`` (unless an
        alias path says it), then the envelope's other parameters."""
        params = dict(params or {})
        updating = is_updating(params.pop("isUpdating", False))
        settings = self.settings
        alias = ""
        if service == "DongBoHoSoMC":
            alias = settings.lgsp_update_path if updating else settings.lgsp_add_path
        elif service == "CapNhatTienDoHoSoMC":
            alias = settings.lgsp_progress_path
        query = {"MaDinhDanhDV": madonvi}
        if not alias:
            query["isUpdating"] = "True" if updating else "False"
        query.update((name, _query_value(value)) for name, value in params.items())
        return alias or service, query

    def integration(
        self,
        service: str,
        madonvi: str,
        params: Mapping[str, Any] | None = None,
        data: list[dict[str, Any]] | None = None,
    ) -> PortalAnswer:
        """POST the records as a bare array to the service's path."""
        path, query = self.push_target(service, madonvi, params)
        content = orjson.dumps(data or [])
        status, body, relogged, response = self._call("POST", path, query, content)
        return dataclasses.replace(
            push_answer(status, body, relogged),
            **receipt_fields(response, content, response.request.headers),
        )

    def share(
        self, service: str, madonvi: str, params: Mapping[str, Any] | None = None
    ) -> PortalAnswer:
        """GET a share service under the share prefix; ``result`` unwrapped from ``message``."""
        prefix = self.settings.lgsp_share_prefix.strip("/")
        path = f"{prefix}/{service}" if prefix else service
        query = {"MaDinhDanhDV": madonvi}
        query.update((name, _query_value(value)) for name, value in (params or {}).items())
        status, body, relogged, _ = self._call("GET", path, query, None)
        return share_answer(status, body, relogged)

    def _call(
        self, method: str, path: str, query: dict[str, str], content: bytes | None
    ) -> tuple[int, dict[str, Any] | None, bool, httpx.Response]:
        """One call with the token; on 401 a new token once, then the call again."""
        with self._lock:
            relogged = False
            while True:
                headers = {"Authorization": f"Bearer {self._current()}"}
                if content is not None:
                    headers["Content-Type"] = "application/json"
                    if self.signer is not None:  # over the exact bytes sent
                        headers.update(self.signer(content))
                try:
                    response = self._http.request(
                        method, path, params=query, content=content, headers=headers
                    )
                except httpx.HTTPError as exc:
                    raise unavailable(exc, path) from None
                if response.status_code == 401 and not relogged:
                    logger.info("adapter refused the token: getting a new one")
                    self._credential, relogged = None, True
                    continue
                return response.status_code, _json_object(response.content), relogged, response


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _seconds(value: Any) -> int:
    if isinstance(value, bool):
        return _DEFAULT_TTL
    if isinstance(value, (int, float)) and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return _DEFAULT_TTL
