"""The evidence tests' shared material: real signed, received and time-stamped messages."""

from tests.evidence.proofs import evidence

__all__ = ["evidence"]
