"""The hub's OpenAPI 3.1 description, built from the packet catalog and the settings.

Integrators generate clients from it and third-party tools test the hub with it (the test
suite runs schemathesis against a live hub). It is served at :data:`OPENAPI_PATH` and written by
``lienthong spec openapi``; both come from :func:`openapi_document`, so they are the same.

Each service's envelope is the packet's JSON Schema of ``lienthong spec export``
(:func:`lienthong.spec.export.packet_schema`), its ``$defs`` moved to ``components.schemas``
as ``<service>.record`` and ``<service>.response``. The session token is the envelope's body
field ``session``: OpenAPI's security schemes name only headers, queries and cookies, so the
document declares none and says so in ``x-lienthong-session``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from lienthong import __version__
from lienthong.hub.errors import ANSWER_CODES, SUCCESS_SPELLINGS
from lienthong.hub.settings import HubSettings
from lienthong.spec.catalog import Catalog, PacketKind
from lienthong.spec.export import packet_schema

OPENAPI_PATH = "/openapi.json"
OPENAPI_VERSION = "3.1.0"

#: The answer codes each endpoint can refuse with (the HTTP status is each code's own).
LOGIN_CODES = ("10", "11", "12", "14", "20", "21", "24", "25", "99")
LOGOUT_CODES = ("10", "11", "12", "14", "99")
ENVELOPE_CODES = (
    *("10", "11", "12", "13", "14", "15", "16"),
    *("22", "23", "24", "25", "30", "31", "41"),
    *("50", "51", "52", "53", "54", "55", "56", "57", "60", "99"),
)
CITIZEN_CODES = ("10", "11", "12", "14", "15", "43")
#: The top-level codes of a push answer, which sum up its records (always HTTP 200).
PUSH_CODES: tuple[str | int, ...] = (*SUCCESS_SPELLINGS.values(), "01", "3", "15")
OUTCOME_STATUSES = ("accepted", "updated", "unchanged", "exists", "rejected")

JSON = "application/json"
HTML = "text/html"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if description:
        schema["description"] = description
    return schema


def _success(properties: Mapping[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    """A successful answer (``error_code`` in the form of the account or the hub's setting),
    its messages and ``properties``."""
    return {
        "type": "object",
        "properties": {
            "error_code": {
                "enum": list(SUCCESS_SPELLINGS.values()),
                "description": 'Success: "0" by default; "00" or the number 0 where the '
                "account or LIENTHONG_SUCCESS_CODE asks for it",
            },
            "message": _text(),
            "message_en": _text(),
            **properties,
        },
        "required": ["error_code", "message", "message_en", *required],
    }


def _relocated(value: Any, name: str) -> Any:
    """``value`` with its references to ``#/$defs/X`` pointing at ``<name>.X`` in components."""
    if isinstance(value, dict):
        return {
            key: (
                f"#/components/schemas/{name}.{item.removeprefix('#/$defs/')}"
                if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/")
                else _relocated(item, name)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_relocated(item, name) for item in value]
    return value


def _service_schemas(catalog: Catalog, served: Collection[str]) -> dict[str, Any]:
    """Each service's envelope (``<service>``), record and, for a share, its success answer."""
    schemas: dict[str, Any] = {}
    for name, packet in catalog.packets.items():
        exported = _relocated(packet_schema(packet, catalog), name)
        # the export is a standalone document; inside this one its $id would move the base URI
        defs = exported.pop("$defs")
        exported.pop("$schema")
        exported["x-schema-id"] = exported.pop("$id")
        exported["x-lienthong-served"] = name in served
        if name not in served:
            exported["description"] += " (not served by this version: code 13)"
        schemas[name] = exported
        for part, schema in defs.items():
            schemas[f"{name}.{part}"] = schema
        if packet.kind is PacketKind.SHARE:
            answer = _success({"result": {"type": "array", "items": _ref(f"{name}.record")}})
            answer["required"].append("result")
            if name == "DoiSoatThongKeHoSo":  # whether the unit reported that month at all
                answer["properties"]["DaBaoCao"] = {"enum": ["True", "False"]}
                answer["required"].append("DaBaoCao")
            schemas[f"{name}.answer"] = {"allOf": [_ref(f"{name}.response"), answer]}
    return schemas


def _issue_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A validation issue; past the first records of a push answer, only its "
        "path and code (the messages are those of the same code earlier in the answer).",
        "properties": {
            "path": _text("where: $.data[1].NgayHenTra"),
            "code": _text("the issue code of packets.md: field.date, ..."),
            "severity": {"enum": ["error", "warning", "info"]},
            "message": _text(),
            "message_en": _text(),
        },
        "required": ["path", "code"],
    }


def _push_answer() -> dict[str, Any]:
    outcome = {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "key": {"type": ["string", "null"]},
            "status": {"enum": list(OUTCOME_STATUSES)},
            "error_code": {"type": ["string", "integer"]},
            "issues": {"type": "array", "items": _ref("Issue")},
            "issues_omitted": {"type": "integer", "minimum": 1},
            "message": _text(),
            "message_en": _text(),
        },
        "required": ["index", "key", "status", "error_code"],
    }
    return {
        "type": "object",
        "description": "The answer to a push: one outcome per record of data, in order. HTTP "
        "200 whatever the top-level code, which sums up the records.",
        "properties": {
            "error_code": {"enum": list(PUSH_CODES)},
            "message": _text(),
            "message_en": _text(),
            "records": {"type": "array", "items": outcome},
            "issues": {"type": "array", "items": _ref("Issue")},
        },
        "required": ["error_code", "message", "message_en", "records"],
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A refusal of the whole call: nothing was done. retryable: whether "
        "sending the same request again (later, or after logging in again) can succeed.",
        "properties": {
            "error_code": _text(),
            "message": _text(),
            "message_en": _text(),
            "retryable": {"type": "boolean"},
        },
        "required": ["error_code", "message", "message_en", "retryable"],
        "anyOf": [
            {
                "properties": {
                    "error_code": {"const": code},
                    "retryable": {"const": entry.retryable},
                },
                "description": entry.en,
            }
            for code, entry in ANSWER_CODES.items()
            if entry.http_status != 200
        ],
    }


