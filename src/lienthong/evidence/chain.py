"""An evidence entry's digest: SHA-256 of the canonical JSON of its digest document.

The document names every column of the entry but its storage id, its own digest and its batch;
bytes appear as their SHA-256 (the body's over its plaintext), so that an exported entry is
checked with no database and without the body's storage form (docs/evidence.md, "The chain").
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lienthong.store.hashing import canonical_json

__all__ = [
    "DOCUMENT_VERSION",
    "GENESIS",
    "EntryFields",
    "entry_digest",
    "entry_document",
    "rfc3339",
]

#: The ``prev`` of a side's first entry.
GENESIS = "0" * 64
#: The ``v`` of the digest document.
DOCUMENT_VERSION = 1


@dataclass(frozen=True, slots=True)
class EntryFields:
    """The columns of an ``evidence_entries`` row that its digest covers (and ``body``, which
    it covers through ``body_sha256``)."""

    side: str
    seq: int
    at: dt.datetime
    kind: str
    log_id: int | None
    service: str | None
    origin_unit: str | None
    origin_account: str | None
    destination: str | None
    body_sha256: str
    signature: bytes | None
    signature_format: str | None
    certificates: tuple[str, ...]
    revocations: tuple[str, ...]
    validation: Mapping[str, Any] | None
    receipt: bytes | None
    receipt_signature: bytes | None
    prev_digest: str
    #: The exact bytes in stored form; not in the document (``body_sha256`` stands for them).
    body: bytes = field(default=b"", compare=False, repr=False)


def rfc3339(at: dt.datetime) -> str:
    """``at`` in UTC, RFC 3339 with microseconds and ``Z`` (``2026-12-08T01:02:03.000004Z``)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: give it a time zone")
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sha256(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def entry_document(fields: EntryFields) -> dict[str, Any]:
    """The document whose canonical JSON is hashed into the entry's digest."""
    return {
        "v": DOCUMENT_VERSION,
        "side": fields.side,
        "seq": fields.seq,
        "at": rfc3339(fields.at),
        "kind": fields.kind,
        "log_id": fields.log_id,
        "service": fields.service,
        "origin_unit": fields.origin_unit,
        "origin_account": fields.origin_account,
        "destination": fields.destination,
        "body_sha256": fields.body_sha256,
        "signature_sha256": _sha256(fields.signature),
        "signature_format": fields.signature_format,
        "certificates": list(fields.certificates),
        "revocations": list(fields.revocations),
        "validation_sha256": (
            _sha256(canonical_json(fields.validation)) if fields.validation is not None else None
        ),
        "receipt_sha256": _sha256(fields.receipt),
        "receipt_signature_sha256": _sha256(fields.receipt_signature),
        "prev": fields.prev_digest,
    }


def entry_digest(fields: EntryFields) -> str:
    """SHA-256 (hex) of the canonical JSON of :func:`entry_document`."""
    return hashlib.sha256(canonical_json(entry_document(fields))).hexdigest()
