"""The corpus of real-client-shaped packets (tests/real_clients.py) pushed to a live hub over
HTTP, through each front door: QCVN 120's envelope and the provincial adapter's (LGSP). Every
record is taken, with the warnings the manifest names, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from lienthong.store.tables import Dossier, Question, UnitReport
from tests.hub.conftest import PASSWORD, RunningHub
from tests.hub.test_lgsp import _basic, _bearer
from tests.real_clients import PACKETS, RealClientPacket, ask_question

TAKEN = {"accepted", "updated", "unchanged"}


def _through_envelope(running: RunningHub, packet: RealClientPacket) -> dict[str, Any]:
    session = running.login()
    answer: dict[str, Any] = running.call(packet.envelope(session)).json()
    return answer


def _through_adapter(running: RunningHub, packet: RealClientPacket, token: str) -> dict[str, Any]:
    # a client of the adapter uses its own path (an alias where it has one per action)
    path = packet.path if packet.transport == "lgsp" else packet.packet
    response = running.client.post(
        f"/lgsp/{path}", params=packet.adapter_query(), json=packet.records, headers=_bearer(token)
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert "thành công" in answer["message"], answer  # how one adapter client reads success
    return answer


@pytest.mark.parametrize("door", ["envelope", "lgsp"])
def test_every_real_client_packet_is_taken_with_its_warnings(
    running: RunningHub, door: str
) -> None:
    token = ""
    if door == "lgsp":
        grant = running.client.post(
            "/lgsp/token",
            content=b"grant_type=client_credentials",
            headers=_basic("tinh_thanhhoa", PASSWORD),
        )
        token = grant.json()["access_token"]
    question = 0
    for packet in PACKETS:
        if packet.needs_portal_question:
            with running.hub.sessions() as db:
                question = ask_question(db)
            packet = packet.answering(question)
        if door == "lgsp":
            answer = _through_adapter(running, packet, token)
        else:
            answer = _through_envelope(running, packet)
        assert answer["error_code"] == "0", (packet.file, answer)
        outcomes = answer["records"]
        assert len(outcomes) == len(packet.records) and all(
            outcome["status"] in TAKEN for outcome in outcomes
        ), (packet.file, outcomes)
        warned = {i["code"] for outcome in outcomes for i in outcome.get("issues", [])}
        assert warned == packet.warnings, packet.file

    # stored in one normalized form, the senders' own values kept
    with running.hub.sessions() as db:
        receipts = db.scalars(select(Dossier.record).order_by(Dossier.ma_ho_so)).all()
        assert [r["SoBienNhan"] for r in receipts] == [
            "BN-2026-00001",
            "BN-2026-00002",
            "BN-2026-00003",
        ]
        survey = db.scalar(select(UnitReport.record).where(UnitReport.kind == "DongBoDanhGia"))
        assert survey is not None and len(survey["DanhSachNoiDungYKien"]) == 3
        empty_month = db.scalar(select(UnitReport.record).where(UnitReport.period == "2026-04"))
        assert empty_month is not None
        assert not [name for name in empty_month if name.startswith("PhanTram")]
        local = db.scalar(select(Question.record).where(Question.hoidap_id == 777))
        assert local is not None and (local["MADONVI"], local["MaLinhVuc"]) == ("STP", "HT01")
        answered = db.scalar(select(Question).where(Question.hoidap_id == question))
        assert answered is not None and answered.status != "1"  # no longer waiting
