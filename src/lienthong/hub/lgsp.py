"""The provincial adapters' front door (LGSP): one URL per service, bare arrays, bearer tokens.

Some one-stop systems reach the national portal through a provincial integration platform and
speak its dialect rather than the QCVN 120 envelope: an OAuth2 client-credentials token
(``POST {prefix}/token``), then ``POST {prefix}/{Service}?MaDinhDanhDV=...&isUpdating=...``
with a bare JSON array of records, and ``GET {prefix}/KetNoiMotCuaQuocGia/{Service}?...`` for
shares, whose result comes back as JSON text inside ``message``. This module only translates:
the request becomes the hub's envelope (session from the bearer token, ``madonvi`` from
``MaDinhDanhDV``, the service's parameters from the query, ``data`` = the array), which goes
through the hub's one pipeline (:meth:`Hub.run_envelope`: checks, session, authorization,
validation, service, store, message log), and the hub's answer is reshaped for the adapter.
The token is a hub session from the hub's own login (:meth:`Hub.sign_in`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote_to_bytes

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lienthong.hub.app import JSON_TYPES, Answer, Call, Hub, _error, _json, received
from lienthong.hub.auth import principal_for
from lienthong.hub.errors import HubError, shown
from lienthong.hub.settings import HubSettings
from lienthong.spec.catalog import PacketKind
from lienthong.spec.inputs import loads, storable

__all__ = [
    "SHARE_SEGMENT",
    "Adapter",
    "Alias",
    "lgsp_prefix",
    "lgsp_routes",
    "parse_aliases",
    "query_pairs",
]

#: The path segment before a share's name (``{prefix}/KetNoiMotCuaQuocGia/LayThuTuc``).
SHARE_SEGMENT = "KetNoiMotCuaQuocGia"
#: The query parameter naming the unit (the envelope's ``madonvi``).
UNIT_PARAM = "MaDinhDanhDV"
UPDATING_PARAM = "isUpdating"
#: How ``isUpdating`` may be written, and its envelope form.
UPDATING_VALUES = {"true": "True", "1": "True", "false": "False", "0": "False"}
#: Query parameters read at most; more is a malformed request.
MAX_QUERY_PARAMS = 64
#: Methods routed to the door, so that a wrong one gets a JSON answer (code 17), not a bare 405.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
FORM = "application/x-www-form-urlencoded"
#: The words some clients look for to decide that a push succeeded.
SUCCESS_WORDS = re.compile(r"th[aàáảãạ]nh\s+c[oôóòỏõọ]ng", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Alias:
    """Another name of a push service, maybe with its ``isUpdating`` fixed."""

    service: str
    updating: str | None = None


def lgsp_prefix(settings: HubSettings) -> str:
    """The door's path prefix (``""``: no door); ValueError for one that is no path."""
    prefix = settings.lgsp_prefix.strip()
    if not prefix:
        return ""
    if not prefix.startswith("/") or prefix == "/" or "{" in prefix or "}" in prefix:
        raise ValueError(f"LIENTHONG_LGSP_PREFIX: {prefix!r} must be empty or a path such as /lgsp")
    return prefix.rstrip("/")


