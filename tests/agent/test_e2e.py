"""End to end over real HTTP: a local system submits through ``Client`` to a running agent, which
delivers to a running hub (``[sqlite]`` and ``[postgresql]``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import func, select

from lienthong.agent import Client
from lienthong.store.tables import AgentOutbox, Dossier, DossierEvent, MessageLog
from tests.agent.conftest import API_KEY, UNIT, Pair, demo_dossiers, step, wait_until


def _message_log(pair: Pair) -> list[MessageLog]:
    with pair.hub.sessions() as db:
        return list(db.scalars(select(MessageLog).order_by(MessageLog.id)))


def test_dossiers_and_progress_arrive_in_order(start_pair: Callable[..., Pair]) -> None:
    pair = start_pair()
    records = demo_dossiers(12)
    codes = [record["MaHoSo"] for record in records]
    with Client(pair.agent_url, API_KEY) as agent:
        first = agent.submit("DongBoHoSoMC", records[:6], madonvi=UNIT, isUpdating="False")
        assert first.ok and [r.status for r in first.records] == ["queued"] * 6
        # steps of the first dossiers right behind them, then the other dossiers, then more steps:
        # services interleave, and a step must never overtake its dossier
        received = agent.submit(
            "CapNhatTienDoHoSoMC",
            [step(code, "20260302080000", "2", "Tiếp nhận hồ sơ") for code in codes[:6]],
            madonvi=UNIT,
        )
        agent.submit("DongBoHoSoMC", records[6:], madonvi=UNIT, isUpdating="False")
        received_later = agent.submit(
            "CapNhatTienDoHoSoMC",
            [step(code, "20260302080000", "2", "Tiếp nhận hồ sơ") for code in codes[6:]],
            madonvi=UNIT,
        )
        checked = agent.submit(
            "CapNhatTienDoHoSoMC",
            [step(code, "20260302100000", "4", "Thẩm định hồ sơ") for code in codes],
            madonvi=UNIT,
        )
        # a new version of dossier 0 sent as "not updating": the hub says it exists, the agent
        # resends it with isUpdating True by itself
        changed = {**records[0], "TrangThaiHoSo": "5", "GhiChu": "Chờ bổ sung"}
        again = agent.submit("DongBoHoSoMC", [changed], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()
        every_id = [
            r.outbox_id
            for answer in (received, received_later, checked, again)
            for r in answer.records
        ]
        states = {agent.outbox(outbox_id).state for outbox_id in every_id if outbox_id}
        assert states == {"delivered"}
        resent = agent.outbox(again.records[0].outbox_id or 0)
        assert resent.last_answer is not None and resent.last_answer["status"] == "updated"

    counts = pair.agent.outbox.summary().counts
    assert counts["dead"] == 0 and counts["delivered"] == 12 + 12 + 12 + 1
    with pair.hub.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Dossier)) == 12
        events = db.execute(
            select(Dossier.ma_ho_so, DossierEvent.record)
            .join(DossierEvent, DossierEvent.dossier_id == Dossier.id)
            .order_by(DossierEvent.id)
        ).all()
    for code in codes:  # each dossier's history was stored in the order it happened
        history = [record["NoiDungXuLy"] for ma_ho_so, record in events if ma_ho_so == code]
        assert history == ["Tiếp nhận hồ sơ", "Thẩm định hồ sơ"]
    looked_up = pair.hub_lookup(codes[0])["result"][0]
    assert looked_up["TrangThaiHoSo"] == "5"
    assert [s["TrangThai"] for s in looked_up["QuaTrinhXuLy"]] == ["2", "4"]
    pushes = [row for row in _message_log(pair) if row.endpoint == "integration"]
    assert all(row.error_code in ("0", "3") for row in pushes)
    assert max(row.records for row in pushes) > 1  # batches, not one record per call
    assert all(row.dstcode == "VN:GOV:000.00.00.G22:vpcpdvcprovider" for row in pushes)


def test_session_expired_at_the_hub_is_renewed(start_pair: Callable[..., Pair]) -> None:
    """The hub's session lives 1 s, but the agent's clock is frozen: it believes its session is
    still fresh, gets code 23, logs in again and resends."""
    frozen = time.monotonic()
    pair = start_pair(session_ttl=1, clock=lambda: frozen)
    records = demo_dossiers(4)
    with Client(pair.agent_url, API_KEY) as agent:
        agent.submit("DongBoHoSoMC", records[:2], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()
        time.sleep(1.2)  # let the hub's session expire
        agent.submit("DongBoHoSoMC", records[2:], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()
    assert pair.agent.outbox.summary().counts["delivered"] == 4
    log = _message_log(pair)
    assert [row.error_code for row in log if row.endpoint == "login"] == ["0", "0"]
    assert "23" in [row.error_code for row in log if row.endpoint == "integration"]
    state = pair.agent.outbox.state("portal.session")
    assert state is not None and state["logins"] == 2 and "session" not in state


def test_session_is_refreshed_before_it_expires(start_pair: Callable[..., Pair]) -> None:
    pair = start_pair(session_ttl=2)  # refreshed 1 s before expiry, with the real clock
    records = demo_dossiers(4)
    with Client(pair.agent_url, API_KEY) as agent:
        agent.submit("DongBoHoSoMC", records[:2], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()
        time.sleep(1.1)
        agent.submit("DongBoHoSoMC", records[2:], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()
    log = _message_log(pair)
    assert [row.error_code for row in log if row.endpoint == "login"] == ["0", "0"]
    assert {row.error_code for row in log if row.endpoint == "integration"} == {"0"}


def test_refused_records_go_to_dead_letters_and_a_replay_delivers_them(
    start_pair: Callable[..., Pair],
) -> None:
    pair = start_pair()
    records = demo_dossiers(2)
    foreign = {**records[1], "MaHoSo": records[1]["MaHoSo"].replace("H56", "H60")}
    with Client(pair.agent_url, API_KEY) as agent:
        # a step for a dossier the hub does not have yet (40), and a dossier of a unit the hub
        # account may not act for (30): both refused for good
        orphan = agent.submit(
            "CapNhatTienDoHoSoMC",
            [step(records[0]["MaHoSo"], "20260302080000", "2", "Tiếp nhận hồ sơ")],
            madonvi=UNIT,
        )
        other = agent.submit("DongBoHoSoMC", [foreign], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()
        orphan_id = orphan.records[0].outbox_id or 0
        other_id = other.records[0].outbox_id or 0
        dead = agent.outbox(orphan_id)
        assert dead.state == "dead" and dead.last_answer is not None
        assert dead.last_answer["error_code"] == "40" and "40" in (dead.last_error or "")
        assert agent.outbox(other_id).last_answer == {
            **(agent.outbox(other_id).last_answer or {}),
            "error_code": "30",
        }
        assert [row.id for row in pair.agent.outbox.dead_letters()] == [orphan_id, other_id]

        # the fix: push the dossier, then replay the step; correct the foreign record on replay
        agent.submit("DongBoHoSoMC", records[:1], madonvi=UNIT, isUpdating="False")
        pair.wait_settled()
        pair.agent.replay(orphan_id, "tester", note="dossier pushed")
        pair.agent.replay(other_id, "tester", record=records[1], note="unit corrected")
        wait_until(lambda: agent.outbox(orphan_id).state == "delivered", what="replayed step")
        wait_until(lambda: agent.outbox(other_id).state == "delivered", what="corrected dossier")
    actions = pair.agent.outbox.actions(other_id)
    assert [(a.action, a.by, a.note) for a in actions] == [("replay", "tester", "unit corrected")]
    assert actions[0].previous_record == foreign
    with pair.agent.sessions() as db:
        row = db.get(AgentOutbox, other_id)
        assert row is not None and row.record_key == records[1]["MaHoSo"]
    looked_up = pair.hub_lookup(records[0]["MaHoSo"])["result"][0]
    assert [s["NoiDungXuLy"] for s in looked_up["QuaTrinhXuLy"]] == ["Tiếp nhận hồ sơ"]
