"""Real evidence for the container tests: messages signed with the test PKI's agency keys (CAdES
with its OCSP answer stapled, and JWS), checked by the receiver as the hub checks them (fetching
what is missing), the hub's signed receipts (the first two with its own OCSP answers stapled, as a
hub with trust anchors signs them; the third without, as an older hub did), a chain of entries
and a batch time-stamped by the PKI's TSA. Made while the PKI's services run; they are stopped
before any test checks it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from lienthong.evidence.chain import GENESIS, EntryFields, entry_digest, entry_document
from lienthong.evidence.container import Batch, Inclusion, MessageProof
from lienthong.evidence.merkle import inclusion_path, merkle_root
from lienthong.evidence.store import EvidenceLog
from lienthong.hub.receipts import ReceiptSigner, receipt_self_check
from lienthong.hub.settings import HubSettings
from lienthong.security.cades import sign_cades
from lienthong.security.jws import sign_jws
from lienthong.security.pki import PkiEntry, TestPki, create_test_pki
from lienthong.security.selfcheck import Stapled
from lienthong.security.services import PkiServices, create_app
from lienthong.security.signers import FileSigner
from lienthong.security.timestamps import (
    request_timestamp,
    timestamp_request,
    verify_timestamp,
)
from lienthong.security.verify import Verification, VerifyContext, verify_cades, verify_jws
from lienthong.store.tables import EvidenceBatch, EvidenceEntry
from tests.servers import free_port, serve_in_thread

SERVICE = "DongBoHoSoMC"
DOSSIER = "000.00.00.H56-261208-0001"
ACCOUNT = "portal-h56"
OTHER_DOSSIER = "000.00.00.H56-261208-0002"
#: the message log ids of the stamped log's entries
LOG_IDS = (501, 502, 503, 504)


@dataclasses.dataclass(frozen=True)
class Evidence:
    pki: TestPki
    proofs: list[MessageProof]
    fields: list[EntryFields]
    exporter: FileSigner
    #: the exporter's (the hub's) OCSP answers, from its self-check while the services ran
    exporter_stapled: Stapled
    #: the receiver's check of each message (None: unsigned), as the hub keeps it
    verifications: list[Verification | None]
    #: PEM files for openssl: the root, and the TSA's certificate with its chain
    root_pem: Path
    tsa_pem: Path


def signer_of(pki: TestPki, entry: PkiEntry) -> FileSigner:
    """The entry's key, its certificate and the chain up to (not including) the root."""
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pki.chain_of(entry))
    return FileSigner.from_pem(entry.certificate_path.read_bytes() + chain, entry.key_path)


