"""Request bodies read within a bound: a client never makes the server hold more than the
route allows, whether it sends `Content-Length` or streams a chunked body.

JSON must say so (`Content-Type: application/json`): a page on another site can send a
`text/plain` body without a preflight, so accepting it as JSON would let any site make the
server speak. A body over INLINE_JSON_BYTES is parsed in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import Request

INLINE_JSON_BYTES = 16 * 1024


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_bounded(request: Request, limit: int) -> bytes:
    """The whole body, or BodyError(413) as soon as it passes LIMIT bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyError(413, f"The request body is over {limit} bytes; send less.")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"The request body is over {limit} bytes; send less.")
        parts.append(chunk)
    return b"".join(parts)


async def json_body(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object of at most LIMIT bytes; BodyError says what was wrong."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise BodyError(415, "Send the body as JSON, with Content-Type: application/json.")
    raw = await read_bounded(request, limit)
    try:
        if len(raw) > INLINE_JSON_BYTES:
            body = await asyncio.to_thread(json.loads, raw)
        else:
            body = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise BodyError(400, "The request body must be valid JSON.") from err
    if not isinstance(body, dict):
        raise BodyError(400, "The request body must be a JSON object.")
    return body
