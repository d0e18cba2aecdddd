"""RFC 9162 Merkle trees: known roots, and every inclusion path leads to the root (property)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.evidence.merkle import (
    EMPTY_ROOT,
    inclusion_path,
    leaf_hash,
    merkle_root,
    root_from_path,
)


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_small_trees_have_the_rfc_shape() -> None:
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert merkle_root([a]) == hashlib.sha256(b"\x00a").digest() == leaf_hash(a)
    assert merkle_root([a, b]) == _node(leaf_hash(a), leaf_hash(b))
    # three leaves split 2 + 1 (the largest power of two smaller than 3)
    assert merkle_root([a, b, c]) == _node(_node(leaf_hash(a), leaf_hash(b)), leaf_hash(c))
    assert inclusion_path([a, b, c], 2) == [_node(leaf_hash(a), leaf_hash(b))]
    assert inclusion_path([a, b, c], 0) == [leaf_hash(b), leaf_hash(c)]
    with pytest.raises(IndexError):
        inclusion_path([a], 1)
    with pytest.raises(ValueError):
        root_from_path(a, 3, 3, [])


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_path_leads_to_the_root_and_a_change_does_not(size: int, data: st.DataObject) -> None:
    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(size)]
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        assert root_from_path(leaf, index, size, inclusion_path(leaves, index)) == root
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = inclusion_path(leaves, index)
    # another leaf at that place
    assert root_from_path(b"\xff" + leaves[index][1:], index, size, path) != root
    if path:  # a changed step of the path
        step = data.draw(st.integers(min_value=0, max_value=len(path) - 1))
        changed = [*path]
        changed[step] = bytes([changed[step][0] ^ 1]) + changed[step][1:]
        assert root_from_path(leaves[index], index, size, changed) != root
        # a path cut short or grown is no path of this tree
        with pytest.raises(ValueError):
            root_from_path(leaves[index], index, size, path[:-1])
    with pytest.raises(ValueError):
        root_from_path(leaves[index], index, size, [*path, leaves[0]])
    if size > 1:  # the right leaf at the wrong place
        assert not _leads_to(root, leaves[index], (index + 1) % size, size, path)


def _leads_to(root: bytes, leaf: bytes, index: int, size: int, path: list[bytes]) -> bool:
    try:
        return root_from_path(leaf, index, size, path) == root
    except ValueError:  # a path of another shape
        return False
