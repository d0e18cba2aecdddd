"""Exports of the catalog: JSON Schema (2020-12) per packet and the Markdown reference.

``docs/packets.md`` is the Markdown export of the default profile; a test keeps it in sync.
JSON Schema cannot express every rule (real calendar dates, identifier hierarchies, cross-field
sums): those are named in ``x-lienthong-*`` keywords and checked by :class:`Validator` only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from lienthong.spec.catalog import Catalog, FieldSpec, PacketKind, PacketSpec
from lienthong.spec.compiler import BOOL_TEXT
from lienthong.spec.issues import ISSUE_CODES, STRICT_ONLY_CODES

INTEGER_PATTERN = r"-?[0-9]+"
DECIMAL_PATTERN = r"-?[0-9]+(?:\.[0-9]+)?"
BOOL_VALUES = sorted(BOOL_TEXT)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE = "https://lienthong.github.io/schema"


def _nullable(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    if required:
        return schema
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return {**schema, "type": [*kinds, "null"]}
    if isinstance(kinds, str):
        return {**schema, "type": [kinds, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _optional_pattern(pattern: str, required: bool) -> str:
    return f"^(?:{pattern})$" if required else f"^(?:{pattern})?$"


def field_schema(spec: FieldSpec, catalog: Catalog) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.type == "array":
        schema = {"type": "array", "items": record_schema(spec.fields, catalog)}
    elif spec.type == "string_array":
        schema = {"type": "array", "items": {"type": "string"}}
    elif spec.codes is not None:
        codes = list(catalog.code_lists[spec.codes].codes)
        numbers: list[Any] = [int(c) for c in codes if c.isdigit()]
        schema = {"enum": [*codes, *numbers, *([] if spec.required else [""])]}
    elif spec.type == "integer":
        schema = {
            "type": ["string", "integer"],
            "pattern": _optional_pattern(INTEGER_PATTERN, spec.required),
        }
    elif spec.type == "decimal" and spec.format is None:
        schema = {
            "type": ["string", "number"],
            "pattern": _optional_pattern(DECIMAL_PATTERN, spec.required),
        }
    elif spec.type == "bool":
        schema = {"enum": [*BOOL_VALUES, True, False]}
    elif spec.type == "date":
        schema = {"type": "string"}
        if spec.date_formats == ("yyyyMMddHHmmss",):
            schema["pattern"] = _optional_pattern("[0-9]{14}", spec.required)
    else:
        schema = {"type": ["string", "number"] if spec.type == "decimal" else "string"}
    if spec.type in ("string", "date", "decimal") or spec.max_length is not None:
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
        if spec.required and "enum" not in schema:
            schema["minLength"] = 1
    if spec.codes is None and spec.type in ("integer", "decimal"):
        # applies to JSON numbers; text values carry the same range in x-lienthong-range
        if spec.minimum is not None:
            schema["minimum"] = spec.minimum
        if spec.maximum is not None:
            schema["maximum"] = spec.maximum
        if spec.minimum is not None or spec.maximum is not None:
            schema["x-lienthong-range"] = [spec.minimum, spec.maximum]
    schema = _nullable(schema, spec.required)
    description = " / ".join(part for part in (spec.vi, spec.en) if part)
    if description:
        schema["description"] = description
    if spec.format:
        schema["x-lienthong-format"] = spec.format
    if spec.codes:
        schema["x-lienthong-codes"] = spec.codes
    if spec.type == "date":
        schema["x-lienthong-date-formats"] = list(spec.date_formats)
    schema["x-confidence"] = spec.confidence
    return schema


def record_schema(specs: Sequence[FieldSpec], catalog: Catalog) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {spec.name: field_schema(spec, catalog) for spec in specs},
        "required": [spec.name for spec in specs if spec.required],
        "additionalProperties": True,
    }


def packet_schema(packet: PacketSpec, catalog: Catalog) -> dict[str, Any]:
    """JSON Schema of the envelope of ``packet`` (with its records in ``$defs.record``)."""
    envelope = {
        spec.name: field_schema(spec, catalog) for spec in (*catalog.envelope, *packet.params)
    }
    envelope["service"] = {"const": packet.name}
    required = [s.name for s in (*catalog.envelope, *packet.params) if s.required]
    defs: dict[str, Any] = {"record": record_schema(packet.fields, catalog)}
    if packet.kind is PacketKind.PUSH:
        envelope["data"] = {"type": "array", "items": {"$ref": "#/$defs/record"}}
        required.append("data")
    else:
        defs["response"] = {
            "type": "object",
            "properties": {
                "error_code": {"type": ["string", "integer"]},
                "message": {"type": "string"},
                "result": {"type": "array", "items": {"$ref": "#/$defs/record"}},
            },
            "required": ["error_code"],
        }
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_BASE}/{catalog.profile}/{packet.name}.json",
        "title": packet.name,
        "description": f"{packet.vi} / {packet.en}",
        "type": "object",
        "properties": envelope,
        "required": required,
        "$defs": defs,
        "x-qcvn120-id": packet.id,
        "x-status": packet.status.value,
        "x-rules": list(packet.rules),
    }


def catalog_schemas(catalog: Catalog) -> dict[str, dict[str, Any]]:
    return {name: packet_schema(packet, catalog) for name, packet in catalog.packets.items()}


# ---------------------------------------------------------------------------------------------
# Markdown


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _field_rows(specs: Sequence[FieldSpec], prefix: str = "") -> Iterator[str]:
    for spec in specs:
        checks = []
        if spec.max_length:
            checks.append(f"≤ {spec.max_length}")
        if spec.minimum is not None or spec.maximum is not None:
            low = "" if spec.minimum is None else spec.minimum
            high = "" if spec.maximum is None else spec.maximum
            checks.append(f"{low}…{high}")
        if spec.codes:
            checks.append(f"codes `{spec.codes}`")
        if spec.format:
            checks.append(f"`{spec.format}`")
        if spec.type == "date":
            checks.append(" or ".join(spec.date_formats))
        name = f"`{prefix}{spec.name}`"
        en = (
            f"{spec.en} (beyond the official count: {spec.beyond_official})"
            if spec.beyond_official
            else spec.en
        )
        yield (
            f"| {name} | {spec.type} | {'yes' if spec.required else ''} | {_cell(', '.join(checks))} "
            f"| {spec.confidence} | {_cell(spec.vi)} | {_cell(en)} |"
        )
        if spec.fields:
            yield from _field_rows(spec.fields, f"{prefix}{spec.name}[].")


def _field_table(specs: Sequence[FieldSpec]) -> list[str]:
    return [
        "| field | type | required | checks | confidence | vi | en |",
        "|---|---|---|---|---|---|---|",
        *_field_rows(specs),
    ]


def markdown(catalog: Catalog) -> str:
    lines = [
        f"# Packet reference: profile `{catalog.profile}`",
        "",
        "<!-- Generated by `lienthong spec export --format markdown` (make docs). Do not edit: a test",
        "     compares this file with the catalog. -->",
        "",
        f"{catalog.title_vi}",
        "",
        f"_{catalog.title_en}_",
        "",
        f"Profile chain: {' → '.join(f'`{p}`' for p in catalog.chain)}. The catalog format and how to",
        "override it: [catalog-format.md](catalog-format.md).",
        "",
        "**Status.** `confirmed`: every field was seen on the wire in implementation code. `partial`:",
        "some official fields are missing from the evidence. `provisional`: the official table is",
        "unknown and the fields are lienthong's own proposal; validating such a packet always warns",
        "(`packet.provisional`).",
        "",
        "## Packets",
        "",
        "**Fields.** Known of official: the fields the catalog knows beside the count Table 1 of",
        "QCVN 120 gives the packet (for a share, the fields of a returned row). A field beyond the",
        "count says where it comes from; a packet with fewer says how many are unknown.",
        "",
        "| QCVN 120 | packet | kind | status | fields (known of official) | provisional fields |",
        "|---|---|---|---|---|---|",
    ]
    for packet in catalog.packets.values():
        lines.append(
            f"| {packet.id or ''} | [`{packet.name}`](#{packet.name.lower()}) | {packet.kind.value} "
            f"| {packet.status.value} | {_cell(packet.official_count())} "
            f"| {len(packet.provisional_fields())} |"
        )
    provisional = [p.name for p in catalog.provisional_packets()]
    lines += ["", f"Provisional packets: {', '.join(f'`{n}`' for n in provisional) or 'none'}.", ""]
    lines += ["## Envelope", "", *_field_table(catalog.envelope), ""]
    lines += ["## Login", "", "Request:", "", *_field_table(catalog.login_request), ""]
    lines += ["Response:", "", *_field_table(catalog.login_response), ""]
    for packet in catalog.packets.values():
        lines += [f"## {packet.name}", ""]
        header = (
            f"QCVN 120 {packet.id}, table {packet.table}"
            if packet.id
            else "Service outside the 15 QCVN 120 packets"
        )
        lines += [f"{header}. Kind `{packet.kind.value}`, status **{packet.status.value}**.", ""]
        if packet.is_provisional:
            lines += [
                "> **Provisional**: the official fields are unknown; this field set is lienthong's proposal.",
                "",
            ]
        lines += [f"{packet.vi}", "", f"_{packet.en}_", ""]
        if packet.official_fields is not None:
            sent = (
                f"; sent: {len(packet.params)} of {packet.official_params}"
                if packet.official_params is not None
                else ""
            )
            note = f" {packet.official_note}" if packet.official_note else ""
            lines += [f"Fields, known of official: {packet.official_count()}{sent}.{note}", ""]
        if packet.params:
            lines += [
                "Parameters (beside `session`, `madonvi`, `service`):",
                "",
                *_field_table(packet.params),
                "",
            ]
        where = "`data[]`" if packet.kind is PacketKind.PUSH else "`result[]`"
        lines += [f"Fields of each record in {where}:", "", *_field_table(packet.fields), ""]
        if packet.rules:
            lines += [f"Cross-field rules: {', '.join(f'`{r}`' for r in packet.rules)}.", ""]
        if packet.layouts:
            names = ", ".join(f"`{name}`" for name in packet.layouts)
            lines += [
                f"Other layouts taken (rewritten into this one, warning `record.layout`): {names}.",
                "",
            ]
    lines += ["## Code lists", ""]
    for code_list in catalog.code_lists.values():
        lines += [
            f"### {code_list.name}",
            "",
            f"{code_list.vi} / {code_list.en} (confidence: {code_list.confidence})",
            "",
        ]
        lines += ["| code | vi | en |", "|---|---|---|"]
        lines += [f"| `{v.code}` | {_cell(v.vi)} | {_cell(v.en)} |" for v in code_list.values]
        lines.append("")
    lines += [
        "## Issue codes",
        "",
        "| code | severity | message (vi) | message (en) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{entry.code}` | {entry.severity.value}{' (strict: error)' if entry.code in STRICT_ONLY_CODES else ''} "
        f"| {_cell(entry.vi)} | {_cell(entry.en)} |"
        for entry in ISSUE_CODES.values()
    ]
    lines.append("")
    return "\n".join(lines)
