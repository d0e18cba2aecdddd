"""Prometheus metrics of the hub (``GET /metrics``), counted in the database at each scrape.

Like the agent's (:mod:`lienthong.agent.metrics`): a custom collector on a registry of its own
per app, so the figures are the message log's own (every worker and every restart agree) and
nothing lives in process-wide state. Each scrape runs a few ``GROUP BY`` queries and loads no
row; ``/metrics`` itself is not written to the message log.

| Metric | Type | Labels |
|---|---|---|
| ``lienthong_hub_requests_total`` | counter | ``endpoint``, ``service``, ``code`` (answer code) |
| ``lienthong_hub_records_total`` | counter | ``service``, ``outcome`` (received, accepted, rejected) |
| ``lienthong_hub_signed_requests_total`` | counter | ``status`` (valid, invalid, untrusted, ...) |
| ``lienthong_hub_last_request_age_seconds`` | gauge | age of the newest message-log row (-1: none) |
| ``lienthong_evidence_entries`` | gauge | entries of the hub's evidence chain |
| ``lienthong_evidence_unstamped_entries`` | gauge | entries no time-stamped batch covers yet |
| ``lienthong_evidence_unstamped_oldest_age_seconds`` | gauge | age of the oldest of them (-1: none) |
| ``lienthong_evidence_last_timestamp_age_seconds`` | gauge | age of the newest batch's time-stamp (-1: none) |
| ``lienthong_evidence_timestamp_failures_total`` | counter | failed TSA calls of this process |
| ``lienthong_evidence_timestamping`` | gauge | 1 when a TSA is configured, 0 when time-stamping is off |
| ``lienthong_evidence_fail_closed`` | gauge | 1 while pushes are refused (code 60) |
| ``lienthong_evidence_archived_entries`` | gauge | entries moved to archive segments |
| ``lienthong_evidence_archive_lag_seconds`` | gauge | how far the oldest entry left is past the retention |
| ``lienthong_evidence_last_segment_age_seconds`` | gauge | age of the newest segment (-1: none) |
| ``lienthong_receipt_signing_ok`` | gauge | 1 while the receipt key may sign, 0 when revoked or expired (only with a receipt key) |

A service a client names is its own label only when the hub knows the name (the catalog's
services, the LGSP door's aliases) or the hub itself wrote it (``web:``/``public:`` pages);
any other name counts as ``other``, so a client cannot add labels without end.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, case, func, literal, or_, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lienthong.evidence.stamper import Stamper
from lienthong.evidence.status import (
    ArchiveStatus,
    SideStatus,
    archive_status,
    chain_metrics,
    side_status,
)
from lienthong.store.tables import MessageLog, MessageSignature

if TYPE_CHECKING:
    from lienthong.hub.app import Hub
    from lienthong.hub.receipts import ReceiptSigner

__all__ = ["OTHER", "HubCollector", "metrics_endpoint", "metrics_registry"]

#: The label of a service name the hub does not know.
OTHER = "other"
#: Endpoints whose ``service`` the hub writes itself (``kind:path`` of a page).
_PAGE_ENDPOINTS = ("web", "public")


def _service_label(known: Iterable[str]) -> ColumnElement[str]:
    """``message_log.service`` as a bounded label, collapsed in SQL (the answer stays small)."""
    return case(
        (MessageLog.service.is_(None), literal("")),
        (
            or_(MessageLog.endpoint.in_(_PAGE_ENDPOINTS), MessageLog.service.in_(sorted(known))),
            MessageLog.service,
        ),
        else_=literal(OTHER),
    )


class HubCollector(Collector):
    """Reads the hub's message log at each scrape."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        known_services: Iterable[str],
        stamper: Stamper | None = None,
        retention: dt.timedelta = dt.timedelta(days=30),
        receipts: ReceiptSigner | None = None,
    ) -> None:
        self.sessions = sessions
        self.known = frozenset(known_services)
        self.stamper = stamper
        self.retention = retention
        self.receipts = receipts

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "lienthong_hub_requests",
            "Requests answered, by endpoint, service and answer code (from the message log)",
            labels=["endpoint", "service", "code"],
        )
        records = CounterMetricFamily(
            "lienthong_hub_records",
            "Records of pushes received, accepted and rejected, by service",
            labels=["service", "outcome"],
        )
        signed = CounterMetricFamily(
            "lienthong_hub_signed_requests",
            "Signed requests kept with their verification, by status",
            labels=["status"],
        )
        # the label is computed in a subquery: PostgreSQL would not match a GROUP BY whose
        # expression carries bound parameters with the same expression in the select list
        log = select(
            MessageLog.endpoint,
            _service_label(self.known).label("service"),
            MessageLog.error_code,
            MessageLog.records,
            MessageLog.accepted,
            MessageLog.rejected,
        ).subquery()
        with self.sessions() as db:
            for endpoint, label, code, count in db.execute(
                select(log.c.endpoint, log.c.service, log.c.error_code, func.count())
                .group_by(log.c.endpoint, log.c.service, log.c.error_code)
                .order_by(log.c.endpoint, log.c.service, log.c.error_code)
            ):
                requests.add_metric([endpoint, label, code], int(count))
            for label, received, accepted, rejected in db.execute(
                select(
                    log.c.service,
                    func.sum(log.c.records),
                    func.sum(log.c.accepted),
                    func.sum(log.c.rejected),
                )
                .where(log.c.records > 0)
                .group_by(log.c.service)
                .order_by(log.c.service)
            ):
                for outcome, value in (
                    ("received", received),
                    ("accepted", accepted),
                    ("rejected", rejected),
                ):
                    records.add_metric([label, outcome], int(value or 0))
            for status, count in db.execute(
                select(MessageSignature.status, func.count())
                .group_by(MessageSignature.status)
                .order_by(MessageSignature.status)
            ):
                signed.add_metric([status], int(count))
            newest = db.scalar(select(func.max(MessageLog.at)))
            evidence = side_status(db, "hub")
            archives = archive_status(db, "hub")
        yield requests
        yield records
        yield signed
        age = -1.0
        if newest is not None:
            age = max(0.0, (dt.datetime.now(dt.UTC) - newest).total_seconds())
        yield GaugeMetricFamily(
            "lienthong_hub_last_request_age_seconds",
            "Seconds since the newest message-log row (-1: the log is empty)",
            value=age,
        )
        yield from self._evidence(evidence)
        yield from self._archives(archives)
        if self.receipts is not None:
            yield GaugeMetricFamily(
                "lienthong_receipt_signing_ok",
                "1 while the hub's receipt key may sign (0: revoked, expired or untrusted: pushes "
                "are answered without a receipt)",
                value=1 if self.receipts.signing_ok else 0,
            )

    def _evidence(self, evidence: SideStatus) -> Iterator[Metric]:
        now = dt.datetime.now(dt.UTC)
        stamper = self.stamper
        yield from chain_metrics(
            "lienthong_evidence",
            evidence,
            now=now,
            timestamping=stamper is not None and stamper.enabled,
            fail_closed=stamper is not None and stamper.fail_closed(now) is not None,
            failures=stamper.failures if stamper is not None else 0,
            tsa_setting="LIENTHONG_TSA_URL",
            fail_closed_means="pushes are refused (code 60)",
        )

    def _archives(self, archives: ArchiveStatus) -> Iterator[Metric]:
        now = dt.datetime.now(dt.UTC)
        segment = archives.last_segment_age(now)
        for name, text, value in (
            (
                "archived_entries",
                "Entries of the hub's evidence chain moved to archive segments",
                float(archives.archived_last_seq),
            ),
            (
                "archive_lag_seconds",
                "Seconds the oldest evidence entry left in the database is past the retention "
                "(LIENTHONG_EVIDENCE_RETENTION_DAYS; 0: none is)",
                archives.lag(now, self.retention),
            ),
            (
                "last_segment_age_seconds",
                "Seconds since the newest archive segment was made (-1: none yet)",
                -1.0 if segment is None else segment,
            ),
        ):
            yield GaugeMetricFamily(f"lienthong_evidence_{name}", text, value=value)


