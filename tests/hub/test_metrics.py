"""``GET /metrics`` of the hub over real HTTP: the message log's own counts, who may read them."""

from __future__ import annotations

import copy

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from lienthong.demo import dossiers
from lienthong.hub.app import Hub
from lienthong.hub.metrics import OTHER, _admitted
from lienthong.hub.settings import HubSettings, SettingsError
from lienthong.store.db import session_factory
from lienthong.store.tables import MessageLog, MessageSignature
from tests.hub.conftest import PASSWORD, UNIT, RunningHub, free_port, serve

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(running: RunningHub) -> Samples:
    answer = running.client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _family(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def _push(session: str, service: str, records: list[dict[str, object]]) -> dict[str, object]:
    return {
        "session": session,
        "madonvi": UNIT,
        "service": service,
        "isUpdating": "False",
        "data": records,
    }


def test_the_counters_are_exactly_the_calls_made(running: RunningHub, engine: Engine) -> None:
    empty = _scrape(running)
    assert _family(empty, "lienthong_hub_requests_total") == {}
    assert _family(empty, "lienthong_hub_last_request_age_seconds") == {(): -1.0}
    assert _family(empty, "lienthong_evidence_entries") == {(): 0.0}

    refused = running.client.post(
        running.settings.login_path, json={"username": "tinh_thanhhoa", "password": "sai"}
    )
    assert refused.json()["error_code"] == "20"
    session = running.login()
    records = [copy.deepcopy(r) for r in dossiers(3)]
    records[1]["NgayHenTra"] = "20240230000000"  # no 30 February: rejected
    assert running.call(_push(session, "DongBoHoSoMC", records)).json()["error_code"] == "01"
    fresh = copy.deepcopy(dossiers(4)[3])
    assert running.call(_push(session, "DongBoHoSoMC", [fresh])).json()["error_code"] == "0"
    # a name the hub does not know is counted, but never becomes a label of its own
    unknown = running.call(_push(session, "KhongCoDichVuNay", [fresh])).json()
    assert unknown["error_code"] == "13"

    # two signature verifications kept with the last log rows (as the gate keeps them)
    sessions = session_factory(engine)
    with sessions() as db:
        last = db.scalar(select(func.max(MessageLog.id)))
        for status in ("valid", "untrusted"):
            db.add(MessageSignature(log_id=last, format="cades", status=status, result={}))
        db.commit()
        logged = db.scalar(select(func.count()).select_from(MessageLog))

    samples = _scrape(running)
    assert _family(samples, "lienthong_hub_requests_total") == {
        (("code", "20"), ("endpoint", "login"), ("service", "")): 1.0,
        (("code", "0"), ("endpoint", "login"), ("service", "")): 1.0,
        (("code", "01"), ("endpoint", "integration"), ("service", "DongBoHoSoMC")): 1.0,
        (("code", "0"), ("endpoint", "integration"), ("service", "DongBoHoSoMC")): 1.0,
        (("code", "13"), ("endpoint", "integration"), ("service", OTHER)): 1.0,
    }
    assert _family(samples, "lienthong_hub_records_total") == {
        (("outcome", "received"), ("service", "DongBoHoSoMC")): 4.0,
        (("outcome", "accepted"), ("service", "DongBoHoSoMC")): 3.0,
        (("outcome", "rejected"), ("service", "DongBoHoSoMC")): 1.0,
    }
    assert _family(samples, "lienthong_hub_signed_requests_total") == {
        (("status", "untrusted"),): 1.0,
        (("status", "valid"),): 1.0,
    }
    (age,) = _family(samples, "lienthong_hub_last_request_age_seconds").values()
    assert 0.0 <= age < 60.0
    # the two pushes authorization let through are evidence entries, not yet stamped (no TSA)
    evidence = {
        name: _family(samples, f"lienthong_evidence_{name}")[()]
        for name in (
            "entries",
            "unstamped_entries",
            "last_timestamp_age_seconds",
            "timestamp_failures_total",
            "timestamping",
            "fail_closed",
            "archived_entries",
            "archive_lag_seconds",
            "last_segment_age_seconds",
        )
    }
    assert evidence == {
        "entries": 2.0,
        "unstamped_entries": 2.0,
        "last_timestamp_age_seconds": -1.0,
        "timestamp_failures_total": 0.0,
        "timestamping": 0.0,
        "fail_closed": 0.0,
        "archived_entries": 0.0,
        "archive_lag_seconds": 0.0,
        "last_segment_age_seconds": -1.0,
    }
    assert _family(samples, "lienthong_evidence_unstamped_oldest_age_seconds")[()] >= 0.0
    with sessions() as db:  # scrapes are not written to the message log
        assert db.scalar(select(func.count()).select_from(MessageLog)) == logged


def test_a_client_outside_the_metrics_networks_gets_the_404_of_an_unknown_path(
    engine: Engine,
) -> None:
    settings = HubSettings(port=free_port(), metrics_networks="10.0.0.0/8, 2001:db8::/32")
    hub = Hub(settings, engine=engine)
    hub.accounts.add("tinh_thanhhoa", PASSWORD, [UNIT])
    with serve(hub, settings) as running:
        refused = running.client.get("/metrics")
        unknown = running.client.get("/khong-co-trang-nay")
        assert refused.status_code == unknown.status_code == 404
        assert refused.content == unknown.content
        assert "lienthong_hub" not in refused.text


def test_the_networks_setting_is_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="LIENTHONG_METRICS_NETWORKS: 'localhost'"):
        HubSettings(metrics_networks="127.0.0.1/32,localhost")
    assert HubSettings(metrics_networks="").metrics_clients() == ()


@pytest.mark.parametrize(
    ("host", "admitted"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # a dual-stack socket's spelling of the IPv4 loopback
        ("192.0.2.7", False),
        ("testclient", False),
    ],
)
def test_which_clients_the_default_admits(host: str, admitted: bool) -> None:
    assert _admitted(host, HubSettings().metrics_clients()) is admitted