def _refusals(codes: Iterable[str], error: str = "Error") -> dict[str, Any]:
    """The responses of the refusals ``codes``, grouped by their HTTP status."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ANSWER_CODES[code].http_status, []).append(code)
    responses: dict[str, Any] = {}
    for status, listed in sorted(by_status.items()):
        described = "; ".join(f"{code} {ANSWER_CODES[code].en}" for code in listed)
        schema = {
            "allOf": [
                _ref(error),
                {"properties": {"error_code": {"enum": listed}}},
            ]
        }
        response: dict[str, Any] = {
            "description": f"code {described}",
            "content": {JSON: {"schema": schema}},
        }
        if "43" in listed:
            response["headers"] = {
                "Retry-After": {
                    "description": "seconds until a counted submission leaves the window",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
            }
        responses[str(status)] = response
    return responses


def _json_body(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _health_schema(status: str, database: str) -> dict[str, Any]:
    """``GET /healthz``'s answer (:mod:`lienthong.hub.health`)."""
    return {
        "type": "object",
        "properties": {
            "status": {"const": status},
            "database": {"const": database},
            "version": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "receipts": {
                "enum": ["ok", "blocked", "unchecked"],
                "description": "Only with a receipt key: blocked while it is revoked or expired "
                "(pushes are answered without a receipt).",
            },
        },
        "required": ["status", "database", "version", "time"],
    }


def _citizen_schemas() -> dict[str, Any]:
    """The requests and answers of the citizens' API (``/api/cong-dan/...``)."""
    from lienthong.hub import petitions
    from lienthong.hub.web_citizen import DEFAULT_MAX_LENGTH, PETITION, QUESTION

    schemas: dict[str, Any] = {}
    for kind, name in ((PETITION, "CitizenPetition"), (QUESTION, "CitizenQuestion")):
        properties: dict[str, Any] = {}
        for field in kind.allowed:
            spec = kind.field(field)
            schema = _text(f"{spec.vi} / {spec.en}" if spec is not None else "")
            schema["maxLength"] = spec.max_length if spec is not None else DEFAULT_MAX_LENGTH
            if field == kind.unit_name_field:
                schema["description"] = (
                    "set by the hub from the unit list; a value sent is replaced"
                )
            properties[field] = schema
        if kind.files_field:
            properties[kind.files_field] = {
                "type": "array",
                "maxItems": petitions.CITIZEN_MAX_FILES,
                "description": f"documents: {petitions.CITIZEN_FILE_LABELS}; at most "
                f"{petitions.CITIZEN_MAX_FILE_BYTES} bytes each, "
                f"{petitions.CITIZEN_MAX_TOTAL_BYTES} in all",
                "items": {
                    "type": "object",
                    "properties": {
                        "TenTep": {"type": "string", "minLength": 1, "maxLength": 255},
                        "LoaiTep": _text("informative: the hub sets the type from the name"),
                        "NoiDung": {"type": "string", "contentEncoding": "base64"},
                    },
                    "required": ["TenTep", "NoiDung"],
                    "additionalProperties": False,
                },
            }
        required = [spec.name for spec in kind.fields if spec.required]
        schemas[name] = {
            "type": "object",
            "description": f"{kind.title} / {kind.title_en}",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
            "anyOf": [{"required": [kind.phone_field]}, {"required": [kind.email_field]}],
        }
        answer: dict[str, Any] = {"Id": _text("the id to follow it with"), "TrangThai": _text()}
        if kind.files_field:
            answer["SoTaiLieu"] = {"type": "string", "pattern": "^[0-9]+$"}
        schemas[f"{name}.answer"] = _success(answer, list(answer))
    schemas["CitizenError"] = {
        "allOf": [_ref("Error")],
        "properties": {
            "issues": {
                "type": "array",
                "description": "code 15: one issue per bad field",
                "items": {
                    "type": "object",
                    "properties": {
                        "path": _text("$.Email, $.TaiLieuDinhKem[0].NoiDung, ..."),
                        "message": _text(),
                        "message_en": _text(),
                    },
                    "required": ["path", "message", "message_en"],
                },
            }
        },
    }
    return schemas