def metrics_registry(
    sessions: sessionmaker[Session],
    known_services: Iterable[str],
    stamper: Stamper | None = None,
    retention: dt.timedelta = dt.timedelta(days=30),
    receipts: ReceiptSigner | None = None,
) -> CollectorRegistry:
    """A registry of its own, holding one :class:`HubCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(sessions, known_services, stamper, retention, receipts))
    return registry


def _admitted(
    host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # no address at all (a Unix socket, a test client): not admitted
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def metrics_endpoint(hub: Hub) -> Callable[[Request], Awaitable[Response]]:
    """``GET /metrics`` of ``hub``: the text format to clients of ``metrics_networks``; any
    other client gets the hub's 404 of an unknown path (the endpoint is not advertised)."""
    from lienthong.hub.lgsp import parse_aliases  # it builds on the app module

    known = set(hub.validator.catalog.packets) | set(parse_aliases(hub.settings.lgsp_aliases))
    retention = dt.timedelta(days=hub.settings.evidence_retention_days)
    registry = metrics_registry(hub.sessions, known, hub.stamper, retention, hub.receipts)
    networks = hub.settings.metrics_clients()

    async def endpoint(request: Request) -> Response:
        if request.client is None or not _admitted(request.client.host, networks):
            raise HTTPException(status_code=404)
        body = await anyio.to_thread.run_sync(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    return endpoint
