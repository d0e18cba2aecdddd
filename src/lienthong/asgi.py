"""Small helpers shared by the Starlette applications (the hub and the agent).

They meet nowhere else: the hub and the agent never import each other.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HSTS",
    "MAX_COUNTED_BYTES",
    "PERMISSIONS_POLICY",
    "GuardMiddleware",
    "declared_length",
    "read_limited_body",
]

logger = logging.getLogger("lienthong.http")

#: The largest byte count a log row records (a signed 32-bit column): a declared length above it
#: is a refusal anyway, and must never overflow the column that records it.
MAX_COUNTED_BYTES = 2**31 - 1


def declared_length(request: Request) -> int:
    """The declared ``Content-Length`` for the record, clamped to ``[0, MAX_COUNTED_BYTES]``
    (0 when absent or not a plain decimal number)."""
    declared = request.headers.get("content-length", "")
    if not (declared.isascii() and declared.isdigit()):
        return 0
    if len(declared) > 12:
        return MAX_COUNTED_BYTES
    return min(int(declared), MAX_COUNTED_BYTES)


#: An oversized body is still read (and thrown away) up to this many bytes and seconds before
#: the 413 goes out: a client that sends its whole body before reading the answer (Java's
#: HttpURLConnection, Python's urllib) would otherwise see a connection reset, not the 413.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


async def _drain(stream: AsyncIterator[bytes], declared: int | None) -> None:
    """Read and discard the rest of a refused body, bounded in bytes and time."""
    budget = min(declared, DRAIN_MAX_BYTES) if declared is not None else DRAIN_MAX_BYTES
    drained = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        try:
            async for chunk in stream:
                drained += len(chunk)
                if drained >= budget:
                    return
        except ClientDisconnect:  # gone: nobody to answer
            return


async def read_limited_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit`` bytes.

    A body declared larger (``Content-Length``) is refused without being kept; one that is not
    declared is kept only until it crosses the limit, so an oversized upload never sits in
    memory whole. Before the refusal the rest of the body is read and discarded (at most
    :data:`DRAIN_MAX_BYTES`, :data:`DRAIN_SECONDS`), unless the client asked to be told first
    (``Expect: 100-continue``) or declared more than that bound.
    """
    text = request.headers.get("content-length")
    digits = text is not None and text.isascii() and text.isdigit()
    declared = int(text) if text is not None and digits and len(text) <= 20 else None
    drain = request.headers.get("expect", "").lower() != "100-continue"
    stream = request.stream()
    if digits and (declared is None or declared > limit):  # declared larger: refused unkept
        if drain and declared is not None and declared <= DRAIN_MAX_BYTES:
            await _drain(stream, declared)
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            if drain and (declared is None or declared <= DRAIN_MAX_BYTES):
                await _drain(stream, None if declared is None else declared - size)
            return None
        chunks.append(chunk)
    return b"".join(chunks)


#: Browser features no hub answer needs; a page that is framed or injected gets none of them.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)
#: Sent only over TLS (RFC 6797 ignores it over plain HTTP): one year, subdomains included.
HSTS = "max-age=31536000; includeSubDomains"


class GuardMiddleware:
    """Pure ASGI middleware for every answer of an app facing the internet.

    - adds ``Permissions-Policy``, and ``Strict-Transport-Security`` when the request came
      over TLS;
    - a client that disconnects before its body ends is an ordinary event, logged in one line,
      not an error with a traceback (there is nobody left to answer).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [(b"permissions-policy", PERMISSIONS_POLICY.encode("ascii"))]
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS.encode("ascii")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in (b"server", b"x-powered-by")
                ]
                message = {**message, "headers": headers + extra}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            client = scope.get("client") or ("?", 0)
            logger.info("client %s disconnected before its request ended", client[0])
