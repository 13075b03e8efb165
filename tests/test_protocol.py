"""Home Assistant's exact sequences against the real server on the tiny real model."""

from __future__ import annotations

import asyncio

from wyoming.audio import AudioStart
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from tests.conftest import address, audio_bytes, client, read_until
from wyoming_tts.__main__ import App

REPLY = "Hello there. The kitchen lights are now on, and the heating is set to twenty degrees."
FRAME_BYTES = 1920 * 2


def _shape(events: list) -> list[str]:
    """Event types with the run of audio-chunks folded into one."""
    shape: list[str] = []
    for event in events:
        if event.type == "audio-chunk" and shape and shape[-1] == "audio-chunk":
            continue
        shape.append(event.type)
    return shape


async def _plain(app: App, text: str, voice: str | None = None) -> list:
    async with client(app) as conn:
        request = Synthesize(text, voice=SynthesizeVoice(name=voice) if voice else None)
        await conn.write_event(request.event())
        return await read_until(conn, "audio-stop")


async def _streamed(app: App, deltas: list[str], compat: str | None) -> list:
    async with client(app) as conn:
        await conn.write_event(SynthesizeStart().event())
        for delta in deltas:
            await conn.write_event(SynthesizeChunk(delta).event())
        if compat is not None:
            await conn.write_event(Synthesize(compat).event())
        await conn.write_event(SynthesizeStop().event())
        return await read_until(conn, "synthesize-stopped")


def _deltas(text: str, size: int = 4) -> list[str]:
    """Cut TEXT like an LLM stream: every few characters, mid-word."""
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_describe_lists_one_installed_program_with_real_languages(tiny_server: App) -> None:
    async with client(tiny_server) as conn:
        await conn.write_event(Describe().event())
        event = (await read_until(conn, "info"))[-1]
    info = Info.from_event(event)
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.name == "pocket-tts"
    assert program.installed and program.supports_synthesize_streaming
    assert program.attribution.name == "Kyutai"
    assert [(v.name, v.languages, v.installed) for v in program.voices] == [
        ("hummer", ["en"], True)
    ]
    assert program.voices[0].description


async def test_plain_synthesize_gives_one_start_chunks_one_stop(tiny_server: App) -> None:
    events = await _plain(tiny_server, REPLY)
    assert _shape(events) == ["audio-start", "audio-chunk", "audio-stop"]
    start = AudioStart.from_event(events[0])
    assert (start.rate, start.width, start.channels) == (24000, 2, 1)
    chunks = [e for e in events if e.type == "audio-chunk"]
    assert len(chunks[0].payload) == FRAME_BYTES  # the first frame goes out alone, at once
    assert all(len(c.payload) % FRAME_BYTES == 0 for c in chunks)  # then whole frames
    assert all(c.data["rate"] == 24000 for c in chunks)


async def test_voice_by_name_and_unknown_voice_fall_back(tiny_server: App) -> None:
    named = await _plain(tiny_server, REPLY, voice="hummer")
    unknown = await _plain(tiny_server, REPLY, voice="no-such-voice")
    hostile = await _plain(tiny_server, REPLY, voice="../../etc/passwd")
    assert audio_bytes(named) == audio_bytes(unknown) == audio_bytes(hostile) > 0
    assert _shape(unknown) == ["audio-start", "audio-chunk", "audio-stop"]


async def test_streaming_with_compat_synthesize_is_not_spoken_twice(tiny_server: App) -> None:
    plain = await _plain(tiny_server, REPLY)
    streamed = await _streamed(tiny_server, _deltas(REPLY), compat=REPLY)
    assert _shape(streamed) == [
        "audio-start",
        "audio-chunk",
        "audio-stop",
        "synthesize-stopped",
    ]
    # Same duration as the plain request, within two frames.
    assert abs(audio_bytes(streamed) - audio_bytes(plain)) <= 2 * FRAME_BYTES


async def test_streaming_without_compat_synthesize(tiny_server: App) -> None:
    plain = await _plain(tiny_server, REPLY)
    streamed = await _streamed(tiny_server, _deltas(REPLY, 7), compat=None)
    assert _shape(streamed)[-2:] == ["audio-stop", "synthesize-stopped"]
    assert abs(audio_bytes(streamed) - audio_bytes(plain)) <= 2 * FRAME_BYTES


async def test_two_requests_on_one_connection(tiny_server: App) -> None:
    async with client(tiny_server) as conn:
        await conn.write_event(Synthesize("First request here.").event())
        await conn.write_event(Synthesize("And a second request.").event())
        first = await read_until(conn, "audio-stop")
        second = await read_until(conn, "audio-stop")
    assert _shape(first) == _shape(second) == ["audio-start", "audio-chunk", "audio-stop"]


async def test_empty_text_gives_a_valid_silent_response(tiny_server: App) -> None:
    for text in ("", "   \n\t "):
        events = await _plain(tiny_server, text)
        assert _shape(events) == ["audio-start", "audio-chunk", "audio-stop"]
        pcm = b"".join(e.payload for e in events if e.type == "audio-chunk")
        assert pcm and not any(pcm)


async def test_bare_describe_then_close_is_survived(tiny_server: App) -> None:
    host, port = address(tiny_server)
    for _ in range(3):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b'{"type": "describe"}\n')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        del reader
    events = await _plain(tiny_server, REPLY)
    assert _shape(events) == ["audio-start", "audio-chunk", "audio-stop"]


async def test_describe_is_answered_while_a_synthesis_runs(tiny_server: App) -> None:
    long_text = " ".join([REPLY] * 6)
    async with client(tiny_server) as speaking:
        await speaking.write_event(Synthesize(long_text).event())
        first = await read_until(speaking, "audio-chunk")
        assert first[-1].type == "audio-chunk"
        async with client(tiny_server) as asking:
            await asking.write_event(Describe().event())
            events = await read_until(asking, "info", timeout=1.0)
        assert events[-1].type == "info"
        await read_until(speaking, "audio-stop")
