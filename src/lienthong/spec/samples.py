"""Valid sample packets for integrators: curated ones for the bundled packets (``data/samples.yaml``,
values fictitious), and a generated one for any packet an override adds."""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from lienthong.spec.catalog import Catalog, FieldSpec, PacketKind, PacketSpec

SAMPLE_SESSION = "c2Vzc2lvbi10b2tlbi1leGFtcGxl"
SAMPLE_UNIT = "000.00.00.H56"

_FORMAT_EXAMPLES = {
    "agency_code": "000.00.00.H56",
    "dossier_code": "000.00.13.H56-240715-0001",
    "tthc_code": "1.001612",
    "linhvuc_code": "G09-TL01",
    "personal_id": "038099012345",
    "social_insurance": "3812345678",
    "email": "lienhe@example.vn",
    "phone": "0912345678",
    "url": "https://motcua.example.gov.vn/files/1",
    "percent": "50",
    "month_year": "7-2024",
}


@lru_cache(maxsize=1)
def _curated() -> dict[str, Any]:
    text = resources.files("lienthong.spec").joinpath("data", "samples.yaml").read_text("utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return dict(data.get("samples") or {})


def example_value(spec: FieldSpec, catalog: Catalog) -> Any:
    """A plausible valid value for one field (used when no curated sample exists)."""
    if spec.type == "array":
        return [example_record(spec.fields, catalog)]
    if spec.type == "string_array":
        return []
    if spec.codes is not None:
        return catalog.code_lists[spec.codes].codes[0]
    if spec.format is not None:
        return _FORMAT_EXAMPLES[spec.format]
    if spec.type == "date":
        return "15/07/2024" if spec.date_formats[0] == "dd/MM/yyyy" else "20240715083000"
    if spec.type == "integer":
        return "1"
    if spec.type == "decimal":
        return "0"
    if spec.type == "bool":
        return "False"
    text = spec.vi or spec.name
    return text[: spec.max_length] if spec.max_length else text


def example_record(specs: tuple[FieldSpec, ...], catalog: Catalog) -> dict[str, Any]:
    return {spec.name: example_value(spec, catalog) for spec in specs}


def sample(packet: PacketSpec, catalog: Catalog) -> dict[str, Any]:
    """``{"request": envelope, "response": answer-or-None}`` for ``packet``.

    The curated sample is used when it still fits the catalog's field names; an override that
    renamed or added required fields gets a generated sample instead.
    """
    curated = _curated().get(packet.name)
    if curated is not None and _fits(curated, packet):
        return copy.deepcopy(curated)
    envelope: dict[str, Any] = {
        "session": SAMPLE_SESSION,
        "madonvi": SAMPLE_UNIT,
        "service": packet.name,
    }
    envelope.update(example_record(packet.params, catalog))
    if packet.kind is PacketKind.PUSH:
        envelope["data"] = [example_record(packet.fields, catalog)]
        return {"request": envelope, "response": {"error_code": "0", "message": "Thành công"}}
    return {
        "request": envelope,
        "response": {
            "error_code": "0",
            "message": "Thành công",
            "result": [example_record(packet.fields, catalog)],
        },
    }


def _fits(curated: dict[str, Any], packet: PacketSpec) -> bool:
    names = {spec.name for spec in packet.fields}
    required = {spec.name for spec in packet.fields if spec.required}
    request = curated.get("request") or {}
    rows = (
        request.get("data")
        if packet.kind is PacketKind.PUSH
        else (curated.get("response") or {}).get("result")
    )
    for row in rows or []:
        if not isinstance(row, dict) or not set(row) <= names or not required <= set(row):
            return False
    return True
