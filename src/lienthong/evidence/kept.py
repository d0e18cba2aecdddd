"""Certificates and revocation answers a verification used, kept once each by their SHA-256
(``kept_certificates``, ``kept_revocations``), and the verification's result naming them: what
Circular 15/2025/TT-BKHCN asks a verifier to keep, shared by the hub's message log and the
evidence store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

from sqlalchemy.orm import Session

from lienthong.security.verify import Verification
from lienthong.store.db import insert_ignoring_duplicates
from lienthong.store.tables import KeptCertificate, KeptRevocation

__all__ = ["KeptVerification", "keep_verification", "sha256_hex"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class KeptVerification:
    """What :func:`keep_verification` kept, by digest."""

    #: SHA-256 (hex) of each certificate of the path, the signer's first.
    certificates: list[str]
    #: SHA-256 (hex) of each OCSP answer or CRL used.
    revocations: list[str]
    #: :meth:`Verification.as_dict` with the DER replaced by those digests.
    result: dict[str, Any]


def keep_verification(db: Session, verification: Verification) -> KeptVerification:
    """Insert the verification's certificates and revocation answers that are not kept yet (one
    statement for each kind, however many) and return its result naming them by digest."""
    now = dt.datetime.now(dt.UTC)
    # one cached statement, executed for many rows (no statement compiled per push)
    if verification.chain:
        db.execute(
            insert_ignoring_duplicates(db, KeptCertificate),
            [
                {"sha256": sha256_hex(der), "der": der, "created_at": now}
                for der in verification.chain
            ],
        )
    if verification.revocation:
        db.execute(
            insert_ignoring_duplicates(db, KeptRevocation),
            [
                {
                    "sha256": sha256_hex(item.der),
                    "kind": item.kind,
                    "der": item.der,
                    "created_at": now,
                }
                for item in verification.revocation
            ],
        )
    # the DER lives once in its own table; the result names it by digest
    result: dict[str, Any] = dataclasses.replace(
        verification,
        chain=(),
        revocation=tuple(dataclasses.replace(item, der=b"") for item in verification.revocation),
    ).as_dict()
    certificates = [sha256_hex(der) for der in verification.chain]
    revocations = [sha256_hex(item.der) for item in verification.revocation]
    result["chain"] = certificates
    for item, digest in zip(result["revocation"], revocations, strict=True):
        del item["der"]
        item["sha256"] = digest
    return KeptVerification(certificates, revocations, result)
