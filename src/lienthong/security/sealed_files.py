"""Files sealed with AES-256-GCM in bounded chunks (a backup's parts, an evidence archive's
segments), so a database of many gigabytes streams through and never sits in memory; and the one
error of sealed files and their keys (:class:`SealedFileError`, which the backup raises as
``SealedFileError``).

Chunk ``i`` of a part holds up to ``chunk_size`` plaintext bytes (the last one fewer, possibly
none) and is sealed with the nonce ``prefix || i`` (a random 8-byte prefix per part, a 4-byte
counter) and the associated data ``"lienthong-backup/1" 0 name 0 i last``: a chunk moved to
another place or part, a part cut at a chunk boundary (its new last chunk was sealed as "not
last") or extended all fail the tag. The manifest keeps, per part, the size and SHA-256 of the
plaintext and of the stored (encrypted) bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ALGORITHM",
    "CHUNK_SIZE",
    "PartEntry",
    "SealedFileError",
    "damaged",
    "decrypt_part",
    "encrypt_part",
]

ALGORITHM = "AES-256-GCM"
CHUNK_SIZE = 4 * 1024 * 1024
_TAG = 16
_PREFIX = 8
_DOMAIN = b"lienthong-backup/1"
"""The associated data's prefix: the format of every sealed file, backups' and segments' alike
(changing it would make the existing files unreadable)."""


class SealedFileError(Exception):
    """A sealed file or its key that cannot be used, said for its operator: a stable code,
    Vietnamese and English, and whether trying again may help (a time-stamp authority down:
    yes; a damaged file or a wrong key: no)."""

    def __init__(self, code: str, vi: str, en: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.vi, self.en, self.retryable = code, vi, en, retryable


@dataclass(frozen=True, slots=True)
class PartEntry:
    """One part as the manifest describes it."""

    name: str
    kind: str
    """``database`` or ``archive``."""
    size: int
    sha256: str
    stored_size: int
    stored_sha256: str
    chunk_size: int
    nonce_prefix: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "sha256": self.sha256,
            "stored_size": self.stored_size,
            "stored_sha256": self.stored_sha256,
            "encryption": {
                "algorithm": ALGORITHM,
                "chunk_size": self.chunk_size,
                "nonce_prefix": self.nonce_prefix,
            },
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> PartEntry:
        """ValueError, KeyError or TypeError when ``value`` is not such an entry."""
        encryption = value["encryption"]
        if encryption["algorithm"] != ALGORITHM:
            raise ValueError(f"unknown algorithm {encryption['algorithm']!r}")
        entry = cls(
            name=str(value["name"]),
            kind=str(value["kind"]),
            size=int(value["size"]),
            sha256=str(value["sha256"]),
            stored_size=int(value["stored_size"]),
            stored_sha256=str(value["stored_sha256"]),
            chunk_size=int(encryption["chunk_size"]),
            nonce_prefix=str(encryption["nonce_prefix"]),
        )
        if entry.chunk_size <= 0 or len(bytes.fromhex(entry.nonce_prefix)) != _PREFIX:
            raise ValueError("bad encryption parameters")
        return entry


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _aad(name: str, index: int, last: bool) -> bytes:
    return b"\0".join((_DOMAIN, name.encode("utf-8"), index.to_bytes(8, "big"), bytes([last])))


def _chunks(source: IO[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """``(chunk, last)`` pairs of ``source`` read ``size`` bytes at a time (one empty last
    chunk for an empty source): reading one ahead says which chunk is the last."""
    current = source.read(size)
    while True:
        following = source.read(size)
        if not following:
            yield current, True
            return
        yield current, False
        current = following


def encrypt_part(
    source: IO[bytes],
    sink: IO[bytes],
    content_key: bytes,
    name: str,
    kind: str,
    chunk_size: int = CHUNK_SIZE,
) -> PartEntry:
    """Encrypt ``source`` to ``sink`` chunk by chunk; the part's manifest entry."""
    cipher = AESGCM(content_key)
    prefix = os.urandom(_PREFIX)
    plain, stored = hashlib.sha256(), hashlib.sha256()
    size = stored_size = 0
    for index, (chunk, last) in enumerate(_chunks(source, chunk_size)):
        plain.update(chunk)
        size += len(chunk)
        sealed = cipher.encrypt(_nonce(prefix, index), chunk, _aad(name, index, last))
        stored.update(sealed)
        stored_size += len(sealed)
        sink.write(sealed)
    return PartEntry(
        name,
        kind,
        size,
        plain.hexdigest(),
        stored_size,
        stored.hexdigest(),
        chunk_size,
        prefix.hex(),
    )


def damaged(name: str, detail_vi: str, detail_en: str) -> SealedFileError:
    return SealedFileError(
        "backup.part_damaged",
        f"phần {name} của bản sao lưu bị hỏng hoặc bị sửa: {detail_vi}",
        f"the part {name} of the backup is damaged or altered: {detail_en}",
    )


def decrypt_part(stored: IO[bytes], content_key: bytes, entry: PartEntry) -> Iterator[bytes]:
    """The plaintext of a part, chunk by chunk, each authenticated before it is given; the whole
    is checked against the manifest (size, SHA-256) when the last chunk has been read.
    :class:`SealedFileError` ``backup.part_damaged`` on any difference."""
    cipher = AESGCM(content_key)
    prefix = bytes.fromhex(entry.nonce_prefix)
    plain = hashlib.sha256()
    size = 0
    for index, (sealed, last) in enumerate(_chunks(stored, entry.chunk_size + _TAG)):
        try:
            chunk = cipher.decrypt(_nonce(prefix, index), sealed, _aad(entry.name, index, last))
        except InvalidTag:
            raise damaged(
                entry.name,
                f"khối {index} không qua kiểm tra xác thực AES-GCM (bị cắt, sửa hoặc sai khóa)",
                f"chunk {index} fails its AES-GCM authentication (cut, altered or a wrong key)",
            ) from None
        plain.update(chunk)
        size += len(chunk)
        yield chunk
    if size != entry.size or plain.hexdigest() != entry.sha256:
        raise damaged(
            entry.name,
            "nội dung giải mã khác kích thước hoặc SHA-256 ghi trong bản kê",
            "the decrypted content differs from the size or SHA-256 in the manifest",
        )
