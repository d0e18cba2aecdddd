"""The packet catalog: versioned YAML data, with profiles and user overrides.

The base profile ``qcvn120-2019`` describes QCVN 120:2019/BTTTT as far as the public evidence
goes; ``dvcqg-2025`` is the later DVCQG revision written as an override of it. A user loads
further override files (the official annex, a partner's revision) without touching code.
The file format is documented in ``docs/catalog-format.md``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lienthong.spec.layouts import LAYOUTS

DEFAULT_PROFILE = "qcvn120-2019"
PROFILE_ENV = "LIENTHONG_PROFILE"
OVERRIDES_ENV = "LIENTHONG_CATALOG"

BUNDLED_PROFILES = {
    "qcvn120-2019": "qcvn120-2019.yaml",
    "dvcqg-2025": "dvcqg-2025.yaml",
}

FIELD_TYPES = frozenset({"string", "integer", "decimal", "bool", "date", "array", "string_array"})
FORMATS = frozenset(
    {
        "agency_code",
        "dossier_code",
        "tthc_code",
        "linhvuc_code",
        "personal_id",
        "social_insurance",
        "email",
        "phone",
        "url",
        "percent",
        "month_year",
    }
)
RULES = frozenset(
    {
        "dossier_dates",
        "dossier_returned",
        "dossier_code_unit",
        "progress_dates",
        "stats_totals",
        "survey_percentages",
    }
)
CONFIDENCES = frozenset({"confirmed", "inferred", "provisional", "unknown"})


class CatalogError(ValueError):
    """A catalog or override file is malformed; the message names the file and the place."""


class PacketKind(StrEnum):
    PUSH = "push"
    """Local system -> portal; records travel in ``data``."""
    SHARE = "share"
    """Portal -> local system; records come back in ``result``."""


class PacketStatus(StrEnum):
    CONFIRMED = "confirmed"
    PARTIAL = "partial"
    PROVISIONAL = "provisional"


@dataclass(frozen=True, slots=True)
class CodeValue:
    code: str
    vi: str
    en: str
    confidence: str = "confirmed"


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str
    vi: str
    en: str
    confidence: str
    values: tuple[CodeValue, ...]
    source: tuple[str, ...] = ()
    note: str = ""

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(value.code for value in self.values)

    def label(self, code: str, lang: str = "vi") -> str | None:
        for value in self.values:
            if value.code == code:
                return value.vi if lang == "vi" else value.en
        return None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    required: bool = False
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    codes: str | None = None
    format: str | None = None
    date_formats: tuple[str, ...] = ("yyyyMMddHHmmss",)
    vi: str = ""
    en: str = ""
    confidence: str = "confirmed"
    source: tuple[str, ...] = ()
    fields: tuple[FieldSpec, ...] = ()
    local_codes: bool = False
    """The field takes the sender's own codes too (OpenCPS sends "HT01", "STP"): a format
    problem is a warning for received data (an error in strict mode) and the value is kept."""
    beyond_official: str | None = None
    """Why the field is one beyond the packet's official count (Table 1 of QCVN 120): where it
    comes from (a real client's extra, optional; a lienthong design); None: one of the count."""

    @property
    def is_provisional(self) -> bool:
        return self.confidence == "provisional"

    def child(self, name: str) -> FieldSpec | None:
        for sub in self.fields:
            if sub.name == name:
                return sub
        return None


@dataclass(frozen=True, slots=True)
class PacketSpec:
    name: str
    id: str | None
    table: str | None
    kind: PacketKind
    status: PacketStatus
    vi: str
    en: str
    params: tuple[FieldSpec, ...]
    fields: tuple[FieldSpec, ...]
    rules: tuple[str, ...] = ()
    layouts: tuple[str, ...] = ()
    """Other record layouts real clients send, rewritten before checks (spec.layouts)."""
    official_fields: int | None = None
    """How many fields Table 1 of QCVN 120 gives the packet's records (returned rows for a
    share); None: no official count (not one of the 15 packets)."""
    official_params: int | None = None
    """How many fields Table 1 gives what is sent for a share, when it counts them apart."""
    official_note: str = ""
    """What is known of the difference between the catalog's fields and the official count."""

    @property
    def is_provisional(self) -> bool:
        return self.status is PacketStatus.PROVISIONAL

    def official_count(self, names: bool = True) -> str:
        """``known of official`` for the records' fields, with the difference in words:
        ``"28 of 27 (1 beyond: SoBienNhan)"``, ``"3 of 5 (2 unknown)"``, ``"13"`` without a count;
        ``names=False`` leaves the names of the fields beyond out."""
        known = len(self.fields)
        if self.official_fields is None:
            return str(known)
        text = f"{known} of {self.official_fields}"
        marked = [field.name for field in self.fields if field.beyond_official]
        if known > self.official_fields:
            beyond = known - self.official_fields
            named = f": {', '.join(marked)}" if marked and names else ""
            unnamed = beyond - len(marked)
            rest = f"; {unnamed} not identified" if unnamed > 0 and marked and names else ""
            return f"{text} ({beyond} beyond{named}{rest})"
        if known < self.official_fields:
            return f"{text} ({self.official_fields - known} unknown)"
        return text

    @property
    def is_qcvn120(self) -> bool:
        """One of the 15 packets of QCVN 120 (as opposed to a category or lookup service)."""
        return self.id is not None

    def field(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None

    def provisional_fields(self) -> list[str]:
        found: list[str] = []

        def walk(specs: Sequence[FieldSpec], prefix: str) -> None:
            for spec in specs:
                if spec.is_provisional:
                    found.append(prefix + spec.name)
                walk(spec.fields, prefix + spec.name + ".")

        walk(self.fields, "")
        return found


@dataclass(frozen=True, slots=True)
class ErrorCodeEntry:
    code: str
    vi: str
    en: str
    confidence: str


@dataclass(frozen=True)
class Catalog:
    """One resolved profile: base data plus every override applied, in order."""

    profile: str
    chain: tuple[str, ...]
    """Profiles and override files applied, base first."""
    title_vi: str
    title_en: str
    packets: Mapping[str, PacketSpec]
    code_lists: Mapping[str, CodeList]
    envelope: tuple[FieldSpec, ...]
    login_request: tuple[FieldSpec, ...]
    login_response: tuple[FieldSpec, ...]
    response: tuple[FieldSpec, ...]
    error_codes: tuple[ErrorCodeEntry, ...]
    sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def packet(self, name: str) -> PacketSpec:
        try:
            return self.packets[name]
        except KeyError:
            raise KeyError(f"unknown packet {name!r} in profile {self.profile}") from None

    def qcvn120_packets(self) -> list[PacketSpec]:
        return [spec for spec in self.packets.values() if spec.is_qcvn120]

    def provisional_packets(self) -> list[PacketSpec]:
        return [spec for spec in self.packets.values() if spec.is_provisional]


# ---------------------------------------------------------------------------------------------
# Loading


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{origin}: a catalog file must be a YAML mapping")
    return data


@lru_cache(maxsize=16)
def _bundled(filename: str) -> dict[str, Any]:
    text = resources.files("lienthong.spec").joinpath("data", filename).read_text("utf-8")
    return _read_yaml(text, filename)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog file: {exc.strerror}") from None
    return _read_yaml(text, str(path))


def _packets_by_name(raw: dict[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    packets = raw.get("packets") or []
    if isinstance(packets, Mapping):
        return {str(k): dict(v or {}, name=str(k)) for k, v in packets.items()}
    if not isinstance(packets, list):
        raise CatalogError(f"{origin}: 'packets' must be a list or a mapping")
    result: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(packets):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise CatalogError(f"{origin}: packets[{index}] needs a 'name'")
        result[str(entry["name"])] = dict(entry)
    return result


def _field_list_index(fields: list[Any], name: str) -> int | None:
    for index, entry in enumerate(fields):
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return index
    return None


def _apply_field_change(fields: list[Any], path: str, change: Any, origin: str) -> None:
    head, _, rest = path.partition(".")
    index = _field_list_index(fields, head)
    if rest:
        if index is None:
            raise CatalogError(
                f"{origin}: cannot change {path!r}: no field {head!r} to descend into"
            )
        parent = fields[index]
        children = list(parent.get("fields") or [])
        _apply_field_change(children, rest, change, origin)
        fields[index] = dict(parent, fields=children)
        return
    if change is None:
        if index is None:
            raise CatalogError(f"{origin}: cannot remove {path!r}: no such field")
        del fields[index]
    elif not isinstance(change, Mapping):
        raise CatalogError(f"{origin}: change of {path!r} must be a mapping or null")
    elif index is None:
        if "type" not in change:
            raise CatalogError(f"{origin}: new field {path!r} needs a 'type'")
        fields.append(dict(change, name=head))
    else:
        fields[index] = dict(fields[index], **change)


def _apply_override(base: dict[str, Any], override: dict[str, Any], origin: str) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key in ("title_vi", "title_en", "note_en"):
        if key in override:
            merged[key] = override[key]
    merged["profile"] = override.get("profile", merged.get("profile"))
    merged.setdefault("sources", {}).update(override.get("sources") or {})
    merged.setdefault("code_lists", {}).update(override.get("code_lists") or {})
    for section in ("envelope", "login", "response", "error_codes"):
        if section in override:
            merged[section] = override[section]
    packets = _packets_by_name(merged, origin)
    for name, change in _packets_by_name(override, origin).items():
        if change.get("replace") or name not in packets:
            entry = {k: v for k, v in change.items() if k != "replace"}
            if "fields" in entry and not isinstance(entry["fields"], list):
                raise CatalogError(f"{origin}: new packet {name!r} needs 'fields' as a list")
            packets[name] = entry
            continue
        target = packets[name]
        for key, value in change.items():
            if key in ("fields", "params"):
                if isinstance(value, list):
                    target[key] = value
                    continue
                if not isinstance(value, Mapping):
                    raise CatalogError(f"{origin}: {name}.{key} must map dotted paths to changes")
                items = list(target.get(key) or [])
                for path, field_change in value.items():
                    _apply_field_change(items, str(path), field_change, f"{origin}: {name}.{key}")
                target[key] = items
            elif key == "rules":
                if isinstance(value, Mapping):
                    rules = [
                        r for r in target.get("rules") or [] if r not in (value.get("remove") or [])
                    ]
                    rules += [r for r in value.get("add") or [] if r not in rules]
                    target["rules"] = rules
                else:
                    target["rules"] = list(value or [])
            elif key != "name":
                target[key] = value
    merged["packets"] = list(packets.values())
    return merged


def _as_str(value: Any) -> str:
    return "" if value is None else str(value)


def _optional_beyond(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}: beyond_official must say where the field comes from")
    return value


def _count_of(entry: Mapping[str, Any], key: str, name: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CatalogError(f"{name}: {key} must be a non-negative integer")
    return value


def _build_field(raw: Any, where: str) -> FieldSpec:
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: a field must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogError(f"{where}: a field needs a 'name'")
    here = f"{where}.{name}"
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        raise CatalogError(f"{here}: type {kind!r} is not one of {sorted(FIELD_TYPES)}")
    fmt = raw.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise CatalogError(f"{here}: format {fmt!r} is not one of {sorted(FORMATS)}")
    max_length = raw.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise CatalogError(f"{here}: max_length must be a positive integer")
    bounds = {key: raw.get(key) for key in ("minimum", "maximum")}
    for key, bound in bounds.items():
        if bound is None:
            continue
        if kind not in ("integer", "decimal"):
            raise CatalogError(f"{here}: {key} applies to integer and decimal fields only")
        # bounds fit a signed 64-bit integer: what the store and the services can hold
        if not isinstance(bound, int) or isinstance(bound, bool) or abs(bound) >= 2**63:
            raise CatalogError(f"{here}: {key} must be an integer within 64 bits")
    low, high = bounds["minimum"], bounds["maximum"]
    if low is not None and high is not None and low > high:
        raise CatalogError(f"{here}: minimum is greater than maximum")
    required = raw.get("required", False)
    if required not in (True, False):
        raise CatalogError(f"{here}: required must be true or false")
    confidence = raw.get("confidence", "confirmed")
    if confidence not in CONFIDENCES:
        raise CatalogError(f"{here}: confidence {confidence!r} is not one of {sorted(CONFIDENCES)}")
    formats = tuple(raw.get("date_formats") or ("yyyyMMddHHmmss",))
    from lienthong.spec.dates import SUPPORTED_FORMATS

    for date_format in formats:
        if date_format not in SUPPORTED_FORMATS:
            raise CatalogError(
                f"{here}: date format {date_format!r} is not one of {SUPPORTED_FORMATS}"
            )
    children = raw.get("fields") or []
    if kind != "array" and children:
        raise CatalogError(f"{here}: only type array has nested fields")
    source = raw.get("source") or ()
    return FieldSpec(
        name=name,
        type=kind,
        required=bool(required),
        max_length=max_length,
        minimum=bounds["minimum"],
        maximum=bounds["maximum"],
        codes=raw.get("codes"),
        format=fmt,
        date_formats=formats,
        vi=_as_str(raw.get("vi")),
        en=_as_str(raw.get("en")),
        confidence=confidence,
        source=tuple(str(s) for s in ([source] if isinstance(source, str) else source)),
        beyond_official=_optional_beyond(raw.get("beyond_official"), here),
        local_codes=raw.get("local_codes") is True,
        fields=tuple(_build_field(child, here) for child in children),
    )


def _build_fields(raw: Any, where: str) -> tuple[FieldSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CatalogError(f"{where}: expected a list of fields")
    specs = tuple(_build_field(entry, where) for entry in raw)
    names = [spec.name for spec in specs]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise CatalogError(f"{where}: duplicate fields {sorted(duplicates)}")
    return specs


def _build_code_list(name: str, raw: Any) -> CodeList:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("values"), list):
        raise CatalogError(f"code_lists.{name}: needs 'values' as a list")
    values = []
    for entry in raw["values"]:
        if isinstance(entry, Mapping):
            values.append(
                CodeValue(
                    code=_as_str(entry.get("code")),
                    vi=_as_str(entry.get("vi")),
                    en=_as_str(entry.get("en")),
                    confidence=_as_str(
                        entry.get("confidence") or raw.get("confidence") or "confirmed"
                    ),
                )
            )
        else:
            values.append(CodeValue(code=_as_str(entry), vi="", en=""))
    source = raw.get("source") or ()
    return CodeList(
        name=name,
        vi=_as_str(raw.get("vi")),
        en=_as_str(raw.get("en")),
        confidence=_as_str(raw.get("confidence") or "confirmed"),
        values=tuple(values),
        source=tuple(str(s) for s in ([source] if isinstance(source, str) else source)),
        note=_as_str(raw.get("note")),
    )


def _check_references(catalog: Catalog) -> None:
    def walk(specs: Iterable[FieldSpec], where: str) -> None:
        for spec in specs:
            if spec.codes is not None and spec.codes not in catalog.code_lists:
                raise CatalogError(f"{where}.{spec.name}: unknown code list {spec.codes!r}")
            walk(spec.fields, f"{where}.{spec.name}")

    for packet in catalog.packets.values():
        walk(packet.fields, packet.name)
        walk(packet.params, packet.name + ".params")
        unknown_layouts = set(packet.layouts) - set(LAYOUTS)
        if unknown_layouts:
            raise CatalogError(
                f"{packet.name}: unknown layouts {sorted(unknown_layouts)}; known: {sorted(LAYOUTS)}"
            )
        unknown = set(packet.rules) - RULES
        if unknown:
            raise CatalogError(
                f"{packet.name}: unknown rules {sorted(unknown)}; known: {sorted(RULES)}"
            )


def _build_catalog(raw: dict[str, Any], chain: tuple[str, ...]) -> Catalog:
    code_lists = {
        name: _build_code_list(str(name), entry)
        for name, entry in (raw.get("code_lists") or {}).items()
    }
    packets: dict[str, PacketSpec] = {}
    for name, entry in _packets_by_name(raw, chain[-1]).items():
        try:
            kind = PacketKind(str(entry.get("kind")))
            status = PacketStatus(str(entry.get("status")))
        except ValueError as exc:
            raise CatalogError(f"{name}: {exc}") from None
        packets[name] = PacketSpec(
            name=name,
            id=None if entry.get("id") is None else str(entry["id"]),
            table=None if entry.get("table") is None else str(entry["table"]),
            kind=kind,
            status=status,
            vi=_as_str(entry.get("vi")),
            en=_as_str(entry.get("en")),
            params=_build_fields(entry.get("params"), f"{name}.params"),
            fields=_build_fields(entry.get("fields"), name),
            rules=tuple(entry.get("rules") or ()),
            layouts=tuple(entry.get("layouts") or ()),
            official_fields=_count_of(entry, "official_fields", name),
            official_params=_count_of(entry, "official_params", name),
            official_note=_as_str(entry.get("official_note")),
        )
    login = raw.get("login") or {}
    envelope = raw.get("envelope") or {}
    catalog = Catalog(
        profile=_as_str(raw.get("profile")),
        chain=chain,
        title_vi=_as_str(raw.get("title_vi")),
        title_en=_as_str(raw.get("title_en")),
        packets=packets,
        code_lists=code_lists,
        envelope=_build_fields(envelope.get("params"), "envelope"),
        login_request=_build_fields(login.get("request"), "login.request"),
        login_response=_build_fields(login.get("response"), "login.response"),
        response=_build_fields(raw.get("response"), "response"),
        error_codes=tuple(
            ErrorCodeEntry(
                code=_as_str(e.get("code")),
                vi=_as_str(e.get("vi")),
                en=_as_str(e.get("en")),
                confidence=_as_str(e.get("confidence")),
            )
            for e in raw.get("error_codes") or []
            if isinstance(e, Mapping)
        ),
        sources=dict(raw.get("sources") or {}),
    )
    _check_references(catalog)
    return catalog


def _resolve_profile(
    name: str, seen: tuple[str, ...] = ()
) -> tuple[dict[str, Any], tuple[str, ...]]:
    if name in seen:
        raise CatalogError(f"profile cycle: {' -> '.join((*seen, name))}")
    if name not in BUNDLED_PROFILES:
        raise CatalogError(
            f"unknown profile {name!r}; bundled profiles: {sorted(BUNDLED_PROFILES)}"
        )
    raw = _bundled(BUNDLED_PROFILES[name])
    parent = raw.get("extends")
    if parent:
        base, chain = _resolve_profile(str(parent), (*seen, name))
        return _apply_override(base, raw, name), (*chain, name)
    merged = copy.deepcopy(raw)
    merged["code_lists"] = {
        **_bundled("codelists.yaml").get("code_lists", {}),
        **(raw.get("code_lists") or {}),
    }
    return merged, (name,)


def bundled_profiles() -> list[str]:
    return sorted(BUNDLED_PROFILES)


def load_catalog(
    profile: str | None = None, overrides: Sequence[str | os.PathLike[str]] = ()
) -> Catalog:
    """Resolve ``profile`` (default: ``$LIENTHONG_PROFILE`` or ``qcvn120-2019``) and apply overrides.

    Overrides are applied in order. An override whose ``extends`` names a different profile than
    the one selected changes the selection to that profile first, so ``--catalog partner.yaml``
    alone is enough when the file says which profile it builds on.
    """
    overrides = list(overrides)
    if not overrides and os.environ.get(OVERRIDES_ENV):
        overrides = [p for p in os.environ[OVERRIDES_ENV].split(os.pathsep) if p]
    resolved = tuple(str(Path(p).resolve()) for p in overrides)
    return _load_cached(profile, resolved, os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE)


@lru_cache(maxsize=32)
def _load_cached(profile: str | None, overrides: tuple[str, ...], fallback: str) -> Catalog:
    override_data = [(path, _read_file(Path(path))) for path in overrides]
    if profile is None:
        first_extends = override_data[0][1].get("extends") if override_data else None
        profile = str(first_extends) if first_extends else fallback
    raw, chain = _resolve_profile(profile)
    for path, data in override_data:
        raw = _apply_override(raw, data, path)
        chain = (*chain, path)
    return _build_catalog(raw, chain)


def raw_profile(name: str) -> dict[str, Any]:
    """The bundled YAML of one profile, unresolved (for ``spec show --raw``)."""
    return copy.deepcopy(_bundled(BUNDLED_PROFILES[name]))
