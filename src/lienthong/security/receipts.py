"""The signed receipt's format, shared by the hub that signs it and the agent that checks it
(issue 12; docs/security.md, "Receipts").

A receipt is a JSON object, signed over its exact bytes:
``{"version": 1, "service", "madonvi", "account", "request_sha256", "received_at",
"error_code", "records": [{"index", "key", "status", "error_code"}, ...], "hub"}``; a batch
whose outcomes would not fit a header carries ``records_count`` and ``records_sha256`` instead
of ``records``. It travels in two answer headers: :data:`RECEIPT_HEADER` (the bytes, base64)
and :data:`RECEIPT_SIGNATURE_HEADER` (the signature, in the form of ``X-Lienthong-Signature``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "MAX_LISTED_BYTES",
    "RECEIPT_HEADER",
    "RECEIPT_SIGNATURE_HEADER",
    "RECEIPT_VERSION",
    "receipt_records",
    "records_sha256",
    "rfc3339",
]

RECEIPT_HEADER = "X-Lienthong-Receipt"
RECEIPT_SIGNATURE_HEADER = "X-Lienthong-Receipt-Signature"
RECEIPT_VERSION = 1

#: Outcomes are listed in the receipt up to this many bytes (about 550 records); a larger
#: batch's receipt carries their SHA-256 instead (``records_sha256``), so that the header stays
#: within what HTTP clients read (httpx: 100 KiB of headers).
MAX_LISTED_BYTES = 48 * 1024


def rfc3339(moment: dt.datetime) -> str:
    """``moment`` in UTC as RFC 3339 with milliseconds: ``2026-12-07T08:30:00.123Z``."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def receipt_records(records: Sequence[Any]) -> list[dict[str, Any]]:
    """What a receipt says of each record of an answer: its index, key, status and code."""
    return [
        {
            "index": item.get("index"),
            "key": item.get("key"),
            "status": item.get("status"),
            "error_code": item.get("error_code"),
        }
        if isinstance(item, Mapping)
        else {"index": None, "key": None, "status": None, "error_code": None}
        for item in records
    ]


def records_sha256(listed: list[dict[str, Any]]) -> str:
    """The SHA-256 (hex) of the outcomes as :func:`receipt_records` lists them, serialized
    compactly (orjson): the form a large batch's receipt carries instead of the list."""
    return hashlib.sha256(orjson.dumps(listed)).hexdigest()
