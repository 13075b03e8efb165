"""Shared fixtures: a tiny random-weight Pocket TTS model, a fake model, running servers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from wyoming_tts.__main__ import App
from wyoming_tts.engine.models import Models
from wyoming_tts.pocket.random_model import tiny_config, write_voice
from wyoming_tts.settings import ModelSpec, Settings
from wyoming_tts.voices import LanguageModel, VoiceStates

READ_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random-weight model config and a voice folder with one voice."""
    folder = tmp_path_factory.mktemp("tiny")
    config = tiny_config(folder)
    voices = folder / "voices"
    write_voice(voices / "hummer.wav")
    return {"config": config, "voices": voices, "folder": folder}


@pytest.fixture
def tiny_settings(tiny: dict[str, Path], tmp_path: Path) -> Settings:
    return Settings(
        uri=f"tcp://127.0.0.1:{free_port()}",
        models=(ModelSpec(str(tiny["config"]), "en"),),
        voice="hummer",
        voices_dirs=(tiny["voices"],),
        data_dir=tmp_path / "data",
        audio_cache_mb=0,
    )


class FakeModel:
    """A model with exact timing: FRAMES frames per text, DELAY seconds each.

    `gate`, when set, holds every frame after the first until it is released, so a test can
    see what the client received while the model is still working.
    """

    sample_rate = 16000
    frame_samples = 1280
    can_clone = True

    def __init__(self, frames: int = 5, delay: float = 0.0) -> None:
        self.frames = frames
        self.delay = delay
        self.id = "fake"
        self.gate: threading.Event | None = None
        self.texts: list[str] = []
        self.stopped = threading.Event()
        self.running = threading.Event()
        self.fail = False

    def generate(self, voice_state: object, text: str, stop: threading.Event) -> Iterator[object]:
        self.texts.append(text)
        self.running.set()
        try:
            if self.fail:
                raise RuntimeError("the fake model broke")
            for index in range(self.frames):
                if stop.is_set():
                    self.stopped.set()
                    return
                if index > 0 and self.gate is not None:
                    while not self.gate.wait(0.01):
                        if stop.is_set():
                            self.stopped.set()
                            return
                if self.delay:
                    time.sleep(self.delay)
                yield np.full(self.frame_samples, 0.5, dtype=np.float32)
        except GeneratorExit:  # the worker closed it between two frames: stopped as well
            self.stopped.set()
            raise
        finally:
            self.running.clear()

    def builtin_voice_state(self, name: str) -> object:
        return {"voice": {"name": np.zeros(1)}}

    def encode_audio(self, path: Path) -> object:
        return {"voice": {"name": np.zeros(1)}}

    def load_state(self, path: Path) -> object:
        return {"voice": {"name": np.zeros(1)}}

    def save_state(self, state: object, path: Path) -> None:
        path.write_bytes(b"state")

    def state_bytes(self, state: object) -> int:
        return 8


def fake_models(settings: Settings, model: FakeModel) -> Models:
    return Models(
        settings,
        lambda _spec: model,
        [LanguageModel("en", ("fake", "other"), {})],
        VoiceStates(settings.data_dir / "voice-states", 1 << 20, "test"),
        {"en": "fake"},
    )


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    return Settings(
        uri=f"tcp://127.0.0.1:{free_port()}",
        models=(ModelSpec("english", "en"),),
        data_dir=tmp_path / "data",
        max_queue=1,
        idle_timeout=2.0,
        # The fake model's tests count what it was asked to say; calibration and the audio
        # cache are tested apart (tests/test_speech_control.py, tests/test_audio_cache.py).
        loudness_match=False,
        audio_cache_mb=0,
    )


@asynccontextmanager
async def running(settings: Settings, models: Models | None = None) -> AsyncIterator[App]:
    """Run the real server in this event loop for the duration of the block."""
    app = App(settings, models)
    await asyncio.wait_for(app.start(), 60)
    try:
        yield app
    finally:
        await asyncio.wait_for(app.stop(), 10)


@pytest.fixture
async def fake_server(fake_settings: Settings) -> AsyncIterator[tuple[App, FakeModel]]:
    model = FakeModel()
    async with running(fake_settings, fake_models(fake_settings, model)) as app:
        yield app, model


@pytest.fixture(scope="session")
async def tiny_server(
    tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    """One server on the tiny model, shared by the protocol tests."""
    async with running(tiny_server_settings(tiny, tmp_path_factory.mktemp("data"))) as app:
        yield app


def tiny_server_settings(tiny: dict[str, Path], data: Path, **changes: object) -> Settings:
    """Settings of a server on the tiny model with its voice, on a free port."""
    settings = Settings(
        uri=f"tcp://127.0.0.1:{free_port()}",
        models=(ModelSpec(str(tiny["config"]), "en"),),
        voice="hummer",
        voices_dirs=(tiny["voices"],),
        data_dir=data,
        audio_cache_mb=0,  # the model speaks every request (tests/test_audio_cache.py: on)
    )
    return with_settings(settings, **changes)


def address(app: App) -> tuple[str, int]:
    host, port = app.settings.uri.removeprefix("tcp://").rsplit(":", 1)
    return host, int(port)


def client(app: App) -> AsyncTcpClient:
    host, port = address(app)
    return AsyncTcpClient(host, port)


async def read_until(
    conn: AsyncTcpClient, *stop_types: str, timeout: float = READ_TIMEOUT
) -> list[Event]:
    """Read events until one of STOP_TYPES (or error, or the end of the connection)."""
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await conn.read_event()
            if event is None:
                return events
            events.append(event)
            if event.type in stop_types or event.type == "error":
                return events


def audio_bytes(events: list[Event]) -> int:
    return sum(len(e.payload or b"") for e in events if e.type == "audio-chunk")


def with_settings(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)  # type: ignore[arg-type]