def _pages() -> dict[str, Any]:
    """The public pages, as GETs answering HTML (their forms post with a CSRF token)."""

    def page(summary: str, statuses: Mapping[int, str], *query: tuple[str, str]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "tags": ["pages"],
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "required": False,
                        "description": description,
                        "schema": {"type": "string"},
                    }
                    for name, description in query
                ],
                "responses": {
                    str(status): {"description": text, "content": {HTML: {"schema": _text()}}}
                    for status, text in statuses.items()
                },
            }
        }

    words = ("tukhoa", "search words")
    number = ("trang", "page number, from 1")
    limited = "too many lookups from this address (code 44 in the message log; Retry-After)"
    return {
        "/": page("Home page: a search box for a dossier code", {200: "the page"}),
        "/tra-cuu": page(
            "A citizen's dossier lookup",
            {
                200: "found, or the search form",
                400: "malformed code",
                404: "unknown code",
                429: limited,
            },
            ("mahoso", "the dossier code"),
        ),
        "/pakn": page("Published petitions", {200: "the list", 429: limited}, words, number),
        "/pakn/gui": page("The petition form", {200: "the form"}),
        "/hoi-dap": page(
            "Answered questions and the ministries' Q&A sets",
            {200: "the list", 429: limited},
            words,
            ("nguon", "cong-dan, don-vi or bo-nganh; empty for all"),
            number,
        ),
        "/hoi-dap/gui": page("The question form", {200: "the form"}),
    }


