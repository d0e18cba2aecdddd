"""A part's chunks: each authenticated with its place (part name, index, last or not), so a part
cut at a chunk boundary, chunks swapped or moved to another part, or another key all fail, and
the plaintext's size and SHA-256 are checked at the end."""

from __future__ import annotations

import io
import os
from dataclasses import replace

import pytest

from lienthong.security.sealed_files import PartEntry, SealedFileError, decrypt_part, encrypt_part

KEY = bytes(range(32))


def _sealed(data: bytes, name: str = "database.sqlite") -> tuple[bytes, PartEntry]:
    sink = io.BytesIO()
    entry = encrypt_part(io.BytesIO(data), sink, KEY, name, "database", chunk_size=100)
    return sink.getvalue(), entry


def _opened(stored: bytes, entry: PartEntry, key: bytes = KEY) -> bytes:
    return b"".join(decrypt_part(io.BytesIO(stored), key, entry))


def _refused(stored: bytes, entry: PartEntry, key: bytes = KEY) -> str:
    with pytest.raises(SealedFileError) as refused:
        _opened(stored, entry, key)
    assert refused.value.code == "backup.part_damaged"
    return refused.value.en


def test_chunks_are_bound_to_their_place() -> None:
    data = os.urandom(350)  # chunks of 100, 100, 100, 50
    stored, entry = _sealed(data)
    assert entry.size == 350 and entry.stored_size == len(stored) == 350 + 4 * 16
    assert PartEntry.from_dict(entry.as_dict()) == entry
    assert _opened(stored, entry) == data

    sealed = 116
    assert "chunk 2" in _refused(stored[: 3 * sealed], entry)  # cut at a chunk boundary
    swapped = stored[sealed : 2 * sealed] + stored[:sealed] + stored[2 * sealed :]
    assert "chunk 0" in _refused(swapped, entry)
    flipped = bytearray(stored)
    flipped[sealed * 3 + 5] ^= 1
    assert "chunk 3" in _refused(bytes(flipped), entry)
    assert "chunk 0" in _refused(stored, entry, bytes(32))  # another key
    assert "chunk 0" in _refused(stored, replace(entry, name="archives/x"))  # another part's


def test_an_empty_part_is_one_authenticated_chunk() -> None:
    stored, entry = _sealed(b"")
    assert len(stored) == 16 and entry.size == 0
    assert _opened(stored, entry) == b""
    assert "chunk 0" in _refused(b"", entry)
