"""Serve the voice page with uvicorn on the server's own event loop.

uvicorn's `Server.serve` would take over SIGTERM and SIGINT; the server already handles them
(and stops this too), so that is turned off here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import uvicorn

from wyoming_tts.engine.front import Front
from wyoming_tts.settings import Settings
from wyoming_tts.web.api import create_app

_LOGGER = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """The voice page on --web-uri, for as long as the Wyoming server runs."""

    def __init__(self, settings: Settings, front: Front, voices_dir: Path) -> None:
        assert settings.web_uri is not None
        parsed = urlparse(settings.web_uri)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = int(parsed.port or 8099)
        config = uvicorn.Config(
            create_app(front, settings, voices_dir),
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
                raise OSError(f"the voice page could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.02)
        _LOGGER.info("Voice page on http://%s:%d/", self.host, self.port)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 5.0)
        self._task = None