def openapi_document(
    catalog: Catalog, settings: HubSettings, served: Collection[str]
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a hub with ``settings``, ``catalog`` and ``served`` services."""
    from lienthong.hub.web_citizen import PETITION, QUESTION

    services = list(catalog.packets)
    shares = [name for name, packet in catalog.packets.items() if packet.kind is PacketKind.SHARE]
    envelope = {
        "oneOf": [_ref(name) for name in services],
        "discriminator": {
            "propertyName": "service",
            "mapping": {name: f"#/components/schemas/{name}" for name in services},
        },
    }
    success = {"anyOf": [_ref("PushAnswer"), *(_ref(f"{name}.answer") for name in shares)]}
    envelope_call: dict[str, Any] = {
        "tags": ["services"],
        "x-lienthong-session": "the envelope's body field session, from the login answer",
        "requestBody": {"$ref": "#/components/requestBodies/Envelope"},
        "responses": {
            "200": _answer(
                success,
                "done: a push answer (records) or a share answer (result); the service's own is "
                "<service>.answer (shares) or PushAnswer (pushes)",
            ),
            **_refusals(ENVELOPE_CODES),
        },
    }
    login_answer = _success(
        {
            "session": {"type": "string", "minLength": 1, "description": "the session token"},
            "expires_in": {"type": "integer", "description": "its lifetime in seconds"},
        },
        ("session", "expires_in"),
    )
    paths: dict[str, Any] = {
        settings.login_path: {
            "post": {
                "operationId": "login",
                "summary": "Log in: a session token for the envelopes",
                "tags": ["sessions"],
                "requestBody": _json_body(_ref("Login")),
                "responses": {
                    "200": _answer(login_answer, "logged in"),
                    **_refusals(LOGIN_CODES),
                },
            }
        },
        settings.logout_path: {
            "post": {
                "operationId": "logout",
                "summary": "End a session (the same answer whether it was open or not)",
                "tags": ["sessions"],
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "properties": {"session": {"type": "string", "minLength": 1}},
                        "required": ["session"],
                    }
                ),
                "responses": {
                    "200": _answer(_success({"ended": {"const": True}}, ["ended"]), "ended"),
                    **_refusals(LOGOUT_CODES),
                },
            }
        },
        settings.integration_path: {
            "post": {
                "operationId": "integration",
                "summary": "One envelope: a push or a share, dispatched on service",
                **envelope_call,
            }
        },
        settings.share_path: {
            "post": {
                "operationId": "share",
                "summary": "The second envelope endpoint: the same services, dispatched the same",
                **envelope_call,
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Health: the database answers; the version; the time of the check",
                "tags": ["operations"],
                "responses": {
                    "200": _answer(_health_schema("ok", "ok"), "the hub and its database are up"),
                    "503": _answer(
                        _health_schema("error", "unreachable"), "the database does not answer"
                    ),
                },
            }
        },
        OPENAPI_PATH: {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["operations"],
                "responses": {"200": _answer({"type": "object"}, "the OpenAPI document")},
            }
        },
    }
    for kind, name in ((PETITION, "CitizenPetition"), (QUESTION, "CitizenQuestion")):
        paths[kind.api_path] = {
            "post": {
                "operationId": f"citizen_{kind.key}",
                "summary": f"{kind.title_en} (no login)",
                "tags": ["citizens"],
                "requestBody": _json_body(_ref(name)),
                "responses": {
                    "200": _answer(_ref(f"{name}.answer"), "stored"),
                    **_refusals(CITIZEN_CODES, "CitizenError"),
                },
            }
        }
    paths.update(_pages())
    paths.update(_adapter_paths(catalog, settings, served))
    login_fields = {spec.name: spec for spec in catalog.login_request}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "lienthong hub",
            "version": __version__,
            "summary": "QCVN 120:2019 interconnection: the national portal's side",
            "description": (
                f"Packet catalog profile {catalog.profile}. Log in at {settings.login_path}, "
                "then POST one JSON envelope per call to the integration or share endpoint, "
                "with the session token in its body field session (no header carries it). Every "
                "answer has error_code, message (Vietnamese) and message_en; a refusal also "
                "has retryable. Answer codes: docs/protocol.md, section 8."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "sessions", "description": "login and logout"},
            {"name": "services", "description": "the envelopes of the catalog's services"},
            {"name": "citizens", "description": "the citizens' API: petitions and questions"},
            {"name": "pages", "description": "server-rendered pages for people"},
            {"name": "operations", "description": "health and this document"},
            {
                "name": "adapters",
                "description": "the provincial adapters' door (LGSP): a bearer token, one URL "
                "per service (docs/protocol.md, section 11)",
            },
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the adapters' door only: a token from its /token",
                }
            },
            "requestBodies": {
                "Envelope": _json_body(
                    envelope, "one envelope: session, madonvi, service and the service's own"
                )
            },
            "schemas": {
                "Login": {
                    "type": "object",
                    "properties": {
                        name: _text(" / ".join(part for part in (spec.vi, spec.en) if part))
                        for name, spec in login_fields.items()
                    },
                    "required": [name for name, spec in login_fields.items() if spec.required],
                },
                "Error": _error_schema(),
                "Issue": _issue_schema(),
                "PushAnswer": _push_answer(),
                **_adapter_schemas(),
                **_citizen_schemas(),
                **_service_schemas(catalog, served),
            },
        },
        "x-lienthong-profile": catalog.profile,
        "x-lienthong-session": {"in": "body", "name": "session"},
    }


#: The refusals of the adapters' door: the envelope's, and 17 for a wrong method.
ADAPTER_CODES = (*ENVELOPE_CODES, "17")
FORM = "application/x-www-form-urlencoded"


def _adapter_schemas() -> dict[str, Any]:
    share = _success({"message": _text("the share's result as JSON text")})
    del share["properties"]["message_en"]
    share["required"] = ["error_code", "message"]
    return {
        "TokenAnswer": {
            "type": "object",
            "properties": {
                "access_token": {"type": "string", "minLength": 1},
                "token_type": {"const": "Bearer"},
                "expires_in": {"type": "integer"},
            },
            "required": ["access_token", "token_type", "expires_in"],
        },
        "TokenError": {
            "type": "object",
            "description": "RFC 6749 section 5.2, with the descriptions in both languages",
            "properties": {
                "error": {"enum": ["invalid_request", "invalid_client", "unsupported_grant_type"]},
                "error_description": _text(),
                "error_description_en": _text(),
                "retryable": {"type": "boolean"},
            },
            "required": ["error", "error_description", "error_description_en", "retryable"],
        },
        "AdapterPushAnswer": {
            "allOf": [_ref("PushAnswer")],
            "description": "message holds the words thành công exactly when every record was taken",
        },
        "AdapterShareAnswer": share,
    }


def _adapter_paths(
    catalog: Catalog, settings: HubSettings, served: Collection[str]
) -> dict[str, Any]:
    """The adapters' door (``lienthong.hub.lgsp``): none when its prefix is empty."""
    from lienthong.hub.lgsp import SHARE_SEGMENT, UNIT_PARAM, lgsp_prefix, parse_aliases

    prefix = lgsp_prefix(settings)
    if not prefix:
        return {}
    kinds = {name: p.kind for name, p in catalog.packets.items() if name in served}
    pushes = [name for name, kind in kinds.items() if kind is PacketKind.PUSH]
    shares = [name for name, kind in kinds.items() if kind is PacketKind.SHARE]
    params = sorted(
        {spec.name for name in shares for spec in catalog.packets[name].params}, key=str.lower
    )

    def query(name: str, description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": {"type": "string"},
        }

    def service(names: list[str]) -> dict[str, Any]:
        return {"name": "Service", "in": "path", "required": True, "schema": {"enum": names}}

    unit = query(UNIT_PARAM, "the unit (madonvi); absent: the account's only unit")
    challenge = {
        "WWW-Authenticate": {"description": 'Bearer error="invalid_token"', "schema": _text()}
    }

    def refusals() -> dict[str, Any]:
        responses = _refusals(ADAPTER_CODES)
        responses["401"]["headers"] = challenge
        return responses

    security: list[dict[str, list[str]]] = [{"bearer": []}]
    token_refused = {"content": {JSON: {"schema": _ref("TokenError")}}}
    return {
        f"{prefix}/token": {
            "post": {
                "operationId": "adapter_token",
                "summary": "An access token for client credentials (OAuth2, RFC 6749 4.4)",
                "tags": ["adapters"],
                "requestBody": {
                    "required": True,
                    "content": {
                        FORM: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "grant_type": {"const": "client_credentials"},
                                    "client_id": _text("the account's username"),
                                    "client_secret": _text("its password"),
                                },
                                "required": ["grant_type"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": _answer(_ref("TokenAnswer"), "a hub session as a bearer token"),
                    "400": {"description": "malformed request or grant", **token_refused},
                    "401": {
                        "description": "wrong credentials or disabled account",
                        "headers": {"WWW-Authenticate": {"schema": _text()}},
                        **token_refused,
                    },
                    "413": {"description": "body too large", **token_refused},
                    "429": {
                        "description": "too many failed logins",
                        "headers": {"Retry-After": {"schema": _text()}},
                        **token_refused,
                    },
                },
            }
        },
        f"{prefix}/{{Service}}": {
            "post": {
                "operationId": "adapter_push",
                "summary": "A push: a bare JSON array of records (an object is one record)",
                "tags": ["adapters"],
                "security": security,
                "parameters": [
                    service(pushes + list(parse_aliases(settings.lgsp_aliases))),
                    unit,
                    query("isUpdating", "True, False, true, false, 1 or 0"),
                ],
                "requestBody": _json_body(
                    {"type": ["array", "object"], "items": {"type": "object"}}
                ),
                "responses": {
                    "200": _answer(_ref("AdapterPushAnswer"), "the per-record outcomes"),
                    **refusals(),
                },
            }
        },
        f"{prefix}/{SHARE_SEGMENT}/{{Service}}": {
            "get": {
                "operationId": "adapter_share",
                "summary": "A share; its parameters by name in the query, in any case",
                "tags": ["adapters"],
                "security": security,
                "parameters": [
                    service(shares),
                    unit,
                    *(query(name, "a parameter of the services that have it") for name in params),
                ],
                "responses": {
                    "200": _answer(_ref("AdapterShareAnswer"), "the result as JSON text"),
                    **refusals(),
                },
            }
        },
    }


def hub_document(settings: HubSettings) -> dict[str, Any]:
    """The document of a hub started with ``settings`` (its catalog, its served services)."""
    from lienthong.hub.app import service_handlers
    from lienthong.spec import load_catalog

    catalog = load_catalog(settings.profile)
    return openapi_document(catalog, settings, service_handlers(catalog))


def serialized(document: Mapping[str, Any]) -> bytes:
    """The document as served and exported: UTF-8 JSON, indented, one final newline."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
