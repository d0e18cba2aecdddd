"""Small evidence logs built directly with EvidenceLog (no HTTP), for the store's tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import httpx
from asn1crypto import tsp
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lienthong.evidence.store import EvidenceLog
from lienthong.security.verify import RevocationData, Status, Verification
from lienthong.store.tables import EvidenceEntry

UNIT = "000.00.00.H56"


def sample_verification(chain: Sequence[bytes], revocation: bytes = b"ocsp answer") -> Verification:
    """A valid verification over ``chain`` (DER) with one OCSP answer, as the verifier makes it."""
    now = dt.datetime.now(dt.UTC)
    return Verification(
        status=Status.VALID,
        reason="signature.valid",
        vi="hợp lệ",
        en="valid",
        format="cades",
        checked_at=now,
        integrity=True,
        unit=UNIT,
        signing_time=now,
        chain=tuple(chain),
        revocation=(RevocationData("ocsp", revocation, now, "fetched"),),
    )


def append(
    db: Session,
    number: int,
    *,
    side: str = "hub",
    keys: Sequence[str] = (),
    verification: Verification | None = None,
    at: dt.datetime | None = None,
) -> EvidenceEntry:
    """Entry ``number`` of a sample log: a push whose body and receipt say its number."""
    body = f'{{"service":"DongBoHoSoMC","n":{number}}}'.encode()
    return EvidenceLog.append(
        db,
        side=side,
        kind="push",
        at=at or dt.datetime.now(dt.UTC),
        log_id=number,
        service="DongBoHoSoMC",
        origin_unit=UNIT,
        origin_account="tinh_thanhhoa",
        destination="hub",
        body=body,
        signature=b"signature %d" % number if verification is not None else None,
        signature_format="cades" if verification is not None else None,
        verification=verification,
        receipt=b'{"receipt":%d}' % number,
        receipt_signature=b"receipt signature %d" % number,
        keys=keys,
    )


def build_log(
    sessions: sessionmaker[Session],
    count: int,
    *,
    side: str = "hub",
    verification: Verification | None = None,
    at: dt.datetime | None = None,
) -> None:
    """``count`` entries, each committed in its own transaction as the hub commits them."""
    for number in range(1, count + 1):
        with sessions() as db:
            append(db, number, side=side, verification=verification, at=at)
            db.commit()


def wrong_digest_tsa(real_tsa: str) -> Starlette:
    """A TSA that answers every request with a real token of ``real_tsa`` over other data (the
    request's nonce kept, so only the imprint gives it away)."""

    async def stamp(request: Request) -> Response:
        asked = tsp.TimeStampReq.load(await request.body())
        other = tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashlib.sha256(b"other data").digest(),
                },
                "nonce": asked["nonce"].native,
                "cert_req": True,
            }
        )
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                real_tsa,
                content=other.dump(),
                headers={"Content-Type": "application/timestamp-query"},
            )
        return Response(answer.content, media_type="application/timestamp-reply")

    return Starlette(routes=[Route("/tsa", stamp, methods=["POST"])])
