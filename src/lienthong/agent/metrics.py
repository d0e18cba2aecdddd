"""Prometheus metrics of the agent (``GET /metrics``), read from its database at each scrape.

A custom collector on a registry of its own per app (:func:`metrics_registry`): nothing is kept
in process-wide state, so several agents (or tests) in one process never clash, and the figures
survive a restart because they come from the outbox itself.

| Metric | Type | Labels |
|---|---|---|
| ``lienthong_agent_outbox_rows`` | gauge | ``service``, ``state`` (pending, delivered, dead, dropped) |
| ``lienthong_agent_oldest_pending_age_seconds`` | gauge | |
| ``lienthong_agent_dead_letters`` | gauge | |
| ``lienthong_agent_deliveries_total`` | counter | ``service``: rows delivered |
| ``lienthong_agent_failed_attempts_total`` | counter | ``service``: attempts that did not deliver |
| ``lienthong_agent_receipts_invalid_total`` | counter | hub receipts found invalid (or due and missing) |
| ``lienthong_agent_session_valid`` | gauge | 1 while the portal session is valid |
| ``lienthong_agent_last_success_timestamp_seconds`` | gauge | last delivery that got a record taken |
| ``lienthong_agent_last_error_timestamp_seconds`` | gauge | last failed delivery |
| ``lienthong_agent_evidence_entries`` | gauge | entries of the agent's evidence chain |
| ``lienthong_agent_evidence_unstamped_entries`` | gauge | entries no time-stamped batch covers yet |
| ``lienthong_agent_evidence_unstamped_oldest_age_seconds`` | gauge | age of the oldest of them (-1: none) |
| ``lienthong_agent_evidence_last_timestamp_age_seconds`` | gauge | age of the newest batch's time-stamp (-1: none) |
| ``lienthong_agent_evidence_timestamp_failures_total`` | counter | failed TSA calls of this process |
| ``lienthong_agent_evidence_timestamping`` | gauge | 1 when a TSA is configured, else 0 |
| ``lienthong_agent_evidence_fail_closed`` | gauge | 1 while delivery holds for want of a time-stamp |

The evidence metrics are the hub's ``lienthong_evidence_*`` (``lienthong.evidence.status.chain_metrics``), of the
agent's chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from lienthong.agent.outbox import DELIVERED
from lienthong.store.tables import AgentOutbox

if TYPE_CHECKING:
    from lienthong.agent.evidence import AgentEvidence

__all__ = ["AgentCollector", "metrics_registry"]


def _timestamp(fact: Any) -> float | None:
    if not isinstance(fact, dict) or not fact.get("at"):
        return None
    try:
        return dt.datetime.fromisoformat(str(fact["at"])).timestamp()
    except ValueError:
        return None


class AgentCollector(Collector):
    """Reads the agent database at each scrape."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        status: Callable[[], dict[str, Any]],
        evidence: AgentEvidence | None = None,
    ):
        self.sessions = sessions
        self.status = status
        self.evidence = evidence

    def collect(self) -> Iterator[Metric]:
        status = self.status()
        rows = GaugeMetricFamily(
            "lienthong_agent_outbox_rows",
            "Outbox rows by service and state",
            labels=["service", "state"],
        )
        for entry in status["services"]:
            for state in ("pending", "delivered", "dead", "dropped"):
                rows.add_metric([entry["service"], state], entry.get(state, 0))
        yield rows
        yield GaugeMetricFamily(
            "lienthong_agent_oldest_pending_age_seconds",
            "Age of the oldest row not delivered yet (0 when none)",
            value=status["oldest_pending_age_seconds"] or 0.0,
        )
        yield GaugeMetricFamily(
            "lienthong_agent_dead_letters",
            "Rows the portal refused for good, waiting for an operator",
            value=status["dead_letters"],
        )
        deliveries = CounterMetricFamily(
            "lienthong_agent_deliveries", "Rows delivered to the portal", labels=["service"]
        )
        failures = CounterMetricFamily(
            "lienthong_agent_failed_attempts",
            "Delivery attempts that did not deliver the row",
            labels=["service"],
        )
        with self.sessions() as db:
            for service, attempts, delivered in db.execute(
                select(
                    AgentOutbox.service,
                    func.coalesce(func.sum(AgentOutbox.attempts), 0),
                    func.coalesce(func.sum(case((AgentOutbox.state == DELIVERED, 1), else_=0)), 0),
                ).group_by(AgentOutbox.service)
            ):
                deliveries.add_metric([str(service)], int(delivered))
                failures.add_metric([str(service)], max(0, int(attempts) - int(delivered)))
        yield deliveries
        yield failures
        yield CounterMetricFamily(
            "lienthong_agent_receipts_invalid",
            "Signed receipts of the hub found invalid (bad signature, untrusted hub, another "
            "digest, other outcomes), or required and missing",
            value=status["receipts"]["invalid"],
        )
        signing = status.get("signing")
        if signing is not None:
            yield GaugeMetricFamily(
                "lienthong_agent_signing_ok",
                "1 while the agent's own certificate may sign (0: revoked, expired or untrusted: "
                "records wait in the outbox)",
                value=0 if signing.get("state") == "blocked" else 1,
            )
        if self.evidence is not None:
            yield from self.evidence.metrics()
        yield GaugeMetricFamily(
            "lienthong_agent_session_valid",
            "1 while the agent holds a portal session that has not expired",
            value=1 if status["session"]["logged_in"] else 0,
        )
        for name, key, text in (
            (
                "last_success",
                "last_success",
                "Time of the last delivery of which the portal took a record",
            ),
            ("last_error", "last_error", "Time of the last failed delivery"),
        ):
            stamp = _timestamp(status.get(key))
            yield GaugeMetricFamily(
                f"lienthong_agent_{name}_timestamp_seconds",
                f"{text} (0: never)",
                value=stamp or 0.0,
            )


def metrics_registry(
    sessions: sessionmaker[Session],
    status: Callable[[], dict[str, Any]],
    evidence: AgentEvidence | None = None,
) -> CollectorRegistry:
    """A registry of its own, holding one :class:`AgentCollector` (with ``evidence``: the
    ``lienthong_agent_evidence_*`` families of its chain)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(sessions, status, evidence))
    return registry