def parse_aliases(text: str) -> dict[str, Alias]:
    """``Alias=Service[:isUpdating],...`` as a table; ValueError naming a malformed entry."""
    aliases: dict[str, Alias] = {}
    for entry in (item.strip() for item in text.split(",")):
        if not entry:
            continue
        name, _, target = entry.partition("=")
        service, _, flag = target.partition(":")
        name, service, flag = name.strip(), service.strip(), flag.strip()
        updating = UPDATING_VALUES.get(flag.lower()) if flag else None
        if not name.isidentifier() or not service.isidentifier() or (flag and not updating):
            raise ValueError(
                f"LIENTHONG_LGSP_ALIASES: {entry!r} is not Alias=Service or "
                "Alias=Service:True|False"
            )
        aliases[name] = Alias(service, updating)
    return aliases


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The pairs of a query string, decoded as UTF-8; HubError 12 naming the parameter that
    is not UTF-8 or holds a NUL or a lone surrogate (nothing could store or look it up)."""
    pairs: list[tuple[str, str]] = []
    for part in raw.split(b"&"):
        if not part:
            continue
        if len(pairs) >= MAX_QUERY_PARAMS:
            raise HubError(
                "12",
                f"quá {MAX_QUERY_PARAMS} tham số truy vấn",
                f"more than {MAX_QUERY_PARAMS} query parameters",
            )
        key, _, value = part.partition(b"=")
        name = _query_text(key)
        pairs.append((name, _query_text(value, name)))
    return pairs


def _query_text(raw: bytes, name: str | None = None) -> str:
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        text = data.decode("utf-8")  # strict: an encoded lone surrogate is refused too
    except UnicodeDecodeError:
        text = ""
    if not storable(text) or (data and not text):
        where = name if name is not None else shown(data.decode("utf-8", "replace"), 64)
        raise HubError("12", f"{where}: ký tự không hợp lệ", f"{where}: invalid character")
    return text


def _without_success_words(text: str) -> str:
    """``text`` with no "thành công" in it: a client reads those words as success."""
    return SUCCESS_WORDS.sub("***", text)


def _refusal(error: HubError, **context: Any) -> Answer:
    answer = _error(error, **context)
    shape_refusal(answer)
    return answer


def shape_refusal(answer: Answer) -> None:
    """A refusal as the adapter gets it: the hub's body, never the success words, and the
    bearer challenge on a 401 (RFC 6750)."""
    answer.body["message"] = _without_success_words(str(answer.body.get("message", "")))
    if answer.status == 401:
        answer.headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    answer.payload = None


def shape_answer(answer: Answer) -> None:
    """The hub's answer to an envelope, reshaped for the adapter (in place).

    A push: its records as they are, and a message that holds "thành công" exactly when every
    record was taken. A share: its result as JSON text in ``message``. A refusal: the hub's.
    """
    body = answer.body
    if "records" in body:
        total, refused = answer.records, answer.rejected
        if refused == 0:
            message = f"Đồng bộ thành công {answer.accepted}/{total} bản ghi"
            message_en = f"Synced {answer.accepted}/{total} records"
        else:
            hub_vi, hub_en = str(body["message"]), str(body["message_en"])
            message = f"Có {refused}/{total} bản ghi bị từ chối: {hub_vi}"
            message_en = f"{refused}/{total} records were refused: {hub_en}"
            message = _without_success_words(message)
        body["message"], body["message_en"] = message, message_en
        answer.payload = None
    elif answer.status == 200 and "result" in body:
        result = body.pop("result")
        body.pop("message_en", None)
        body["message"] = orjson.dumps(result).decode("utf-8")
        answer.payload = None
    else:
        shape_refusal(answer)


class Adapter:
    """The door of one hub: its aliases checked against the hub's catalog."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        catalog = hub.validator.catalog
        self.aliases = parse_aliases(hub.settings.lgsp_aliases)
        for name, alias in self.aliases.items():
            packet = catalog.packets.get(alias.service)
            if packet is None or packet.kind is not PacketKind.PUSH or name in catalog.packets:
                raise ValueError(
                    f"LIENTHONG_LGSP_ALIASES: {name}={alias.service}: the target must be a "
                    "push service of the catalog, and the alias no service's name"
                )
        #: each service's envelope parameters by their lower-case names
        self.params = {
            name: {spec.name.lower(): spec.name for spec in packet.params}
            for name, packet in catalog.packets.items()
        }

    # -- the token endpoint ------------------------------------------------------------------

    def token(self, method: str, authorization: str | None, content_type: str, client: str,
              certificate: str | None, body: bytes) -> Answer:  # fmt: skip
        """``POST {prefix}/token``: a hub session for the client credentials (RFC 6749 §4.4)."""
        try:
            if method != "POST":
                raise _OAuthError(
                    "invalid_request", HubError("17", "dùng POST", "use POST"), 405,
                    {"Allow": "POST"},
                )  # fmt: skip
            client_id, secret = self._credentials(authorization, content_type, body)
        except _OAuthError as bad_request:
            return bad_request.answer()
        answer = self.hub.sign_in(client_id, secret, client, certificate)
        if answer.status == 200:
            session, ttl = answer.body["session"], answer.body["expires_in"]
            answer.body = {"access_token": session, "token_type": "Bearer", "expires_in": ttl}
            answer.headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
            answer.secret, answer.payload = session, None
            return answer
        error = _hub_error(answer)
        code = error.answer.code
        if code in ("20", "24", "25"):  # wrong credentials, disabled account, certificate
            refusal = _OAuthError("invalid_client", error, 401, _BASIC)
        elif code == "21":  # too many failures: wait for the window
            retry = str(self.hub.settings.login_window_seconds)
            refusal = _OAuthError("invalid_client", error, 429, {"Retry-After": retry})
        else:
            refusal = _OAuthError("invalid_request", error, error.answer.http_status)
        refused = refusal.answer()
        refused.account = answer.account
        return refused

    def _credentials(
        self, authorization: str | None, content_type: str, body: bytes
    ) -> tuple[str, str]:
        if content_type != FORM:
            raise _OAuthError(
                "invalid_request",
                HubError("11", f"cần {FORM}", f"expected {FORM}"),
                400,
            )
        try:
            fields = query_pairs(body)
        except HubError as error:
            raise _OAuthError("invalid_request", error, 400) from None
        form: dict[str, str] = {}
        for name, value in fields:
            if name in form:  # RFC 6749 §3.2: no parameter twice
                raise _OAuthError("invalid_request", _missing(f"{name}: chỉ một lần", name))
            form[name] = value
        grant = form.get("grant_type")
        if not grant:
            raise _OAuthError("invalid_request", _missing("grant_type", "grant_type"))
        if grant != "client_credentials":
            raise _OAuthError(
                "unsupported_grant_type",
                HubError(
                    "12",
                    f"grant_type {grant!r}: chỉ nhận client_credentials",
                    f"grant_type {grant!r}: only client_credentials",
                ),
            )
        in_form = "client_id" in form or "client_secret" in form
        if authorization is not None:
            if in_form:
                raise _OAuthError(
                    "invalid_request",
                    _missing(
                        "thông tin xác thực chỉ được gửi một cách (Basic hoặc biểu mẫu)",
                        "credentials in one way only (Basic or the form)",
                    ),
                )
            return _basic(authorization)
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if not client_id or secret is None:
            raise _OAuthError(
                "invalid_request",
                _missing(
                    "client_id, client_secret (hoặc Authorization: Basic)",
                    "client_id, client_secret (or Authorization: Basic)",
                ),
            )
        return client_id, secret

    # -- the service calls ---------------------------------------------------------------------

    def call(self, method: str, name: str, query: bytes, authorization: str | None,
             body: bytes, call: Call) -> Answer:  # fmt: skip
        """``{prefix}/{Service}`` and ``{prefix}/KetNoiMotCuaQuocGia/{Service}``: one envelope
        through the hub's pipeline, its answer reshaped."""
        alias = self.aliases.get(name)
        service = alias.service if alias is not None else name
        context: dict[str, Any] = {"service": service}
        try:
            self.hub.served(service)
            kind = self.hub.validator.catalog.packets[service].kind
            wanted = "POST" if kind is PacketKind.PUSH else "GET"
            if method not in (wanted, "HEAD" if wanted == "GET" else wanted):
                what = "đẩy dữ liệu" if wanted == "POST" else "chia sẻ"
                what_en = "a push" if wanted == "POST" else "a share"
                answer = _refusal(
                    HubError(
                        "17",
                        f"{service} là dịch vụ {what}: gọi bằng {wanted}",
                        f"{service} is {what_en}: call it with {wanted}",
                    ),
                    **context,
                )
                answer.headers = {"Allow": wanted}
                return answer
            params = self._params(service, query_pairs(query), alias)
            token = _bearer(authorization)
            unit = params.pop("madonvi", None) or self._only_unit(token, call)
            context["unit"] = unit
            envelope: dict[str, Any] = {"session": token, "madonvi": unit, "service": service}
            envelope.update(params)
            scan = False
            if kind is PacketKind.PUSH:
                value, problem, scan = loads(body)
                if problem is not None:
                    raise HubError("10", problem.vi, problem.en)
                if isinstance(value, dict):
                    value = [value]  # one record
                if not isinstance(value, list):
                    raise HubError(
                        "12",
                        "nội dung phải là một mảng JSON các bản ghi",
                        "the body must be a JSON array of records",
                    )
                envelope["data"] = value
        except HubError as error:
            return _refusal(error, **context)
        return self.hub.run_envelope(envelope, call, body, scan, shape_answer)

    def _params(
        self, service: str, pairs: list[tuple[str, str]], alias: Alias | None
    ) -> dict[str, str]:
        """The envelope's parameters from the query: the service's own (any case), the unit
        as ``madonvi``, ``isUpdating`` in its envelope form where the service has it."""
        own = self.params[service]
        params: dict[str, str] = {}
        for key, value in pairs:
            lowered = key.lower()
            if lowered == UNIT_PARAM.lower():
                name = "madonvi"
            elif lowered in own:
                name = own[lowered]
            else:
                continue  # not the service's: ignored, as the portal does
            if name in params:
                raise HubError("12", f"{key}: chỉ một lần", f"{key}: given more than once")
            if name == UPDATING_PARAM:
                flag = UPDATING_VALUES.get(value.strip().lower())
                if flag is None:
                    raise HubError(
                        "12",
                        f"{key}: True, False, true, false, 1 hoặc 0",
                        f"{key}: True, False, true, false, 1 or 0",
                    )
                value = flag
            params[name] = value
        if alias is not None and alias.updating is not None and UPDATING_PARAM.lower() in own:
            params[UPDATING_PARAM] = alias.updating  # the URL says which
        return params

    def _only_unit(self, token: str, call: Call) -> str:
        """The unit of an account that has exactly one; else HubError 12 naming the parameter
        (22/23/24 for a token that is no valid session)."""
        with self.hub.sessions() as db:
            principal = principal_for(db, token, call.client_certificate)
        if len(principal.units) != 1:
            raise HubError(
                "12",
                f"{UNIT_PARAM}: tài khoản có nhiều đơn vị",
                f"{UNIT_PARAM}: the account has several units",
            )
        return principal.units[0]


