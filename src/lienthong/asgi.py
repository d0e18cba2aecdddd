"""Small helpers shared by the Starlette applications (the hub and the agent).

They meet nowhere else: the hub and the agent never import each other.
"""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["read_limited_body"]


async def read_limited_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit`` bytes.

    A body declared larger (``Content-Length``) is refused unread; one that is not declared is
    read only until it crosses the limit, so an oversized upload never sits in memory whole.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
