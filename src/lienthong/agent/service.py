"""The agent as one object: settings, database, outbox, validator, portal client, worker.

>>> service = AgentService(AgentSettings.load("agent.toml"))   # runs the migrations
>>> service.start()          # the delivery worker starts sending
>>> receipt = service.submit(envelope, key)
>>> service.stop()

The local HTTP API (:func:`lienthong.agent.api.create_app`) and the CLI are thin layers over it;
later features (pulls, status, metrics) hang off the same object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from lienthong.agent.delivery import DeliveryWorker
from lienthong.agent.evidence import AgentEvidence
from lienthong.agent.intake import Intake, SubmitReceipt, key_field_of
from lienthong.agent.outbox import Outbox, OutboxError, record_identity
from lienthong.agent.portal import Portal, open_portal
from lienthong.agent.pulls import Puller, PullResult
from lienthong.agent.runlock import RunLock
from lienthong.agent.settings import AgentSettings, ApiKey, SettingsError
from lienthong.agent.signing import EnvelopeSigner
from lienthong.agent.stats import StatsScheduler, StatsSender
from lienthong.agent.webhooks import WebhookSender
from lienthong.security.sealing import SealingError, master_key_of
from lienthong.spec import Validator, load_catalog
from lienthong.store.db import make_engine, session_factory, upgrade
from lienthong.store.sealing import open_sealer, register_sealer
from lienthong.store.tables import AgentOutbox

__all__ = ["AgentService"]


class AgentService:
    """Everything one agent process holds. ``start()`` / ``stop()`` run the delivery worker."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        engine: Engine | None = None,
        portal: Portal | None = None,
    ) -> None:
        settings.validate()
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        try:  # a wrong master key stops the agent here, before any body is kept
            master = master_key_of(settings.sealing, "LIENTHONG_AGENT_SEALING_MASTER_KEY")
            # seals the evidence bodies (lienthong.evidence.store finds it by the engine)
            register_sealer(self.engine, open_sealer(self.sessions, master))
        except SealingError as problem:
            raise SettingsError(f"sealing: {problem}") from None
        self.outbox = Outbox(self.sessions)
        self.validator = Validator(load_catalog(settings.profile))
        self.intake = Intake(settings, self.validator, self.outbox)
        self.portal: Portal | None = portal
        if self.portal is None and settings.deliver:
            self.portal = open_portal(settings.portal, timeout=settings.request_timeout_seconds)
        self.signer: EnvelopeSigner | None = None
        if settings.signing.format:
            self.signer = EnvelopeSigner(settings.signing)
            if self.portal is not None:
                self.portal.signer = self.signer.headers
        signer = self.signer
        #: Every answered envelope kept, its chain time-stamped (side ``agent``).
        self.evidence = AgentEvidence(
            self.sessions,
            settings,
            own_check=lambda: signer.last_check if signer is not None else None,
        )
        self.worker = (
            DeliveryWorker(self.outbox, self.portal, settings, evidence=self.evidence)
            if self.portal is not None
            else None
        )
        self._owns_engine = engine is None
        self.run_lock = RunLock(self.engine)
        self.webhooks = WebhookSender(self.sessions, settings.webhook)
        self.puller = Puller(
            self.sessions,
            settings,
            self.validator.catalog,
            self.portal,
            notify=self.webhooks.enabled,
            on_stored=self.webhooks.wake,
        )
        self.stats = StatsSender(settings, self.sessions, self.outbox, self.validator)
        self.stats_scheduler = StatsScheduler(self.stats)

    def start(self) -> None:
        """Start the workers. Raises :class:`AgentAlreadyRunning` when another agent process
        runs on the same database (see :mod:`lienthong.agent.runlock`)."""
        self.run_lock.acquire()
        self.outbox.put_state(
            "agent.started", {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        )
        self.evidence.start()  # time-stamps the chain, when a TSA is configured
        if self.worker is not None:
            self.worker.start()
        self.webhooks.start()  # when a webhook URL is set
        if self.settings.pulls.enabled:
            self.puller.start()
        if self.settings.stats_auto_send:
            self.stats_scheduler.start()

    def stop(self) -> None:
        self.puller.stop()
        self.webhooks.stop()
        self.stats_scheduler.stop()
        if self.worker is not None:
            self.worker.stop()
        self.evidence.stop()
        if self.portal is not None:
            self.portal.close()
        self.run_lock.release()
        if self._owns_engine:
            self.engine.dispose()

    # -- local side --------------------------------------------------------------------------

    def submit(self, envelope: Any, key: ApiKey) -> SubmitReceipt:
        """Validate and queue; returns once the queued rows are committed."""
        receipt = self.intake.submit(envelope, key)
        if receipt.queued and self.worker is not None:
            self.worker.wake()
        return receipt

    def pull_now(self, services: Sequence[str] | None = None) -> list[PullResult]:
        """Pull ``services`` (default: every configured pull) from the portal now; failures are
        in the results and in ``agent_state`` ``pull.<service>``."""
        return self.puller.pull_now(services)

    # -- dead letters --------------------------------------------------------------------------

    def replay(
        self,
        row_id: int,
        by: str,
        *,
        record: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> AgentOutbox:
        """Put a dead row back to pending; a corrected ``record`` is validated first
        (:class:`OutboxError` with the issues when it has errors)."""
        identity = None
        if record is not None:
            row = self.outbox.get(row_id)
            if row is None:
                raise OutboxError(f"no outbox row {row_id}")
            checked = self.validator.validate_record(row.service, record)
            if not checked.ok:
                raise OutboxError(
                    f"the corrected record of row {row_id} is invalid",
                    [issue.as_dict() for issue in checked.issues],
                )
            key_field = key_field_of(self.validator.catalog.packet(row.service))
            identity = record_identity(row.service, row.unit, record, key_field)
        replayed = self.outbox.replay(row_id, by, record=record, identity=identity, note=note)
        if self.worker is not None:
            self.worker.wake()
        return replayed
