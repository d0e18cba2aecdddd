"""The evidence store (issue 13; docs/evidence.md): every message the hub (or the agent) takes
is kept as it came, hash-linked to the one before, and the chain is time-stamped in batches.

- :mod:`lienthong.evidence.chain`: an entry's digest document and digest (pure).
- :mod:`lienthong.evidence.merkle`: RFC 9162 Merkle trees over entry digests (pure).
- :mod:`lienthong.evidence.store`: appending entries in the caller's transaction.
- :mod:`lienthong.evidence.stamper`: batch time-stamps (RFC 3161) and the fail-closed state.
- :mod:`lienthong.evidence.audit`: walking a chain and naming the first broken entry.

This package builds on ``lienthong.store``, ``lienthong.security`` and ``lienthong.spec``; the
hub and the agent build on it, never the other way round.
"""
