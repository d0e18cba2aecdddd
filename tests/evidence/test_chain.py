"""The digest document of an entry: every field counts, bytes by their SHA-256."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest

from lienthong.evidence.chain import GENESIS, EntryFields, entry_digest, entry_document, rfc3339
from lienthong.store.hashing import canonical_json

AT = dt.datetime(2026, 12, 8, 1, 2, 3, 4, tzinfo=dt.UTC)


def fields() -> EntryFields:
    return EntryFields(
        side="hub",
        seq=1,
        at=AT,
        kind="push",
        log_id=7,
        service="DongBoHoSoMC",
        origin_unit="000.00.00.H56",
        origin_account="tinh",
        destination="hub",
        body_sha256=hashlib.sha256(b"{}").hexdigest(),
        signature=b"sig",
        signature_format="cades",
        certificates=("aa",),
        revocations=("bb",),
        validation={"status": "valid"},
        receipt=b"receipt",
        receipt_signature=b"rs",
        prev_digest=GENESIS,
        body=b"{}",
    )


def test_the_document_and_its_digest() -> None:
    document = entry_document(fields())
    assert document["at"] == "2026-12-08T01:02:03.000004Z"
    assert document["signature_sha256"] == hashlib.sha256(b"sig").hexdigest()
    assert document["validation_sha256"] == hashlib.sha256(b'{"status":"valid"}').hexdigest()
    assert document["prev"] == GENESIS and document["v"] == 1
    assert "body" not in document and "signature" not in document
    assert entry_digest(fields()) == hashlib.sha256(canonical_json(document)).hexdigest()
    # the same instant in another zone is the same entry
    local = dataclasses.replace(fields(), at=AT.astimezone(dt.timezone(dt.timedelta(hours=7))))
    assert entry_digest(local) == entry_digest(fields())
    # every digested field changes the digest; the body in stored form does not
    changes = {
        "side": "agent",
        "seq": 2,
        "at": AT + dt.timedelta(microseconds=1),
        "kind": "share",
        "log_id": None,
        "service": "x",
        "origin_unit": "x",
        "origin_account": "x",
        "destination": "x",
        "body_sha256": "0" * 64,
        "signature": None,
        "signature_format": "jws",
        "certificates": ("ab",),
        "revocations": (),
        "validation": None,
        "receipt": b"receipt!",
        "receipt_signature": None,
        "prev_digest": "1" * 64,
    }
    assert set(changes) | {"body"} == {f.name for f in dataclasses.fields(EntryFields)}
    seen = {entry_digest(fields())}
    for name, value in changes.items():
        digest = entry_digest(dataclasses.replace(fields(), **{name: value}))
        assert digest not in seen, name
        seen.add(digest)
    assert entry_digest(dataclasses.replace(fields(), body=b"other")) == entry_digest(fields())
    with pytest.raises(ValueError):
        rfc3339(dt.datetime(2026, 1, 1))
