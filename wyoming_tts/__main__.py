"""Command line: parse settings, load the model, warm it up, then open the port and serve."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlparse

from wyoming.info import Info
from wyoming.server import AsyncServer

from wyoming_tts import __version__, memory
from wyoming_tts.settings import ModelSpec, Settings, SettingsError, parse_settings

_LOGGER = logging.getLogger("wyoming_tts")

SHUTDOWN_SECONDS = 4.0

# Work to start once the server is ready (the app's Supervisor discovery); it runs beside
# serving and is cancelled at shutdown.
OnReady = Callable[[], Coroutine[Any, Any, object]]


def run(argv: Sequence[str] | None = None, on_ready: OnReady | None = None) -> None:
    """Entry point of the `wyoming-tts` command; ON_READY runs once the port is open."""
    from wyoming_tts.memory import limit_arenas

    limit_arenas()  # before torch and Pocket TTS start their threads
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _COMMANDS:
        memory.serving()  # a command's model runs as the server's does (the bench times it)
        sys.exit(_COMMANDS[args[0]](args[1:]))
    try:
        settings = parse_settings(args)
    except SettingsError as err:
        print(f"wyoming-tts: error: {err}", file=sys.stderr)
        sys.exit(2)
    setup_logging(settings.debug, settings.log_format)
    # The hub client reads HF_HOME when it is imported: set it before pocket_tts comes in.
    os.environ.setdefault("HF_HOME", str(settings.data_dir / "huggingface"))
    try:
        asyncio.run(serve(settings, on_ready))
    except StartupError as err:
        _LOGGER.error("%s", err)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""


def setup_logging(debug: bool, log_format: str) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format=log_format)
    if not debug:
        # pocket-tts logs every chunk at INFO; keep its warnings only.
        logging.getLogger("pocket_tts").setLevel(logging.WARNING)
        logging.getLogger("root").setLevel(logging.INFO)


def build_models(settings: Settings) -> tuple[Any, Any]:
    """Import pocket-tts (slow) and build the model registry; nothing is loaded yet."""
    from wyoming_tts.engine.models import Models
    from wyoming_tts.pocket import model as pocket
    from wyoming_tts.preferences import Preferences
    from wyoming_tts.voices import LanguageModel, VoiceStates

    catalog_models = [
        LanguageModel(
            language=spec.language,
            builtin_voices=() if spec.is_config else tuple(pocket.BUILTIN_VOICE_ORIGINS),
            origins=pocket.BUILTIN_VOICE_ORIGINS,
        )
        for spec in _first_per_language(settings.models)
    ]
    states = VoiceStates(
        settings.data_dir / "voice-states",
        settings.voice_cache_mb * 1024 * 1024,
        pocket.POCKET_TTS_VERSION,
    )
    default_voices = {
        spec.language: pocket.default_voice_name(spec)
        for spec in settings.models
        if not spec.is_config
    }
    loader = partial(_load_model, settings)
    preferences = Preferences(settings.data_dir / "preferences.json")
    models = Models(settings, loader, catalog_models, states, default_voices, preferences)
    return models, pocket


def _load_model(settings: Settings, spec: ModelSpec) -> Any:
    """Load SPEC (choosing the model first for `auto`), then give back what loading freed."""
    from wyoming_tts import autopick, memory
    from wyoming_tts.pocket import model as pocket

    quantize, threads = settings.quantize, settings.threads
    with memory.loading():
        spec = autopick.resolve(
            spec, quantize=quantize, threads=threads, data_dir=settings.data_dir
        )
        return pocket.load_model(spec, quantize=quantize, threads=threads)


def _first_per_language(specs: Sequence[ModelSpec]) -> list[ModelSpec]:
    """The first model given for each language, in the order given."""
    seen: dict[str, ModelSpec] = {}
    for spec in specs:
        seen.setdefault(spec.language, spec)
    return list(seen.values())


async def serve(settings: Settings, on_ready: OnReady | None = None) -> None:
    """Load, warm up, then serve until SIGTERM or SIGINT."""
    app = App(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    waiter = asyncio.create_task(stop.wait())
    starting = asyncio.create_task(app.start())
    ready_work: asyncio.Task[object] | None = None
    try:
        await asyncio.wait({waiter, starting}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            # A signal while loading: never open the port. A load already running in a
            # thread finishes its current step before the process can exit.
            _LOGGER.info("Stopping before the server was ready")
            starting.cancel()
        else:
            starting.result()  # raises StartupError
            if on_ready is not None:
                ready_work = asyncio.create_task(on_ready())
            await waiter
            _LOGGER.info("Shutting down")
    finally:
        waiter.cancel()
        if ready_work is not None:
            ready_work.cancel()
        if not starting.done():
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        await app.stop()
    _LOGGER.info("Stopped")


class App:
    """The whole server: models, the listening socket and zeroconf."""

    def __init__(self, settings: Settings, models: Any | None = None) -> None:
        if settings.web_uri and not settings.voices_dirs:
            # The page needs a folder to keep the voices it adds.
            folder = settings.data_dir / "voices"
            folder.mkdir(parents=True, exist_ok=True)
            settings = replace(settings, voices_dirs=(folder,))
        self.settings = settings
        self._web: Any = None
        self.models = models
        self.front: Any = None  # engine.front.Front, built once the models are
        self.library_version = "unknown"
        self._server: AsyncServer | None = None
        self._discovery: Any = None

    async def start(self) -> None:
        """Load the default model and voice, warm up, then open the port."""
        from wyoming_tts.engine.front import Front
        from wyoming_tts.server.handler import TtsHandler

        _LOGGER.info("wyoming-tts %s starting", __version__)
        load_error: type[Exception] = Exception
        with memory.loading():  # torch's import, the model, the voice, the warm-up
            if self.models is None:
                self.models, pocket = await asyncio.to_thread(build_models, self.settings)
                self.library_version = pocket.POCKET_TTS_VERSION
                load_error = pocket.ModelLoadError
            assert self.models is not None
            self.front = Front(self.models, self.settings)  # the one request door
            await _load(self.front, self.settings, load_error)
        memory.serving()
        assert self.models is not None
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall every thread (the loop too) for
        # hundreds of milliseconds once a busy server has made enough objects.
        gc.collect()
        gc.freeze()
        from wyoming_tts.memory import peak_mb, rss_mb, trim

        trim()
        resident, peak = rss_mb(), peak_mb()
        factory = partial(
            TtsHandler,
            settings=self.settings,
            front=self.front,
            build_info=self.info,
        )
        if self.settings.web_uri:  # before the Wyoming port: port open means all is ready
            from wyoming_tts.web.server import WebServer

            self._web = WebServer(self.settings, self.front, self.settings.voices_dirs[0])
            try:
                await self._web.start()
            except (OSError, SystemExit) as err:
                raise StartupError(
                    f"The voice page cannot start on {self.settings.web_uri}: {err}"
                ) from err
        server = AsyncServer.from_uri(self.settings.uri)
        self._server = server
        await server.start(factory)
        self._discovery = await _start_discovery(self.settings)
        _LOGGER.info(
            "Ready: serving on %s (resident memory %.0f MB, peak while loading %.0f MB)",
            self.settings.uri,
            resident,
            peak,
        )

    async def info(self) -> Info:
        from wyoming_tts.server.info import build_info

        assert self.models is not None
        voices = await self.models.refresh_voices()
        return build_info(voices, self.library_version)

    async def stop(self) -> None:
        """Stop accepting, cancel in-flight work, unregister zeroconf."""
        if self._web is not None:
            await self._web.stop()
            self._web = None
        if self._discovery is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._discovery.stop(), 2.0)
            self._discovery = None
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.stop(), SHUTDOWN_SECONDS)
            self._server = None
        if self.models is not None:
            await asyncio.to_thread(self.models.close)


async def _load(front: Any, settings: Settings, load_error: type[Exception]) -> None:
    try:
        await front.warm_up()
        if settings.preload:
            for spec in settings.models[1:]:
                await front.warm_up(spec.language)
    except load_error as err:
        raise StartupError(str(err)) from err
    except Exception as err:
        raise StartupError(f"Could not start: {type(err).__name__}: {err}") from err
    voice = front.models.default_voice()
    _LOGGER.info("Default voice: %s (%s)", voice.name, voice.language)


async def _start_discovery(settings: Settings) -> Any:
    if settings.zeroconf is None:
        return None
    from wyoming_tts.server.discovery import (
        Discovery,
        DiscoveryError,
        announce_address,
        default_name,
    )

    parsed = urlparse(settings.uri)
    if parsed.scheme != "tcp" or parsed.port is None:
        _LOGGER.warning("Zeroconf needs a tcp:// --uri; not announcing")
        return None
    try:
        address = announce_address(parsed.hostname or "", settings.zeroconf_host)
    except DiscoveryError as err:
        raise StartupError(str(err)) from err
    discovery = Discovery(settings.zeroconf or default_name(), address, parsed.port)
    await discovery.start()
    return discovery


def _command(module: str, function: str = "main") -> Callable[[list[str]], int]:
    def call(args: list[str]) -> int:
        import importlib

        return int(
            getattr(importlib.import_module(f"wyoming_tts.commands.{module}"), function)(args)
        )

    return call


_COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "normalize": _command("normalize"),
    "health": _command("health"),
    "download": _command("tools", "download"),
    "export-voice": _command("tools", "export_voice"),
    "bench": _command("bench"),
    "app": _command("app"),
}


if __name__ == "__main__":
    run()
