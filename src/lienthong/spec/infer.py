"""Which packet bare records belong to, judged from their field names.

Provincial adapters keep records without the envelope (a JSON array of DongBoHoSoMC records,
say). ``lienthong check`` without ``--packet`` asks :func:`infer_packet`; it answers only when
one packet fits clearly better than every other, and otherwise names the packets that fit, so
that the user picks one with ``--packet``. Pure: no I/O, the catalog only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lienthong.spec.catalog import Catalog, PacketSpec
from lienthong.spec.layouts import LAYOUTS

__all__ = ["MARGIN", "MIN_KNOWN", "MIN_REQUIRED", "Inference", "infer_packet"]

MIN_KNOWN = 0.75
"""Share of the records' field names that must be fields of the packet."""
MIN_REQUIRED = 0.5
"""Share of the packet's required fields the records must hold (a record missing a few is
still recognised: the checks then report what is missing)."""
MARGIN = 0.15
"""Lead the best fit's score must have over the next packet's; closer fits are ambiguous."""


@dataclass(frozen=True, slots=True)
class Inference:
    packet: str | None
    """The packet the records evidently belong to; None when none or several fit."""
    candidates: tuple[str, ...] = ()
    """The packets that fit, best first: the one inferred, or the ones too close to choose."""
    same_fields: bool = False
    """The candidates define the same field names: no record can tell them apart."""


def _names(spec: PacketSpec) -> frozenset[str]:
    return frozenset(f.name for f in spec.fields)


def _keys(records: Sequence[Mapping[str, Any]], spec: PacketSpec) -> set[str]:
    """The field names of the records as ``spec`` reads them (after its other layouts)."""
    keys: set[str] = set()
    for record in records:
        for layout in spec.layouts:
            rewritten = LAYOUTS[layout](dict(record))
            if rewritten is not None:
                record = rewritten
                break
        keys.update(key for key in record if type(key) is str)
    return keys


def _score(keys: set[str], spec: PacketSpec) -> float | None:
    """How well ``keys`` fit ``spec`` (F1 of the field names), None when they do not fit."""
    names = _names(spec)
    shared = len(keys & names)
    if not keys or not shared:
        return None
    known = shared / len(keys)
    required = {f.name for f in spec.fields if f.required}
    if known < MIN_KNOWN or (required and len(keys & required) / len(required) < MIN_REQUIRED):
        return None
    coverage = shared / len(names)
    return 2 * known * coverage / (known + coverage)


def infer_packet(catalog: Catalog, records: Iterable[Any]) -> Inference:
    """The packet of ``records`` (JSON objects; other values are ignored), from the union of
    their field names, when one packet fits clearly best."""
    objects = [record for record in records if type(record) is dict]
    fits: list[tuple[float, str]] = []
    for spec in catalog.packets.values():
        score = _score(_keys(objects, spec), spec) if spec.fields else None
        if score is not None:
            fits.append((score, spec.name))
    if not fits:
        return Inference(None)
    fits.sort(key=lambda fit: (-fit[0], fit[1]))
    best = fits[0][0]
    close = tuple(name for score, name in fits if score > best - MARGIN)
    if len(close) == 1:
        return Inference(close[0], close)
    same = len({_names(catalog.packets[name]) for name in close}) == 1
    return Inference(None, close, same_fields=same)
