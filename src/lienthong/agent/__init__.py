"""The one-stop agent: a local gateway between a one-stop system (MCĐT) and the portal.

The local system hands it plain packets (``POST /api/submit`` or :class:`Client`); the agent
validates them at the edge, keeps them in a durable outbox, and delivers them to the portal (the
hub or the real DVCQG) in order, with retries, losing nothing. See ``docs/agent.md``.

The names below are loaded on first use, so ``import lienthong.agent`` stays cheap for the
command line and for local systems that only need :class:`Client`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lienthong.agent.client import (
        AgentApiError,
        Client,
        IssueView,
        OutboxRecord,
        SubmitResult,
        SubmittedRecord,
    )
    from lienthong.agent.service import AgentService
    from lienthong.agent.settings import AgentSettings, ApiKey, PortalSettings, SettingsError

__all__ = [
    "AgentApiError",
    "AgentService",
    "AgentSettings",
    "ApiKey",
    "Client",
    "IssueView",
    "OutboxRecord",
    "PortalSettings",
    "SettingsError",
    "SubmitResult",
    "SubmittedRecord",
]

_HOMES = {
    "AgentApiError": "client",
    "Client": "client",
    "IssueView": "client",
    "OutboxRecord": "client",
    "SubmitResult": "client",
    "SubmittedRecord": "client",
    "AgentService": "service",
    "AgentSettings": "settings",
    "ApiKey": "settings",
    "PortalSettings": "settings",
    "SettingsError": "settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"lienthong.agent.{home}"), name)
