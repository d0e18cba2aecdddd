"""The agent's monthly statistics: the same figures as the hub's, sent once a month, served on its
API (real hub and agent servers over HTTP; ``[sqlite]`` and ``[postgresql]``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from lienthong.agent import Client
from lienthong.agent.api import create_app
from lienthong.agent.dossiers import upsert_dossiers
from lienthong.agent.service import AgentService
from lienthong.agent.settings import ApiKey, hash_api_key
from lienthong.agent.stats import StatsSender, due_period, parse_month, periods
from lienthong.hub.reports import computed_statistics
from lienthong.spec.dates import VIETNAM, format_wire_date
from lienthong.store.tables import AgentDossier, AgentOutbox
from tests.agent.conftest import (
    API_KEY,
    OTHER_KEY,
    UNIT,
    Pair,
    agent_settings,
    demo_dossiers,
    free_port,
    serve,
)

SUB_UNIT = "000.00.13.H56"  # the demo dossiers' unit, under UNIT


def dossier(
    base: dict[str, Any],
    received: str,
    due: str,
    finished: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """A demo dossier with these dates (wire form); pending when ``finished`` is None."""
    return {
        **base,
        "NgayTiepNhan": received,
        "NgayHenTra": due,
        "NgayKetThucXuLy": finished or "",
        "NgayTra": finished or "",
        "TrangThaiHoSo": status or ("10" if finished else "2"),
    }


def _submit(agent: Client, records: list[dict[str, Any]], updating: str = "False") -> None:
    result = agent.submit("DongBoHoSoMC", records, madonvi=UNIT, isUpdating=updating)
    assert result.ok, [(r.key, [i.message_en for i in r.issues]) for r in result.refused]


def _hub_call(pair: Pair, envelope: dict[str, Any]) -> dict[str, Any]:
    from tests.agent.conftest import HUB_PASSWORD, HUB_USER

    login = pair.hub_http.post(
        "/api/login", json={"username": HUB_USER, "password": HUB_PASSWORD}
    ).json()
    answer: dict[str, Any] = pair.hub_http.post(
        "/api/share", json={"session": login["session"], "madonvi": UNIT, **envelope}
    ).json()
    return answer


# -- the same figures as the hub's --------------------------------------------------------------


def test_agent_figures_equal_the_hubs_over_several_months(
    start_pair: Callable[..., Pair],
) -> None:
    pair = start_pair()
    base = demo_dossiers(9)
    records = [
        # received in August, processed in early September: carried over into September
        dossier(base[0], "20260815080000", "20260905170000", "20260902100000"),
        dossier(base[1], "20260910080000", "20260920170000", "20260918100000"),  # on time
        # received in September, processed late in October
        dossier(base[2], "20260925080000", "20261005170000", "20261010100000"),
        dossier(base[3], "20261003080000", "20261015170000"),  # pending, overdue; updated below
        dossier(base[4], "20261020080000", "20261130170000", "20261105100000"),
        dossier(base[5], "20261110080000", "20261120170000", None, status="3"),  # refused: out
        dossier(base[6], "20261128080000", "20261210170000"),  # pending, in time
        dossier(base[7], "20260701080000", "20260710170000", "20260709100000"),  # long before
        dossier(base[8], "20261105080000", "20261106170000", "20261125100000"),  # late in Nov
    ]
    with Client(pair.agent_url, API_KEY) as agent:
        _submit(agent, records)
        # a later version of a dossier: processed (late) in November. The latest version counts
        finished = dossier(base[3], "20261003080000", "20261015170000", "20261120090000")
        _submit(agent, [finished], updating="True")
        pair.wait_settled()
    assert pair.agent.outbox.summary().counts["delivered"] == 10

    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=pair.agent_url, headers=headers, timeout=10) as http:
        answer = http.get(
            "/api/stats", params={"madonvi": UNIT, "from": "2026-08", "to": "2026-12"}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        single = http.get("/api/stats", params={"madonvi": SUB_UNIT, "year": 2026, "month": 10})
        assert single.status_code == 200
    assert (body["madonvi"], body["from"], body["to"]) == (UNIT, "2026-08", "2026-12")
    rows = body["result"]
    assert [(row["Nam"], row["Thang"]) for row in rows] == [("2026", str(m)) for m in range(8, 13)]
    with pair.hub.sessions() as db:
        for row in rows:
            hub = computed_statistics(db, UNIT, int(row["Nam"]), int(row["Thang"]))
            assert row == hub, f"{row['Nam']}-{row['Thang']}"
        assert single.json()["result"] == [computed_statistics(db, SUB_UNIT, 2026, 10)]

    # the figures are not trivially equal: months carry over, processing crosses months
    by_month = {int(row["Thang"]): row for row in rows}
    assert by_month[9]["SoTonKyTruoc"] == "1" and by_month[9]["TongXuLyDungHan"] == "2"
    october = by_month[10]
    assert (october["SoNhanTrongKy"], october["SoTonKyTruoc"]) == ("2", "1")
    assert (october["TongXuLyTreHan"], october["TongChuaXuLyTreHan"]) == ("1", "1")
    november = by_month[11]
    assert (november["TongDaXuLy"], november["TongXuLyTreHan"]) == ("3", "2")
    assert november["TongChuaXuLyTrongHan"] == "1"  # the refused dossier is left out
    assert by_month[12]["TongSoXuLy"] == "1"


def test_latest_version_by_outbox_sequence_wins(engine: Engine) -> None:
    service = AgentService(agent_settings("http://127.0.0.1:9", deliver=False), engine=engine)
    try:
        base = demo_dossiers(1)[0]
        first = dossier(base, "20261003080000", "20261015170000")
        second = dossier(base, "20261003080000", "20261015170000", "20261012090000")
        key = ApiKey("motcua", hash_api_key(API_KEY), (UNIT,))
        envelope = {"service": "DongBoHoSoMC", "madonvi": UNIT, "isUpdating": "True"}
        assert service.submit({**envelope, "data": [first]}, key).queued == 1
        assert service.submit({**envelope, "data": [second, first, second]}, key).queued == 3
        with service.sessions() as db:
            row = db.get(AgentDossier, base["MaHoSo"])
            assert row is not None and row.record["NgayKetThucXuLy"] == "20261012090000"
            last_id = db.scalar(select(AgentOutbox.id).order_by(AgentOutbox.id.desc()).limit(1))
            assert row.outbox_id == last_id and row.finished_at is not None
        # an older version arriving later (a replayed dead letter) does not overwrite it
        with service.sessions.begin() as db:
            upsert_dossiers(db, [(1, UNIT, first)])
        with service.sessions() as db:
            row = db.get(AgentDossier, base["MaHoSo"])
            assert row is not None and row.record["NgayKetThucXuLy"] == "20261012090000"
        assert service.stats.figures(UNIT, (2026, 10))[0]["TongXuLyDungHan"] == "1"
    finally:
        service.stop()


# -- the monthly send ---------------------------------------------------------------------------


def test_due_period_after_the_configured_day_and_hour() -> None:
    at = dt.datetime(2026, 12, 1, 0, 59, tzinfo=VIETNAM)
    assert due_period(at, 1, 1) is None
    assert due_period(at + dt.timedelta(minutes=1), 1, 1) == (2026, 11)
    # Vietnam time: 18:00 UTC on 31 Dec is 01:00 on 1 Jan in Hà Nội
    assert due_period(dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.UTC), 1, 1) == (2026, 12)
    assert due_period(dt.datetime(2027, 1, 4, 23, 0, tzinfo=VIETNAM), 5, 8) is None
    assert parse_month("2026-02") == (2026, 2)
    assert periods((2026, 11), (2027, 2)) == [(2026, 11), (2026, 12), (2027, 1), (2027, 2)]
    for bad in ("2026-13", "26-01", "2026/01"):
        with pytest.raises(ValueError):
            parse_month(bad)
    with pytest.raises(ValueError):
        periods((2026, 2), (2026, 1))


def _this_month_dossiers(now: dt.datetime) -> list[dict[str, Any]]:
    """Dossiers received before this month (Vietnam time), one processed this month."""
    local = now.astimezone(VIETNAM)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    base = demo_dossiers(3)
    before = start - dt.timedelta(days=20)
    done = max(start + dt.timedelta(minutes=1), local - dt.timedelta(minutes=5))
    return [
        dossier(
            base[0], format_wire_date(before), format_wire_date(before + dt.timedelta(days=60))
        ),
        dossier(base[1], format_wire_date(before), format_wire_date(before + dt.timedelta(days=5))),
        dossier(
            base[2],
            format_wire_date(before),
            format_wire_date(before + dt.timedelta(days=60)),
            format_wire_date(done),
        ),
    ]


def test_monthly_send_is_accepted_by_the_hub_and_reconciles(
    start_pair: Callable[..., Pair],
) -> None:
    pair = start_pair()
    now = dt.datetime.now(dt.UTC)
    local = now.astimezone(VIETNAM)
    this_month = (local.year, local.month)
    next_month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    send_time = dt.datetime(*next_month, 1, 1, 30, tzinfo=VIETNAM)

    # a fresh agent sends nothing for a month it was not running in
    assert pair.agent.stats.check(now=send_time) == []
    with Client(pair.agent_url, API_KEY) as agent:
        _submit(agent, _this_month_dossiers(now))
        pair.wait_settled()
    assert pair.agent.stats.check(now=send_time - dt.timedelta(hours=1)) == []  # not yet due
    sent = pair.agent.stats.check(now=send_time)
    assert [(r.unit, r.period) for r in sent] == [
        (UNIT, f"{this_month[0]:04d}-{this_month[1]:02d}")
    ]
    assert pair.agent.worker is not None
    pair.agent.worker.wake()
    pair.wait_settled()
    row = pair.agent.outbox.get(sent[0].outbox_id or 0)
    assert row is not None and row.state == "delivered", row and row.last_answer
    assert row.submitter == "agent-stats" and row.last_answer is not None
    assert row.last_answer["status"] == "accepted"

    answer = _hub_call(
        pair,
        {"service": "DoiSoatThongKeHoSo", "Nam": str(this_month[0]), "Thang": str(this_month[1])},
    )
    assert answer["error_code"] in ("0", "00", 0), answer
    assert answer["DaBaoCao"] == "True"
    gaps = {item["TruongThongTin"]: item for item in answer["result"]}
    assert gaps["SoTonKyTruoc"]["SoLieuBaoCao"] == "3"
    assert gaps["TongDaXuLy"]["SoLieuTinhToan"] == "1"
    assert [name for name, item in gaps.items() if item["ChenhLech"] != "False"] == []

    # exactly once: a second check, or a restarted agent, sends nothing more
    assert pair.agent.stats.check(now=send_time + dt.timedelta(days=3)) == []
    restarted = StatsSender(
        pair.agent.settings, pair.agent.sessions, pair.agent.outbox, pair.agent.validator
    )
    assert restarted.check(now=send_time) == []
    state = pair.agent.outbox.state(f"stats.sent.{UNIT}.{sent[0].period}")
    assert state is not None and state["outbox_id"] == sent[0].outbox_id
    # the operator can force it
    forced = restarted.send(this_month, force=True, by="tester")
    assert forced[0].outbox_id is not None and forced[0].outbox_id > (sent[0].outbox_id or 0)


# -- the statistics API ---------------------------------------------------------------------------


@pytest.fixture
def api(engine: Engine) -> Iterator[httpx.Client]:
    service = AgentService(agent_settings("http://127.0.0.1:9", deliver=False), engine=engine)
    try:
        with (
            serve(create_app(service, manage_service=False), free_port()) as url,
            httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as client,
        ):
            yield client
    finally:
        service.stop()


def test_stats_api_refusals(api: httpx.Client) -> None:
    query = {"madonvi": UNIT, "year": "2026", "month": "11"}
    assert api.get("/api/stats", params=query, headers={"X-API-Key": ""}).status_code == 401
    forbidden = api.get("/api/stats", params=query, headers={"X-API-Key": OTHER_KEY})
    assert (forbidden.status_code, forbidden.json()["error_code"]) == (403, "auth.unit_forbidden")
    for bad in (
        {"madonvi": UNIT, "year": "2026"},
        {"madonvi": UNIT, "year": "2026", "month": "13"},
        {"madonvi": UNIT, "from": "2026-05", "to": "2026-01"},
        {"madonvi": UNIT, "from": "2000-01", "to": "2026-01"},
    ):
        answer = api.get("/api/stats", params=bad)
        assert (answer.status_code, answer.json()["error_code"]) == (400, "request.query"), bad
    empty = api.get("/api/stats", params=query).json()
    assert empty["result"][0]["TongSoXuLy"] == "0" and empty["result"][0]["Madonvi"] == UNIT
