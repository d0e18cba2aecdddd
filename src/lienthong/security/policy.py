"""What a signature must be to be made or accepted here, as frozen dataclasses whose fields say
what they protect (Circular 15/2025/TT-BKHCN, Appendix II; docs/security.md).

The defaults are the circular's: RSA of at least 2048 bits with RSASSA-PSS or PKCS#1 v1.5 (the
government-service CA and the remote-signing services use v1.5), ECDSA of at least 256 bits,
hashes of the SHA-2 and SHA-3 families; never SHA-1, MD5 or Ed25519 (not among the listed
algorithms).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

__all__ = [
    "ALLOWED_DIGESTS",
    "AlgorithmPolicy",
    "AlgorithmProblem",
    "SignatureMode",
    "SignaturePolicy",
    "key_kind",
]

#: Digest algorithms by their asn1crypto / cryptography name.
ALLOWED_DIGESTS = frozenset(
    {
        "sha256",
        "sha384",
        "sha512",
        "sha512_224",
        "sha512_256",
        "sha3_256",
        "sha3_384",
        "sha3_512",
    }
)


def key_kind(public_key: object) -> tuple[str, int]:
    """The kind (``rsa``, ``ec``, ``ed25519``, ``ed448``, or the key class's name) and size in
    bits of a public key (cryptography's), as :meth:`AlgorithmPolicy.check_key` takes them."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec", public_key.curve.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "ed448", 456
    return type(public_key).__name__.lower(), 0


class AlgorithmProblem(ValueError):
    """An algorithm or key the policy does not allow, said in Vietnamese and English."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.vi, self.en = vi, en


@dataclass(frozen=True, slots=True)
class AlgorithmPolicy:
    """Which keys and algorithms make a signature acceptable."""

    digests: frozenset[str] = ALLOWED_DIGESTS
    """Digest algorithms of the signature and its signed attributes. Protects integrity: a weak
    digest (SHA-1, MD5) lets another content carry the same signature."""
    min_rsa_bits: int = 2048
    """Smallest RSA modulus. Protects against keys that can be factored (RSA-1024)."""
    min_ec_bits: int = 256
    """Smallest elliptic curve (ECDSA). Protects against keys that can be broken."""
    rsa_pss: bool = True
    """RSASSA-PSS, the scheme the circular names for signing."""
    rsa_pkcs1v15: bool = True
    """RSASSA-PKCS1-v1_5: what the government-service CA and remote-signing services use."""
    ecdsa: bool = True
    """ECDSA on NIST curves."""

    def check_digest(self, name: str) -> None:
        """AlgorithmProblem unless ``name`` (``sha256``, ``sha1``, ...) is allowed."""
        normalized = name.lower().replace("-", "_")
        normalized = {"sha_256": "sha256", "sha_384": "sha384", "sha_512": "sha512"}.get(
            normalized, normalized
        )
        if normalized not in self.digests:
            raise AlgorithmProblem(
                f"thuật toán băm {name} không được phép (TT 15/2025/TT-BKHCN: SHA-2, SHA-3)",
                f"digest algorithm {name} is not allowed (Circular 15/2025: SHA-2, SHA-3)",
            )

    def check_key(self, kind: str, bits: int) -> None:
        """AlgorithmProblem unless a ``kind`` key (``rsa``, ``ec``, ``ed25519``, ...) of ``bits``
        is allowed."""
        if kind == "rsa" and (self.rsa_pss or self.rsa_pkcs1v15):
            if bits >= self.min_rsa_bits:
                return
            raise AlgorithmProblem(
                f"khóa RSA {bits} bit, tối thiểu {self.min_rsa_bits} bit",
                f"RSA key of {bits} bits, at least {self.min_rsa_bits} required",
            )
        if kind == "ec" and self.ecdsa:
            if bits >= self.min_ec_bits:
                return
            raise AlgorithmProblem(
                f"khóa ECDSA {bits} bit, tối thiểu {self.min_ec_bits} bit",
                f"ECDSA key of {bits} bits, at least {self.min_ec_bits} required",
            )
        raise AlgorithmProblem(
            f"loại khóa {kind} không được phép (TT 15/2025/TT-BKHCN: RSA, ECDSA)",
            f"key type {kind} is not allowed (Circular 15/2025: RSA, ECDSA)",
        )


class SignatureMode(enum.StrEnum):
    """Whether the hub asks an account's or a service's envelopes to be signed."""

    REQUIRED = "required"
    """Unsigned envelopes are refused."""
    IF_PRESENT = "if-present"
    """A signature is verified when there is one; unsigned envelopes are taken (the default,
    so that existing unsigned clients keep working)."""
    OFF = "off"
    """Signatures are neither asked for nor verified."""


@dataclass(frozen=True, slots=True)
class SignaturePolicy:
    """The hub's rules for signed envelopes."""

    mode: SignatureMode = SignatureMode.IF_PRESENT
    """The default mode of every account and service without one of its own."""
    algorithms: AlgorithmPolicy = field(default_factory=AlgorithmPolicy)
    """Keys and algorithms accepted."""
    clock_skew_seconds: int = 300
    """How far a signing time may lie in the hub's future. Protects against a signer's wrong
    clock being taken as a time the certificate was valid."""
    bind_unit: bool = True
    """The signer's certificate must name the envelope's unit (``madonvi``) or a unit above it.
    Protects against one agency's key signing for another."""
