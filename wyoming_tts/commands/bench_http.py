"""`wyoming-tts bench --http`: the OpenAI-compatible speech API against Wyoming, same text.

Requests alternate between the two doors of one server (one runs while the other idles, so
drift of a shared machine lands on both alike): the first byte of PCM over HTTP against the
first audio chunk over Wyoming, and seconds of audio per wall second for a long text.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice

RATE = 24000


async def _wyoming(port: int, text: str, voice: str) -> tuple[float, float]:
    """(first audio, audio seconds per wall second) over Wyoming."""
    async with AsyncTcpClient("127.0.0.1", port) as conn:
        started = time.perf_counter()
        await conn.write_event(Synthesize(text, voice=SynthesizeVoice(voice)).event())
        first = None
        samples = 0
        while (event := await conn.read_event()) is not None:
            if event.type == "audio-chunk":
                first = first or time.perf_counter()
                samples += len(event.payload or b"") // 2
            elif event.type in ("audio-stop", "error"):
                break
    wall = time.perf_counter() - started
    return (first or time.perf_counter()) - started, samples / RATE / wall


async def _http(port: int, text: str, voice: str, speed: float = 1.0) -> tuple[float, float]:
    """(first byte of audio, audio seconds per wall second) over the speech API, as pcm."""
    asked = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm"}
    body = json.dumps({**asked, "speed": speed})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(
        (
            "POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))
    first = None
    size = 0
    while True:  # chunked transfer: size line, data, CRLF
        line = await reader.readline()
        length = int(line.strip() or b"0", 16)
        if length == 0:
            break
        await reader.readexactly(length + 2)
        first = first or time.perf_counter()
        size += length
    writer.close()
    wall = time.perf_counter() - started
    return (first or time.perf_counter()) - started, size / 2 / RATE / wall


async def measure(
    port: int, web_port: int, voice: str, short: str, long: str, runs: int
) -> list[tuple[str, str, str, bool]]:
    """The rows of the bench table: (measure, value, target, met)."""
    firsts: list[tuple[float, float]] = []
    speeds: list[tuple[float, float]] = []
    for _ in range(runs):
        firsts.append(
            ((await _http(web_port, short, voice))[0], (await _wyoming(port, short, voice))[0])
        )
    for _ in range(max(3, runs // 2)):
        speeds.append(
            ((await _http(web_port, long, voice))[1], (await _wyoming(port, long, voice))[1])
        )
    http_first = statistics.median(f[0] for f in firsts)
    wyoming_first = statistics.median(f[1] for f in firsts)
    http_speed = statistics.median(s[0] for s in speeds)
    wyoming_speed = statistics.median(s[1] for s in speeds)
    first_ratio = http_first / wyoming_first
    speed_ratio = http_speed / wyoming_speed
    return [
        (
            "First byte over HTTP / first audio over Wyoming",
            f"{first_ratio:.2f} ({http_first * 1000:.0f} / {wyoming_first * 1000:.0f} ms)",
            "≤ 1.15",
            first_ratio <= 1.15,
        ),
        (
            "Audio per wall second, HTTP / Wyoming",
            f"{speed_ratio:.2f} ({http_speed:.2f}× / {wyoming_speed:.2f}×)",
            "≥ 0.95",
            speed_ratio >= 0.95,
        ),
    ]
