"""A Python client of the agent's local API (httpx), for one-stop systems written in Python.

>>> with Client("http://127.0.0.1:8130", api_key) as agent:
...     result = agent.submit("DongBoHoSoMC", records, madonvi="000.00.00.H56", isUpdating="False")
...     for record in result.records:
...         print(record.index, record.key, record.status, record.outbox_id)
...     agent.outbox(result.records[0].outbox_id).state      # "pending", then "delivered"

``submit`` returns a :class:`SubmitResult` whenever the records were looked at (HTTP 200, 207,
and 422 with per-record results), and raises :class:`AgentApiError` when the whole request was
refused (wrong key, unit not allowed, unknown service, invalid envelope...).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

__all__ = [
    "AgentApiError",
    "Client",
    "IssueView",
    "OutboxRecord",
    "SubmitResult",
    "SubmittedRecord",
]


@dataclass(frozen=True, slots=True)
class IssueView:
    path: str
    code: str
    severity: str
    message: str
    message_en: str

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> IssueView:
        return cls(
            str(value.get("path", "")),
            str(value.get("code", "")),
            str(value.get("severity", "error")),
            str(value.get("message", "")),
            str(value.get("message_en", "")),
        )


@dataclass(frozen=True, slots=True)
class SubmittedRecord:
    index: int
    key: str | None
    status: str
    """``queued``, ``invalid`` or ``forbidden``."""
    outbox_id: int | None
    issues: tuple[IssueView, ...] = ()

    @property
    def queued(self) -> bool:
        return self.status == "queued"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    http_status: int
    error_code: str
    """``ok`` (all queued), ``partial`` or ``rejected`` (none queued)."""
    message: str
    message_en: str
    records: tuple[SubmittedRecord, ...]
    issues: tuple[IssueView, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error_code == "ok"

    @property
    def queued(self) -> list[SubmittedRecord]:
        return [record for record in self.records if record.queued]

    @property
    def refused(self) -> list[SubmittedRecord]:
        return [record for record in self.records if not record.queued]


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    service: str
    madonvi: str
    key: str | None
    state: str
    """``pending``, ``delivered``, ``dead`` or ``dropped``."""
    attempts: int
    created_at: str | None
    next_attempt_at: str | None
    last_attempt_at: str | None
    delivered_at: str | None
    last_error: str | None
    last_answer: dict[str, Any] | None


class AgentApiError(Exception):
    """The agent refused the whole request; ``error_code`` is a stable code of the local API."""

    def __init__(self, http_status: int, body: Mapping[str, Any]) -> None:
        self.http_status = http_status
        self.error_code = str(body.get("error_code", f"http {http_status}"))
        self.message = str(body.get("message", ""))
        self.message_en = str(body.get("message_en", ""))
        self.path = body.get("path")
        self.retryable = bool(body.get("retryable", False))
        issues = body.get("issues")
        self.issues = (
            tuple(IssueView.from_dict(i) for i in issues if isinstance(i, Mapping))
            if isinstance(issues, list)
            else ()
        )
        super().__init__(f"{self.error_code}: {self.message_en or self.message}")


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    return {"error_code": f"http {response.status_code}", "message_en": response.text[:200]}


class Client:
    """The agent's local API at ``base_url`` with one API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: how an ``https://`` agent's certificate is checked (an ``SSLContext``
        trusting the agent's CA; default: the usual CAs)."""
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            verify=verify,
            headers={"X-API-Key": api_key},
        )

    def __repr__(self) -> str:
        return f"Client(base_url={str(self._http.base_url)!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(
        self,
        service: str,
        records: Sequence[Mapping[str, Any]],
        *,
        madonvi: str | None = None,
        **params: Any,
    ) -> SubmitResult:
        """Queue ``records`` of ``service`` (``params`` are the packet's, e.g. ``isUpdating``)."""
        envelope: dict[str, Any] = {"service": service, **params, "data": list(records)}
        if madonvi is not None:
            envelope["madonvi"] = madonvi
        return self.submit_envelope(envelope)

    def submit_envelope(self, envelope: Mapping[str, Any]) -> SubmitResult:
        """Queue a whole envelope ``{"service", "madonvi", ...params, "data"}`` as it is."""
        response = self._http.post("/api/submit", json=dict(envelope))
        body = _body(response)
        if response.status_code not in (200, 207, 422) or not isinstance(body.get("records"), list):
            raise AgentApiError(response.status_code, body)
        return SubmitResult(
            http_status=response.status_code,
            error_code=str(body.get("error_code")),
            message=str(body.get("message", "")),
            message_en=str(body.get("message_en", "")),
            records=tuple(
                SubmittedRecord(
                    index=int(item.get("index", position)),
                    key=item.get("key"),
                    status=str(item.get("status")),
                    outbox_id=item.get("outbox_id"),
                    issues=tuple(IssueView.from_dict(i) for i in item.get("issues", [])),
                )
                for position, item in enumerate(body["records"])
            ),
            issues=tuple(IssueView.from_dict(i) for i in body.get("issues", [])),
        )

    def outbox(self, outbox_id: int) -> OutboxRecord:
        """The delivery state of one queued record."""
        response = self._http.get(f"/api/outbox/{int(outbox_id)}")
        body = _body(response)
        if response.status_code != 200:
            raise AgentApiError(response.status_code, body)
        return OutboxRecord(
            id=int(body["id"]),
            service=str(body["service"]),
            madonvi=str(body["madonvi"]),
            key=body.get("key"),
            state=str(body["state"]),
            attempts=int(body.get("attempts", 0)),
            created_at=body.get("created_at"),
            next_attempt_at=body.get("next_attempt_at"),
            last_attempt_at=body.get("last_attempt_at"),
            delivered_at=body.get("delivered_at"),
            last_error=body.get("last_error"),
            last_answer=body.get("last_answer"),
        )
