"""Merkle trees as RFC 9162 (Certificate Transparency 2.0) section 2.1 defines them.

A leaf's hash is SHA-256(0x00 || leaf), a node's SHA-256(0x01 || left || right); a list of n > 1
leaves splits at k, the largest power of two smaller than n. The leaves of an evidence batch are
its entries' digests (32 bytes each) in ``seq`` order; the batch's time-stamp is over the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["EMPTY_ROOT", "inclusion_path", "leaf_hash", "merkle_root", "root_from_path"]

#: The root of no leaves: SHA-256 of nothing (RFC 9162 2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def _root(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return _node(_root(hashes[:k]), _root(hashes[k:]))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(leaves): the 32-byte root."""
    if not leaves:
        return EMPTY_ROOT
    return _root([leaf_hash(leaf) for leaf in leaves])


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, leaves): the sibling hashes from the leaf up to the root (RFC 9162 2.1.3.1)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of {len(leaves)}")
    hashes = [leaf_hash(leaf) for leaf in leaves]
    path: list[bytes] = []
    low, high = 0, len(hashes)
    # walk down from the root, keeping each sibling subtree's root; the path lists them bottom up
    while high - low > 1:
        k = _split(high - low)
        if index < low + k:
            path.append(_root(hashes[low + k : high]))
            high = low + k
        else:
            path.append(_root(hashes[low : low + k]))
            low = low + k
    path.reverse()
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root an inclusion ``path`` of ``leaf`` (at ``index`` of ``size`` leaves) leads to
    (RFC 9162 2.1.3.2); ValueError when the path cannot belong to such a tree."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} of {size}")
    fn, sn = index, size - 1
    result = leaf_hash(leaf)
    for sibling in path:
        if sn == 0:
            raise ValueError("the path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = _node(sibling, result)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = _node(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the path is shorter than the tree is deep")
    return result
