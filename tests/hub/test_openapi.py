"""The hub's OpenAPI 3.1 document: it validates, names every catalog service with its schema,
follows the settings' paths, is served as the CLI exports it, and holds against schemathesis.

schemathesis (a fuzzer nobody here wrote) generates requests from the document and checks
the live hub's answers against it, on SQLite and PostgreSQL. ``LIENTHONG_OPENAPI_EXAMPLES``
(per database) and ``LIENTHONG_OPENAPI_SEED`` set the run; ``make fuzz`` runs a longer one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from lienthong.cli.main import app
from lienthong.hub.app import Hub, service_handlers
from lienthong.hub.errors import ANSWER_CODES
from lienthong.hub.openapi import OPENAPI_PATH, hub_document, openapi_document
from lienthong.hub.settings import HubSettings
from lienthong.spec import bundled_profiles, load_catalog
from lienthong.spec.catalog import PacketKind
from lienthong.spec.export import packet_schema
from lienthong.store.tables import MessageLog
from tests.hub.conftest import PASSWORD, UNIT, RunningHub, free_port, serve
from tests.hub.test_protocol_doc import examples

EXAMPLES = int(os.environ.get("LIENTHONG_OPENAPI_EXAMPLES", "150"))
SEED = int(os.environ.get("LIENTHONG_OPENAPI_SEED", "120"))
DOCUMENT_URI = "urn:lienthong:openapi"


def _document(**overrides: Any) -> dict[str, Any]:
    return hub_document(HubSettings(**overrides))


def _validator(document: dict[str, Any], pointer: str) -> jsonschema.Draft202012Validator:
    """A JSON Schema validator of the schema at ``pointer`` in ``document`` (its refs resolved)."""
    resource = Resource(contents=document, specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    return jsonschema.Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry)


# -- the document --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", bundled_profiles())
def test_the_document_is_valid_openapi_31(profile: str) -> None:
    document = _document(profile=profile)
    assert document["openapi"] == "3.1.0"
    OPENAPI_31_VALIDATOR.validate(document)  # the OpenAPI 3.1 meta-schema, as schemathesis has it
    for name, schema in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            pytest.fail(f"{name}: {error.message}")
    loaded = schemathesis.openapi.from_dict(document)
    loaded.validate()
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /api/login",
        "POST /api/logout",
        "POST /api/integration",
        "POST /api/share",
        "POST /api/cong-dan/pakn",
        "POST /api/cong-dan/hoi-dap",
        "GET /openapi.json",
        "GET /",
    }


def test_the_validator_refuses_a_broken_document() -> None:
    """The meta-schema check above can fail: a document without its info is refused."""
    broken = _document()
    del broken["info"]
    with pytest.raises(ValueError):
        OPENAPI_31_VALIDATOR.validate(broken)


@pytest.mark.parametrize("profile", bundled_profiles())
def test_every_catalog_service_has_its_schema(profile: str) -> None:
    catalog = load_catalog(profile)
    document = _document(profile=profile)
    schemas = document["components"]["schemas"]
    envelope = document["components"]["requestBodies"]["Envelope"]["content"]["application/json"]
    mapping = envelope["schema"]["discriminator"]["mapping"]
    assert envelope["schema"]["discriminator"]["propertyName"] == "service"
    assert list(mapping) == list(catalog.packets)
    served = service_handlers(catalog)
    for name, packet in catalog.packets.items():
        assert mapping[name] == f"#/components/schemas/{name}"
        assert {"$ref": mapping[name]} in envelope["schema"]["oneOf"]
        exported = packet_schema(packet, catalog)
        schema = schemas[name]
        assert schema["x-schema-id"] == exported["$id"]
        assert schema["required"] == exported["required"]
        assert schema["properties"]["service"] == {"const": name}
        assert schema["x-lienthong-served"] is (name in served)
        # the packet's own records, as `lienthong spec export` has them
        assert schemas[f"{name}.record"] == exported["$defs"]["record"]
        if packet.kind is PacketKind.PUSH:
            items = schema["properties"]["data"]["items"]
            assert items == {"$ref": f"#/components/schemas/{name}.record"}
        else:
            assert f"{name}.answer" in schemas
            for param in packet.params:
                assert param.name in schema["properties"], (name, param.name)


def test_the_envelope_schema_picks_the_services_own() -> None:
    document = _document()
    envelope = _validator(
        document, "/components/requestBodies/Envelope/content/application~1json/schema"
    )
    good = {
        "session": "x",
        "madonvi": UNIT,
        "service": "TraCuuHoSo",
        "mahoso": "000.00.13.H56-260302-0001",
    }
    assert not list(envelope.iter_errors(good))
    assert list(envelope.iter_errors({**good, "mahoso": None}))  # TraCuuHoSo needs its mahoso
    assert list(envelope.iter_errors({**good, "service": "XoaHoSo"}))  # no such service


def test_the_documented_examples_fit_the_document() -> None:
    """Every answer of docs/protocol.md fits the schema of its path and status, and so does
    every request the hub takes; a request it refuses as malformed does not."""
    document = _document()
    login = HubSettings().login_path
    for example in examples():
        request = json.loads(example.request, object_hook=_filled)
        answer = json.loads(example.answer, object_hook=_filled)
        operation = f"/paths/{example.path.replace('/', '~1')}/post"
        body = (
            "/components/schemas/Login"
            if example.path == login
            else "/components/requestBodies/Envelope/content/application~1json/schema"
        )
        errors = [e.message for e in _validator(document, body).iter_errors(request)]
        records = answer.get("records")
        refused_input = (
            any(record["error_code"] == "15" for record in records)
            if records is not None
            else answer["error_code"] in ("12", "13", "15")
        )
        # what the hub takes fits the request schema; what it refuses as malformed does not
        assert bool(errors) is refused_input, (example.name, errors)
        responses = f"{operation}/responses/{example.status}/content/application~1json/schema"
        errors = [e.message for e in _validator(document, responses).iter_errors(answer)]
        assert not errors, (example.name, errors)
    assert len(examples()) >= 17


#: The placeholders of the documented examples, as a client would have them.
PLACEHOLDERS = {"<session>": "a-session-token", "<any>": "any text"}


def _filled(value: dict[str, Any]) -> dict[str, Any]:
    return {
        key: PLACEHOLDERS.get(item, item) if isinstance(item, str) else item
        for key, item in value.items()
    }


CUSTOM_PATHS = {
    "login_path": "/dvc/dang-nhap",
    "logout_path": "/dvc/dang-xuat",
    "integration_path": "/dvc/lien-thong",
    "share_path": "/dvc/chia-se",
}


def test_every_refusal_code_is_documented_at_its_status() -> None:
    document = _document()
    listed: set[str] = set()
    for path in document["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                schema = response["content"].get("application/json", {}).get("schema", {})
                for part in schema.get("allOf", []):
                    codes = part.get("properties", {}).get("error_code", {}).get("enum", [])
                    for code in codes:
                        assert ANSWER_CODES[code].http_status == int(status), (code, status)
                    listed.update(codes)
    refusals = {code for code, entry in ANSWER_CODES.items() if entry.http_status != 200}
    # 40 and 42 are answered per record of a push, in its records, never for a whole call;
    # 44 only by the public pages, in HTML, listed there as their 429
    assert listed == refusals - {"40", "42", "44"}
    pages = document["paths"]
    assert all(
        "429" in pages[path]["get"]["responses"] for path in ("/tra-cuu", "/pakn", "/hoi-dap")
    )


def test_the_paths_follow_the_settings() -> None:
    document = _document(**CUSTOM_PATHS)
    for setting, path in CUSTOM_PATHS.items():
        default = getattr(HubSettings(), setting)
        assert path in document["paths"], setting
        assert default not in document["paths"], setting
    assert "/healthz" in document["paths"]
    assert OPENAPI_PATH in document["paths"]
    assert document["paths"]["/dvc/lien-thong"]["post"]["operationId"] == "integration"


def test_the_document_names_only_the_served_services_as_served() -> None:
    catalog = load_catalog()
    document = openapi_document(catalog, HubSettings(), served=["TraCuuHoSo"])
    schemas = document["components"]["schemas"]
    assert schemas["TraCuuHoSo"]["x-lienthong-served"] is True
    assert schemas["DongBoHoSoMC"]["x-lienthong-served"] is False
    assert "code 13" in schemas["DongBoHoSoMC"]["description"]


# -- served and exported ----------------------------------------------------------------------


@pytest.fixture
def custom_hub(engine: Engine) -> Iterator[RunningHub]:
    settings = HubSettings(port=free_port(), **CUSTOM_PATHS)
    hub = Hub(settings, engine=engine)
    with serve(hub, settings) as running:
        yield running


def test_the_served_document_is_the_cli_export(
    custom_hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = custom_hub.client.get(OPENAPI_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert "/dvc/lien-thong" in served["paths"]
    env = {f"LIENTHONG_{name.upper()}": path for name, path in CUSTOM_PATHS.items()}
    output = tmp_path / "openapi.json"
    result = CliRunner().invoke(app, ["spec", "openapi", "--output", str(output)], env=env)
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == response.content
    to_stdout = CliRunner().invoke(app, ["spec", "openapi"], env=env)
    assert to_stdout.exit_code == 0
    assert json.loads(to_stdout.stdout) == served
    # like every page, the request is a message-log row
    with custom_hub.hub.sessions() as db:
        row = db.scalars(
            select(MessageLog).where(MessageLog.service == f"web:{OPENAPI_PATH}")
        ).one()
    assert (row.endpoint, row.http_status, row.error_code) == ("web", 200, "00")


def test_the_cli_export_follows_the_profile(tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"
    result = CliRunner().invoke(app, ["spec", "openapi", "-p", "dvcqg-2025", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert json.loads(output.read_text("utf-8"))["x-lienthong-profile"] == "dvcqg-2025"
    refused = CliRunner().invoke(app, ["spec", "openapi", "-p", "nope"])
    assert refused.exit_code == 2
    assert "invalid packet catalog" in refused.output


# -- schemathesis against a live hub ------------------------------------------------------------

ENVELOPE_OPERATIONS = ("POST /api/integration", "POST /api/share")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_schemathesis_finds_the_hub_true_to_its_document(running: RunningHub) -> None:
    """Generated requests (valid and invalid) to every operation: no 5xx, and every answer's
    status, content type, headers and body are the document's; a share's result is its own
    service's. Most envelopes carry a live session for the account's unit, so they reach the
    services."""
    token = running.login()
    schema = schemathesis.openapi.from_url(f"{running.base}{OPENAPI_PATH}")
    document = running.client.get(OPENAPI_PATH).json()
    answers: dict[str, jsonschema.Draft202012Validator] = {}
    seen: dict[str, int] = {}
    services: set[str] = set()

    def send(case: schemathesis.Case, signed_in: int) -> None:
        label = case.operation.label
        envelope = label in ENVELOPE_OPERATIONS and isinstance(case.body, dict)
        if envelope and signed_in:
            case.body["session"] = token
            case.body["madonvi"] = UNIT
        response = case.call(base_url=running.base)
        case.validate_response(response, checks=CHECKS)
        outcome = f"{label} {response.status_code}"
        if envelope:
            body = response.json()
            outcome += f" {body['error_code']}"
            if response.status_code == 200:
                service = case.body["service"]
                services.add(service)
                if "result" in body:
                    if service not in answers:
                        pointer = f"/components/schemas/{service}.answer"
                        answers[service] = _validator(document, pointer)
                    problems = [e.message for e in answers[service].iter_errors(body)]
                    assert not problems, (service, problems)
        seen[outcome] = seen.get(outcome, 0) + 1

    for result in schema.get_all_operations():
        operation = result.ok()
        examples = EXAMPLES if operation.label in ENVELOPE_OPERATIONS else max(EXAMPLES // 5, 1)
        strategy = st.one_of(
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        )
        run = given(case=strategy, signed_in=st.integers(0, 3))(send)
        run = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(run)
        seed(SEED)(run)()
    # the services were reached, not only refused at the session
    assert len(services) >= 5, seen


def test_schemathesis_can_fail(running: RunningHub) -> None:
    """The conformance check above is not vacuous: an answer the document does not describe
    (a login answered without its session) fails it."""
    schema = schemathesis.openapi.from_url(f"{running.base}{OPENAPI_PATH}")
    login = schema[running.settings.login_path]["POST"]
    case = login.Case(body={"username": "tinh_thanhhoa", "password": PASSWORD})
    response = case.call(base_url=running.base)
    case.validate_response(response, checks=[response_schema_conformance])
    broken = httpx.Response(
        200,
        json={k: v for k, v in response.json().items() if k != "session"},
        request=httpx.Request("POST", f"{running.base}{running.settings.login_path}"),
    )
    broken.elapsed = dt.timedelta(0)
    with pytest.raises(schemathesis.errors.FailureGroup) as caught:
        case.validate_response(broken, checks=[response_schema_conformance])
    assert '"session" is a required property' in str(caught.value)
