"""Signatures with legal value (Circular 04/2025/TT-VPCP, Circular 15/2025/TT-BKHCN, Law on
E-transactions 20/2023/QH15 Art. 13): policy, test PKI, signers, signing formats, verification.

Modules: ``policy`` (what is allowed, as frozen dataclasses); the others are named in
docs/architecture.md. Nothing here imports the hub or the agent: they build on it.
"""
