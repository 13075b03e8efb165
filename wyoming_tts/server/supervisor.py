"""Tell Home Assistant's Supervisor about the server: the app's discovery, without bashio.

The Supervisor gives every app a token (`SUPERVISOR_TOKEN`) and a host name `supervisor` on its
internal network. An app whose config.yaml lists `discovery: [wyoming]` may POST
`{"service": "wyoming", "config": {...}}` to `http://supervisor/discovery` with that token
(supervisor/api/discovery.py checks the service against the app's list); Home Assistant then
offers the Wyoming integration with the config's `uri`. This is what `bashio::discovery` did.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import urllib.error
import urllib.request
from typing import Any

_LOGGER = logging.getLogger(__name__)

SUPERVISOR_URL = "http://supervisor"
TOKEN_VARIABLE = "SUPERVISOR_TOKEN"
ATTEMPTS = 5
RETRY_SECONDS = 3.0
TIMEOUT_SECONDS = 10.0


class SupervisorError(Exception):
    """The Supervisor did not take the discovery; the message says why."""


def discovery_message(port: int, hostname: str | None = None) -> dict[str, Any]:
    """The discovery body: this container's host name on the Supervisor's network, and PORT."""
    host = hostname or socket.gethostname()
    return {"service": "wyoming", "config": {"uri": f"tcp://{host}:{port}"}}


def send_discovery(message: dict[str, Any], token: str, url: str = SUPERVISOR_URL) -> str:
    """POST MESSAGE to the Supervisor's discovery API; return the entry's uuid. Blocking."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/discovery",
        data=json.dumps(message).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = json.loads(response.read(65536) or b"{}")
    except urllib.error.HTTPError as err:
        raise SupervisorError(f"the Supervisor answered {err.code} {err.reason}") from err
    except (OSError, ValueError) as err:
        raise SupervisorError(f"the Supervisor cannot be reached at {url}: {err}") from err
    if not isinstance(body, dict) or body.get("result") != "ok":
        raise SupervisorError(f"the Supervisor refused the discovery: {body!r}")
    data = body.get("data")
    return str(data.get("uuid", "")) if isinstance(data, dict) else ""


async def announce(
    port: int, url: str = SUPERVISOR_URL, retry_seconds: float = RETRY_SECONDS
) -> bool:
    """Send the discovery once the server is ready, retrying a Supervisor that is restarting.

    A failure is logged, never fatal: the server keeps serving, and the user can still add the
    Wyoming integration by hand.
    """
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        _LOGGER.warning("No %s: not sending discovery to Home Assistant", TOKEN_VARIABLE)
        return False
    message = discovery_message(port)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await asyncio.to_thread(send_discovery, message, token, url)
        except SupervisorError as err:
            if attempt == ATTEMPTS:
                _LOGGER.error("Discovery message to Home Assistant failed: %s", err)
                return False
            _LOGGER.debug("Discovery attempt %d failed: %s", attempt, err)
            await asyncio.sleep(retry_seconds)
        else:
            _LOGGER.info("Sent discovery information to Home Assistant (%s)", message["config"])
            return True
    return False
