"""Export from the evidence tables: a dossier's messages (found by their record key) or one
message (by its log id), with their kept certificates, revocation answers and batch, verify
offline; an entry not time-stamped yet, a missing one and a log changed underneath are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from lienthong.evidence.container import read_container
from lienthong.evidence.export import ExportError, Selection, export_container
from lienthong.evidence.offline import verify_container
from lienthong.store.tables import EvidenceEntry
from tests.evidence.proofs import DOSSIER, LOG_IDS, OTHER_DOSSIER, Evidence, anchors, stamped_log


def _refusal(db: Session, selection: Selection, **options: bool) -> str:
    with pytest.raises(ExportError) as refused:
        export_container(db, selection, **options)
    assert refused.value.vi and refused.value.en
    return refused.value.code


def test_a_dossier_and_a_message_export_and_verify_offline(
    sessions: sessionmaker[Session], evidence: Evidence
) -> None:
    with sessions() as db:
        stamped_log(db, evidence)
        dossier = export_container(db, Selection(dossier=DOSSIER), signer=evidence.exporter)
        one = export_container(db, Selection(message=LOG_IDS[1], side="hub"))
    report = verify_container(dossier, anchors(evidence))
    assert report.ok, report.all_failures()
    assert [m.document["seq"] for m in report.messages] == [1, 2, 3]
    assert report.export["dossier"] == DOSSIER and report.exporter is not None
    assert all(m.signature is None or m.signature.valid for m in report.messages)
    alone = verify_container(one, anchors(evidence))
    assert alone.ok and [m.document["log_id"] for m in alone.messages] == [LOG_IDS[1]]

    with sessions() as db:
        assert _refusal(db, Selection(dossier=OTHER_DOSSIER)) == "export.unstamped"
        unstamped = export_container(db, Selection(dossier=OTHER_DOSSIER), allow_unstamped=True)
        assert _refusal(db, Selection(dossier="000.00.00.H56-000000-9999")) == "export.not_found"
        assert _refusal(db, Selection(dossier=DOSSIER, message=1)) == "export.selection"
        assert _refusal(db, Selection(petition="x", side="nowhere")) == "export.side"
        # the log changed under the export: nothing is exported
        db.execute(update(EvidenceEntry).where(EvidenceEntry.seq == 2).values(service="Other"))
        db.commit()
        assert _refusal(db, Selection(dossier=DOSSIER)) == "export.inconsistent"
    assert read_container(unstamped).export["unstamped"] == [4]
    codes = [f.code for f in verify_container(unstamped, anchors(evidence)).all_failures()]
    assert codes == ["inclusion.unstamped"]
