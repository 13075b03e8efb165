"""No client can freeze, stall or flood the server: each hole of the first round, over a socket."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.conftest import (
    FakeModel,
    address,
    audio_bytes,
    client,
    fake_models,
    read_until,
    running,
    with_settings,
)
from wyoming_tts.__main__ import App
from wyoming_tts.engine import scheduler as engine
from wyoming_tts.engine.models import Models
from wyoming_tts.settings import ModelSpec, Settings, SettingsError, parse_settings
from wyoming_tts.voices import LanguageModel, VoiceStates


async def _describe_ms(app: App) -> float:
    started = time.monotonic()
    async with client(app) as conn:
        await conn.write_event(Describe().event())
        events = await read_until(conn, "info", timeout=5.0)
    assert events[-1].type == "info"
    return (time.monotonic() - started) * 1000


async def _speak(app: App, text: str, **voice: str) -> list[Event]:
    async with client(app) as conn:
        data = Synthesize(text).event()
        if voice:
            data.data["voice"] = voice
        await conn.write_event(data)
        return await read_until(conn, "audio-stop")


# -- 1. one text path, counted as it arrives -------------------------------------------------
async def test_a_stream_over_the_limit_is_refused_the_moment_it_passes(
    fake_settings: Settings,
) -> None:
    settings = with_settings(fake_settings, max_text_chars=100)
    model = FakeModel(frames=2)
    async with running(settings, fake_models(settings, model)) as app:
        async with client(app) as conn:
            await conn.write_event(SynthesizeStart().event())
            for _ in range(10):  # no sentence end: the old path counted nothing until one came
                await conn.write_event(SynthesizeChunk("x" * 11).event())
            events = await read_until(conn, "synthesize-stopped")
        errors = [e for e in events if e.type == "error"]
        assert errors and "100" in errors[0].data["text"]
        assert errors[0].data["code"] == "text-too-long"
        assert await _describe_ms(app) < 5000  # still serving


async def test_plain_and_streamed_text_give_the_model_the_same_segments(
    fake_server: tuple[App, FakeModel],
) -> None:
    app, model = fake_server
    text = "It is 21.5 °C at 7:30 PM. Call +1 555 123 4567, or write to jane@example.com!"
    model.texts.clear()
    await _speak(app, text)
    plain = list(model.texts)
    model.texts.clear()
    async with client(app) as conn:
        await conn.write_event(SynthesizeStart().event())
        for start in range(0, len(text), 3):
            await conn.write_event(SynthesizeChunk(text[start : start + 3]).event())
        await conn.write_event(SynthesizeStop().event())
        await read_until(conn, "synthesize-stopped")
    assert model.texts == plain
    assert "twenty-one point five degrees Celsius" in " ".join(plain)


# -- 4. the worker never waits for a client ----------------------------------------------------
async def test_a_stream_waiting_for_its_llm_does_not_hold_the_model(
    fake_settings: Settings,
) -> None:
    model = FakeModel(frames=3)
    async with running(fake_settings, fake_models(fake_settings, model)) as app:
        async with client(app) as streaming:
            await streaming.write_event(SynthesizeStart().event())
            await streaming.write_event(SynthesizeChunk("The answer is coming, slowly").event())
            await read_until(streaming, "audio-start")
            # The stream has no complete segment and its LLM is thinking: another client is
            # served at once (before the change, it waited for the stream to end).
            events = await asyncio.wait_for(_speak(app, "A request from a satellite."), 3.0)
            assert audio_bytes(events) > 0
            await streaming.write_event(SynthesizeChunk(" but it comes. Done now.").event())
            await streaming.write_event(SynthesizeStop().event())
            events = await read_until(streaming, "synthesize-stopped")
            assert audio_bytes(events) > 0


# -- 5. per-connection bounds ------------------------------------------------------------------
async def test_too_many_pending_requests_on_one_connection_are_refused(
    fake_settings: Settings,
) -> None:
    model = FakeModel(frames=5)
    settings = with_settings(fake_settings, max_queue=4)
    async with running(settings, fake_models(settings, model)) as app:
        model.gate = threading.Event()  # the first response never finishes until released
        async with client(app) as conn:
            await conn.write_event(Synthesize("Hold the line please.").event())
            for _ in range(20):
                await conn.write_event(Describe().event())
            events = await read_until(conn, "never")
        model.gate.set()
        errors = [e for e in events if e.type == "error"]
        assert errors and errors[0].data["code"] == "busy"
        assert "8 requests" in errors[0].data["text"]
        assert await _describe_ms(app) < 5000


def _frames(count: int) -> Iterator[np.ndarray]:
    for _ in range(count):
        yield np.full(1280, 0.25, dtype=np.float32)


async def test_a_client_that_stops_reading_is_bounded_then_dropped(
    fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "MAX_BUFFERED_SECONDS", 2.0)  # 32,000 samples at 16 kHz
    settings = with_settings(fake_settings, idle_timeout=2.0, max_queue=2)
    model = FakeModel(frames=800)  # 64 s of audio per segment, made as fast as possible
    async with running(settings, fake_models(settings, model)) as app:
        host, port = address(app)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, port))
        text = " ".join(f"Sentence number {i} is here." for i in range(40))
        sock.sendall(json.dumps({"type": "synthesize", "data": {"text": text}}).encode() + b"\n")
        worker = app.models.worker("en")
        await asyncio.sleep(0.5)
        # Paused: the worker has stopped making audio nobody reads...
        spoken = len(model.texts)
        assert spoken < 40
        # ...and serves another client meanwhile.
        events = await asyncio.wait_for(_speak(app, "Someone else is served."), 5.0)
        assert audio_bytes(events) > 0
        # After --idle-timeout without reading, the client is dropped and its work cancelled.
        deadline = time.monotonic() + 10
        while worker.queued and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert worker.queued == 0
        assert len(model.texts) < 40
        sock.close()


# -- 6. framing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [10_000, 30_000])
async def test_deep_json_nesting_is_a_bad_event(
    fake_server: tuple[App, FakeModel], depth: int
) -> None:
    app, _ = fake_server
    reader, writer = await asyncio.open_connection(*address(app))
    nested = "[" * depth + "]" * depth
    writer.write(f'{{"type": "describe", "data": {{"x": {nested}}}}}\n'.encode()[:60_000] + b"\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 5.0)
    writer.close()
    header = json.loads(line)
    assert header["type"] == "error"
    assert await _describe_ms(app) < 5000


def test_stdio_is_no_longer_offered() -> None:
    with pytest.raises(SettingsError, match="tcp://HOST:PORT or unix://PATH"):
        parse_settings(["--uri", "stdio://"], environ={})


# -- 7. the unload race ------------------------------------------------------------------------
def _two_language_models(settings: Settings) -> tuple[Models, dict[str, FakeModel]]:
    fakes = {"en": FakeModel(frames=2), "de": FakeModel(frames=2)}
    models = Models(
        settings,
        lambda spec: fakes[spec.language],
        [LanguageModel("en", ("fake",), {}), LanguageModel("de", ("juergen",), {})],
        VoiceStates(settings.data_dir / "voice-states", 1 << 20, "test"),
        {"en": "fake", "de": "juergen"},
    )
    return models, fakes


@pytest.fixture
def two_languages(fake_settings: Settings) -> Settings:
    return with_settings(
        fake_settings,
        models=(ModelSpec("english", "en"), ModelSpec("german", "de")),
        max_models=1,
        max_queue=4,
    )


async def test_a_model_unloaded_as_a_request_starts_is_loaded_again(
    two_languages: Settings,
) -> None:
    models, fakes = _two_language_models(two_languages)
    async with running(two_languages, models) as app:
        await _speak(app, "Guten Tag, wie geht es dir?", language="de")
        de_worker = models.worker("de")
        real_default_voice = models.default_voice
        calls = []

        def unload_in_between(language: str | None = None):  # type: ignore[no-untyped-def]
            # Force the interleaving: the second call comes from Models.start, between finding
            # the de worker and submitting to it; there another thread unloads that worker
            # (max_models=1, so loading any other model would do the same).
            calls.append(language)
            if len(calls) == 2:
                with models._lock:
                    models._unload_if_full()
                assert "de" not in models.loaded
            return real_default_voice(language)

        models.default_voice = unload_in_between  # type: ignore[method-assign]
        events = await _speak(app, "Noch einmal, bitte.", language="de")
        models.default_voice = real_default_voice  # type: ignore[method-assign]
        assert [e.type for e in events][-1] == "audio-stop" and audio_bytes(events) > 0
        assert len(calls) >= 2
        assert "de" in models.loaded and models.worker("de") is not de_worker
        assert fakes["de"].texts[-1] == "Noch einmal, bitte."


# -- 8. language per request ------------------------------------------------------------------
async def test_a_language_without_a_name_gets_that_languages_voice_and_words(
    two_languages: Settings,
) -> None:
    settings = with_settings(two_languages, max_models=2)
    models, fakes = _two_language_models(settings)
    async with running(settings, models) as app:
        await _speak(app, "Es ist 21 Uhr und alles ist gut.", language="de-DE")
        assert fakes["de"].texts == ["Es ist einundzwanzig Uhr und alles ist gut."]
        # A name always wins over a language.
        await _speak(app, "It is 21 degrees in here.", name="fake", language="de")
        assert fakes["en"].texts[-1] == "It is twenty-one degrees in here."
        # A language nobody speaks falls back to the default voice.
        await _speak(app, "Bonjour, it is 5 o'clock.", language="fr")
        assert fakes["en"].texts[-1] == "Bonjour, it is five o'clock."


# -- end to end: hostile text next to normal clients on the real tiny model ---------------------
HOSTILE_TEXTS = [
    "Call +1" + "2" * 40 + "x",
    "1" + ",000" * 2000,
    "a" * 9000,
    "(" * 3000 + ")" * 3000,
    "7" * 9999,
]


@pytest.mark.slow
async def test_hostile_text_does_not_stop_describe_or_other_clients(tiny_server: App) -> None:
    app = tiny_server
    latencies: list[float] = []
    stop = asyncio.Event()

    async def describe_loop() -> None:
        for _ in range(400):  # bounded: at most 400 Describes
            if stop.is_set():
                return
            latencies.append(await _describe_ms(app))
            await asyncio.sleep(0.01)

    async def hostile(text: str) -> None:
        async with client(app) as conn:
            await conn.write_event(Synthesize(text).event())
            await read_until(conn, "audio-chunk", timeout=10.0)  # first audio, then leave

    describing = asyncio.create_task(describe_loop())
    try:
        for text in HOSTILE_TEXTS:
            started = time.monotonic()
            await asyncio.wait_for(hostile(text), 20.0)
            assert time.monotonic() - started < 10.0
        events = await asyncio.wait_for(_speak(app, "A normal request still speaks."), 20.0)
        assert audio_bytes(events) > 0
    finally:
        stop.set()
        await describing
    assert latencies and max(latencies) < 1000, statistics.quantiles(latencies, n=100)
