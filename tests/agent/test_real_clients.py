"""The corpus of real-client-shaped packets (tests/real_clients.py) through the agent: taken on
its local API with the warnings the manifest names, delivered to a live hub, directly and
through the hub's provincial-adapter door (LGSP), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from lienthong.agent.client import Client
from lienthong.store.tables import Dossier, MessageLog, Question, UnitReport
from tests.agent.conftest import API_KEY, Pair
from tests.real_clients import PACKETS, ask_question


@pytest.mark.parametrize("adapter", [False, True], ids=["envelope", "lgsp"])
def test_every_real_client_packet_is_delivered(
    start_pair: Callable[..., Pair], adapter: bool
) -> None:
    pair = start_pair(adapter=adapter)
    queued: list[int] = []
    with Client(pair.agent_url, API_KEY) as agent:
        for packet in PACKETS:
            if packet.needs_portal_question:
                with pair.hub.sessions() as db:
                    question = ask_question(db)
                packet = packet.answering(question)
            taken = agent.submit(
                packet.packet, packet.records, madonvi=packet.unit, **packet.params
            )
            assert taken.ok, (packet.file, taken)
            assert all(r.status == "queued" and r.outbox_id for r in taken.records), packet.file
            queued += [r.outbox_id or 0 for r in taken.records]
            # the next packet may depend on this one (steps after their dossier)
            pair.wait_settled()
        states = {agent.outbox(outbox_id).state for outbox_id in queued}
    assert states == {"delivered"}
    assert pair.agent.outbox.summary().counts["dead"] == 0
    with pair.hub.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Dossier)) == 3
        assert db.scalar(select(func.count()).select_from(UnitReport)) == 3
        assert db.scalar(select(Question.status).where(Question.hoidap_id == question)) != "1"
        endpoints = set(db.scalars(select(MessageLog.endpoint)))
    assert ("lgsp" in endpoints) is adapter