def _ocsp_answer(pki: TestPki, entry: PkiEntry) -> bytes:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(entry.certificate, pki.issuer_of(entry).certificate, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    answer = httpx.post(
        pki.ocsp_url, content=request, headers={"Content-Type": "application/ocsp-request"}
    )
    assert answer.status_code == 200
    return answer.content


def _body(code: str, index: int) -> bytes:
    # the exact bytes as a client sent them: spacing and key order kept as they came
    return (
        f'{{"madonvi": "000.00.00.H56", "data": [{{"MaHoSo": "{code}", '
        f'"TrangThaiHoSo": "{index}"}}]}}'
    ).encode()


def _received(pki: TestPki, body: bytes, signature: bytes | None, jws: bool) -> Verification | None:
    """The receiver's check, as the hub makes it: online, fetching what the signature lacks."""
    if signature is None:
        return None
    context = VerifyContext(trust_anchors=(pki.root.certificate,), allow_fetching=True)
    result = (verify_jws if jws else verify_cades)(body, signature, context)
    assert result.valid, result
    return result


def make_evidence(directory: Path) -> Evidence:
    """Three messages of one dossier in one batch: CAdES (OCSP stapled), JWS, unsigned."""
    port = free_port()
    pki = create_test_pki(directory / "pki", base_url=f"http://127.0.0.1:{port}")
    unchecked = ReceiptSigner(signer_of(pki, pki.hub))
    anchored = HubSettings(trust_anchors=str(pki.root.certificate_path))
    fields: list[EntryFields] = []
    kept: list[tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]]] = []
    verifications: list[Verification | None] = []
    with serve_in_thread(create_app(pki), port):
        hub_key = signer_of(pki, pki.hub)
        checked_hub = receipt_self_check(hub_key, anchored)
        assert checked_hub is not None and checked_hub.stapled
        receipts = ReceiptSigner(hub_key, self_check=checked_hub)
        cades_signer = signer_of(pki, pki.agency("000.00.00.H56"))
        jws_signer = signer_of(pki, pki.agency("000.00.00.H60"))
        prev = GENESIS
        for seq in (1, 2, 3):
            body = _body(DOSSIER, seq)
            jws = seq == 2
            signature: bytes | None
            if seq == 1:
                stapled = _ocsp_answer(pki, pki.agency("000.00.00.H56"))
                signature = sign_cades(body, cades_signer, ocsp_response=stapled)
            elif jws:
                signature = sign_jws(body, jws_signer).encode("ascii")
            else:
                signature = None
            checked = _received(pki, body, signature, jws)
            unit = "000.00.00.H60" if jws else "000.00.00.H56"
            at = dt.datetime.now(dt.UTC)
            signing = receipts if seq < 3 else unchecked
            receipt = signing.receipt(
                service=SERVICE,
                unit=unit,
                account=ACCOUNT,
                request=body,
                received_at=at,
                body={"error_code": 0, "records": [{"index": 0, "key": "x", "status": "ok"}]},
            )
            issued = signing.issue(receipt)
            chain = checked.chain if checked else ()
            revocations = tuple(item.der for item in checked.revocation) if checked else ()
            entry = EntryFields(
                side="hub",
                seq=seq,
                at=at,
                kind="push",
                log_id=100 + seq,
                service=SERVICE,
                origin_unit=unit,
                origin_account=ACCOUNT,
                destination="hub",
                body_sha256=hashlib.sha256(body).hexdigest(),
                signature=signature,
                signature_format=None if signature is None else "jws" if jws else "cades",
                certificates=tuple(hashlib.sha256(der).hexdigest() for der in chain),
                revocations=tuple(hashlib.sha256(der).hexdigest() for der in revocations),
                validation={"status": checked.status.value} if checked else None,
                receipt=issued.receipt,
                receipt_signature=issued.signature,
                prev_digest=prev,
                body=body,
            )
            prev = entry_digest(entry)
            fields.append(entry)
            kept.append((body, chain, revocations))
            verifications.append(checked)
        leaves = [bytes.fromhex(entry_digest(entry)) for entry in fields]
        root = merkle_root(leaves)
        stamp = request_timestamp(pki.tsa_url, root)
    batch = Batch(1, 3, root, stamp.response, id=1, gen_time=stamp.time, tsa_url=pki.tsa_url)
    proofs = [
        MessageProof(
            document=entry_document(entry),
            body=body,
            signature=entry.signature,
            signature_format=entry.signature_format,
            receipt=entry.receipt,
            receipt_signature=entry.receipt_signature,
            validation=entry.validation,
            certificates=chain,
            revocations=revocations,
            inclusion=Inclusion(index, len(leaves), tuple(inclusion_path(leaves, index)), batch),
        )
        for index, (entry, (body, chain, revocations)) in enumerate(zip(fields, kept, strict=True))
    ]
    root_pem = directory / "root.pem"
    root_pem.write_bytes(pki.root.certificate_path.read_bytes())
    tsa_pem = directory / "tsa.pem"
    tsa_pem.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (pki.tsa.certificate, *pki.chain_of(pki.tsa))
        )
    )
    return Evidence(
        pki,
        proofs,
        fields,
        hub_key,
        checked_hub.stapled,
        verifications,
        root_pem,
        tsa_pem,
    )


def anchors(evidence: Evidence) -> list[x509.Certificate]:
    return [evidence.pki.root.certificate]


def _append(
    db: Session, fields: EntryFields, verification: Verification | None, log_id: int, key: str
) -> EvidenceEntry:
    return EvidenceLog.append(
        db,
        side="hub",
        kind=fields.kind,
        at=dt.datetime.now(dt.UTC),
        log_id=log_id,
        service=fields.service,
        origin_unit=fields.origin_unit,
        origin_account=fields.origin_account,
        destination=fields.destination,
        body=fields.body,
        signature=fields.signature,
        signature_format=fields.signature_format,
        verification=verification,
        receipt=fields.receipt,
        receipt_signature=fields.receipt_signature,
        keys=[key],
    )


def stamped_log(db: Session, evidence: Evidence) -> list[EvidenceEntry]:
    """The evidence's three messages appended to ``db``'s hub log (keyed by the dossier) and
    time-stamped as one batch by the PKI's TSA (in process: its services are stopped), then a
    fourth entry of another dossier, not time-stamped yet. Committed."""
    entries = [
        _append(db, fields, verification, log_id, DOSSIER)
        for fields, verification, log_id in zip(
            evidence.fields, evidence.verifications, LOG_IDS, strict=False
        )
    ]
    db.flush()
    root = merkle_root([bytes.fromhex(entry.digest) for entry in entries])
    status, response = PkiServices(evidence.pki).timestamp_answer(
        timestamp_request(root).as_bytes()
    )
    assert status == 200
    stamp = verify_timestamp(response, root, [evidence.pki.root.certificate])
    batch = EvidenceBatch(
        side="hub",
        first_seq=entries[0].seq,
        last_seq=entries[-1].seq,
        size=len(entries),
        root=root.hex(),
        response=response,
        gen_time=stamp.time,
        tsa_url=evidence.pki.tsa_url,
    )
    db.add(batch)
    db.flush()
    for entry in entries:
        entry.batch_id = batch.id
    other = dataclasses.replace(
        evidence.fields[2],
        body=b'{"data": [{"MaHoSo": "OTHER"}]}',
        receipt=None,
        receipt_signature=None,
    )
    entries.append(_append(db, other, None, LOG_IDS[-1], OTHER_DOSSIER))
    db.commit()
    return entries


@pytest.fixture(scope="session")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    """Three messages of one dossier (CAdES with OCSP stapled, JWS, unsigned) in one batch, made
    with a PKI of its own whose services are stopped once they are made."""
    return make_evidence(tmp_path_factory.mktemp("evidence"))
