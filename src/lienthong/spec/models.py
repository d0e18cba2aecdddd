"""Typed pydantic models built from the catalog: one class per packet, generated, never hand-written.

Attribute names are the wire names. Values keep their wire form (strings for numbers, flags and
dates, as existing systems send them), so parse -> serialize -> parse is exact.

The rules (lengths, code lists, identifier formats, real dates, cross-field checks) live in the
compiled checker of :class:`~lienthong.spec.validate.Validator`, generated from the same catalog.
Validating a packet model runs that checker first: ``DongBoHoSoMC.model_validate(record)``
raises a pydantic ``ValidationError`` whose error types are the stable lienthong issue codes.

``from lienthong.spec.models import DongBoHoSoMC`` gives the model of the default profile;
:func:`model_for` builds them for any catalog.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from lienthong.spec.catalog import Catalog, FieldSpec, PacketSpec, load_catalog

_CONFIG = ConfigDict(extra="allow", coerce_numbers_to_str=True, protected_namespaces=())


class PacketModel(BaseModel):
    """Base of every generated packet model."""

    model_config = _CONFIG

    def to_wire(self) -> dict[str, Any]:
        """The record as it goes on the wire: only the keys that were given, in wire form."""
        return self.model_dump(mode="json", exclude_unset=True)


def _bool_to_wire(value: Any) -> Any:
    if value is True:
        return "True"
    if value is False:
        return "False"
    return value


def _annotation(spec: FieldSpec, owner: str) -> Any:
    if spec.type == "array":
        item = _build_model(f"{owner}_{spec.name}", spec.fields)
        return list[item]  # type: ignore[valid-type]
    if spec.type == "string_array":
        return list[str]
    if spec.type == "bool":
        return Annotated[str, BeforeValidator(_bool_to_wire)]
    return str


def _build_model(
    name: str, specs: tuple[FieldSpec, ...], validators: dict[str, Any] | None = None
) -> type[PacketModel]:
    definitions: dict[str, Any] = {}
    for spec in specs:
        annotation = _annotation(spec, name)
        description = f"{spec.vi} / {spec.en}".strip(" /")
        if spec.required:
            definitions[spec.name] = (annotation, Field(description=description))
        else:
            definitions[spec.name] = (
                annotation | None,
                Field(default=None, description=description),
            )
    model: type[PacketModel] = create_model(
        name, __base__=PacketModel, __validators__=validators, **definitions
    )
    return model


def _rules_hook(catalog: Catalog, packet: PacketSpec) -> Any:
    """A before-validator that runs the compiled checker and raises its errors as pydantic errors."""

    validators: list[Any] = []  # built on first use: validate imports this module

    def run_checker(cls: type[PacketModel], data: Any) -> Any:
        if not validators:
            from lienthong.spec.validate import Validator

            validators.append(Validator(catalog))
        result = validators[0].validate_record(packet.name, data, 0, "$")  # path "$[0]..."
        errors = result.errors
        if errors:
            details: list[InitErrorDetails] = [
                {
                    "type": PydanticCustomError(
                        issue.code, issue.en.replace("{", "(").replace("}", ")")
                    ),
                    "loc": tuple(_loc(issue.path.removeprefix("$[0]"))),
                    "input": data,
                }
                for issue in errors
            ]
            raise ValidationError.from_exception_data(packet.name, details)
        return data

    return model_validator(mode="before")(run_checker)


def _loc(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for chunk in path.removeprefix("$").replace("[", ".[").split("."):
        if not chunk:
            continue
        parts.append(int(chunk[1:-1]) if chunk.startswith("[") else chunk)
    return parts


class _ModelCache:
    def __init__(self) -> None:
        self._models: dict[tuple[int, str, str], type[PacketModel]] = {}
        self._keep: dict[int, Catalog] = {}

    def get(self, catalog: Catalog, packet: PacketSpec, part: str) -> type[PacketModel]:
        key = (id(catalog), packet.name, part)
        model = self._models.get(key)
        if model is None:
            if part == "record":
                hook = {"lienthong_rules": _rules_hook(catalog, packet)}
                model = _build_model(packet.name, packet.fields, hook)
            else:
                model = _build_model(packet.name + "_Params", packet.params)
            self._models[key] = model
            self._keep[id(catalog)] = catalog  # the id stays valid while the catalog lives
        return model


_CACHE = _ModelCache()


def model_for(packet: str | PacketSpec, catalog: Catalog | None = None) -> type[PacketModel]:
    """The typed model of one record of ``packet`` (a ``data`` item, or a ``result`` row)."""
    catalog = catalog or load_catalog()
    spec = catalog.packet(packet) if isinstance(packet, str) else packet
    return _CACHE.get(catalog, spec, "record")


def params_model_for(packet: str | PacketSpec, catalog: Catalog | None = None) -> type[PacketModel]:
    """The typed model of the envelope parameters of ``packet`` (``isUpdating``, ``maTTHC``, ...)."""
    catalog = catalog or load_catalog()
    spec = catalog.packet(packet) if isinstance(packet, str) else packet
    return _CACHE.get(catalog, spec, "params")


def __getattr__(name: str) -> type[PacketModel]:
    catalog = load_catalog()
    if name in catalog.packets:
        return model_for(name, catalog)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