_BASIC = {"WWW-Authenticate": 'Basic realm="lienthong"'}


class _OAuthError(Exception):
    """A token refusal (RFC 6749 §5.2): its error name, the hub's reason, status, headers."""

    def __init__(
        self,
        name: str,
        error: HubError,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name)
        self.name, self.error, self.status, self.headers = name, error, status, headers

    def answer(self) -> Answer:
        body = self.error.body()
        return Answer(
            self.status,
            {
                "error": self.name,
                "error_description": body["message"],
                "error_description_en": body["message_en"],
                "retryable": body["retryable"],
            },
            headers={"Cache-Control": "no-store", **(self.headers or {})},
            log_code=self.error.answer.code,
        )


def _hub_error(answer: Answer) -> HubError:
    """The HubError behind a refusal the hub built (its code and messages)."""
    error = HubError(str(answer.body["error_code"]))
    base = error.answer
    message, message_en = str(answer.body["message"]), str(answer.body["message_en"])
    error.detail = message.removeprefix(base.vi).removeprefix(": ")
    error.detail_en = message_en.removeprefix(base.en).removeprefix(": ")
    return error


def _missing(detail: str, detail_en: str) -> HubError:
    return HubError("12", detail, detail_en)


def _basic(header: str) -> tuple[str, str]:
    """The client id and secret of ``Authorization: Basic base64(id:secret)``, taken as
    written (most clients do not form-encode them first)."""
    scheme, _, encoded = header.strip().partition(" ")
    malformed = _OAuthError(
        "invalid_request",
        _missing(
            "Authorization: cần Basic base64(client_id:client_secret)",
            "Authorization: expected Basic base64(client_id:client_secret)",
        ),
    )
    if scheme.lower() != "basic":
        raise malformed
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise malformed from None
    client_id, colon, secret = text.partition(":")
    if not colon or not client_id or not storable(text):
        raise malformed
    return client_id, secret


