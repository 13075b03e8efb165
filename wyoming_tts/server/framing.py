"""Reading Wyoming events from an untrusted client, within limits.

The wyoming library's reader trusts the header: a non-object line, a missing type or a huge
`data_length` raise errors it does not catch, or make the server buffer whatever the client
sends. This reader checks every field first and says what was wrong.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.event import Event

MAX_HEADER_BYTES = 64 * 1024  # the StreamReader's own line limit
MAX_DATA_BYTES = 1024 * 1024  # a 10,000-character text is ~40 kB of JSON
MAX_PAYLOAD_BYTES = 1024 * 1024  # a TTS client sends no audio; allow some for other events
MAX_TYPE_CHARS = 64


class BadEvent(Exception):
    """The client sent something that is not a Wyoming event; the message says what."""


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, None at the end of the stream; BadEvent when it is malformed."""
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError) as err:
        raise BadEvent(f"the event header is longer than {MAX_HEADER_BYTES} bytes") from err
    if not line:
        return None
    if not line.endswith(b"\n"):
        return None  # the client left in the middle of a header
    header = _json_object(line, "header")
    event_type = header.get("type")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= MAX_TYPE_CHARS:
        raise BadEvent("the event has no valid 'type' (a short string)")
    data = header.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadEvent("the event's 'data' must be a JSON object")
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        if data_length:
            data = {**data, **_json_object(await reader.readexactly(data_length), "data")}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None  # the client left in the middle of an event
    return Event(type=event_type, data=data, payload=payload)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise BadEvent(f"the event {what} is not valid JSON") from err
    except RecursionError as err:  # "[[[[..." deeper than the parser's stack
        raise BadEvent(f"the event {what} is nested too deeply") from err
    if not isinstance(value, dict):
        raise BadEvent(f"the event {what} must be a JSON object")
    return value


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadEvent(f"'{key}' must be a whole number of bytes")
    if value > limit:
        raise BadEvent(f"'{key}' is {value} bytes; the limit is {limit}")
    return int(value)
