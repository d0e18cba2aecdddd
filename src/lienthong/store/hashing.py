"""Canonical JSON and record hashes, so that the hub and the store agree byte for byte."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

__all__ = ["canonical_json", "record_hash"]


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with keys sorted and no whitespace (the input of :func:`record_hash`)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError):
        # What orjson refuses (lone surrogates, non-str keys, integers beyond 64 bits).
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")


def record_hash(value: Any) -> str:
    """SHA-256 (hex, 64 characters) of :func:`canonical_json` of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