def _bearer(header: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; HubError 22 when there is none."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HubError("22", "Authorization: Bearer <access_token>", "Authorization: Bearer")
    return token


def lgsp_routes(hub: Hub) -> list[Route]:
    """The door's routes under the prefix of ``hub``'s settings; none for an empty prefix."""
    settings = hub.settings
    prefix = lgsp_prefix(settings)
    if not prefix:
        return []
    adapter = Adapter(hub)

    async def token(request: Request) -> Response:
        call, body, early = await received(request, "lgsp_token", settings, None)
        if early is not None:  # too large: in the token endpoint's own form
            error = _hub_error(early)
            early = _OAuthError("invalid_request", error, early.status).answer()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        work = partial(
            adapter.token,
            request.method,
            request.headers.get("authorization"),
            content_type,
            call.client,
            call.client_certificate,
        )
        return _json(await anyio.to_thread.run_sync(hub.handle, call, body, early, work))

    def service_call(request: Request) -> Callable[..., Answer]:
        return partial(
            adapter.call,
            request.method,
            request.path_params["service"],
            request.scope.get("query_string", b""),
            request.headers.get("authorization"),
        )

    async def service(request: Request) -> Response:
        # a share's GET has no body to check; a push's is JSON like an envelope's
        types = None if request.method in ("GET", "HEAD") else JSON_TYPES
        call, body, early = await received(request, "lgsp", settings, types)
        if early is not None:
            early.service = request.path_params["service"][:64]
            shape_refusal(early)
        work = partial(service_call(request), call=call)
        return _json(await anyio.to_thread.run_sync(hub.handle, call, body, early, work))

    return [
        Route(f"{prefix}/token", token, methods=METHODS),
        Route(f"{prefix}/{SHARE_SEGMENT}/{{service}}", service, methods=METHODS),
        Route(f"{prefix}/{{service}}", service, methods=METHODS),
    ]
