"""`wyoming-tts bench --hostile`: Describe latency while hostile clients send their worst.

One client streams 200 kB of text with no punctuation as fast as the server takes it; another
sends a plain request of 10,000 digits and reads its audio. Meanwhile a third connects, sends
Describe and times the answer, as Home Assistant's health checks do. The hostile clients run in
a process of their own, so that their own work never delays the Describe timer. Every loop here
is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

STREAM_BYTES = 200_000
DELTA_CHARS = 20
DIGITS = 10_000
WINDOW_SECONDS = 20.0  # Describes are timed this long: both hostile requests are busy all along
MAX_SECONDS = 60.0
MAX_DESCRIBES = 2_000
# The server runs with this limit so the whole hostile stream is taken in, the worst case.
MAX_TEXT_CHARS = STREAM_BYTES + 1000


async def measure(port: int) -> list[tuple[str, str]]:
    """Rows of (what, figure) for the bench table."""
    context = multiprocessing.get_context("spawn")
    sent = context.Queue()
    hostile = context.Process(target=_hostile_process, args=(port, sent), daemon=True)
    hostile.start()
    latencies: list[float] = []
    try:
        await asyncio.sleep(0.2)  # the process starts (imports) before the window opens
        started = time.perf_counter()
        while time.perf_counter() - started < WINDOW_SECONDS and len(latencies) < MAX_DESCRIBES:
            latencies.append(await _describe(port))
            await asyncio.sleep(0.01)
        stream_seconds = sent.get(timeout=MAX_SECONDS) if hostile.is_alive() else float("nan")
    finally:
        hostile.terminate()
        hostile.join(10)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return [
        (
            f"Describe latency while {STREAM_BYTES // 1000} kB unpunctuated stream + "
            f"{DIGITS} digits, p50 / p99 / worst ({len(latencies)} Describes)",
            f"{p50 * 1000:.1f} / {p99 * 1000:.1f} / {latencies[-1] * 1000:.1f} ms",
        ),
        ("the hostile stream: all its text sent", f"{stream_seconds:.1f} s"),
    ]


def _hostile_process(port: int, sent: multiprocessing.Queue[float]) -> None:
    asyncio.run(_hostile(port, sent))


async def _hostile(port: int, sent: multiprocessing.Queue[float]) -> None:
    digits = asyncio.create_task(_plain(port, "7" * DIGITS))
    sent.put(await _stream(port))
    await asyncio.sleep(MAX_SECONDS)  # keep both connections open until terminated
    digits.cancel()


async def _describe(port: int) -> float:
    started = time.perf_counter()
    async with AsyncTcpClient("127.0.0.1", port) as conn:
        await conn.write_event(Describe().event())
        while (event := await asyncio.wait_for(conn.read_event(), 10)) is not None:
            if event.type == "info":
                break
    return time.perf_counter() - started


async def _read_all(conn: AsyncTcpClient, end: str) -> int:
    chunks = 0
    while (event := await conn.read_event()) is not None:
        if event.type == "audio-chunk":
            chunks += 1
        if event.type in (end, "error"):
            break
    return chunks


async def _stream(port: int) -> float:
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    text = (words * (STREAM_BYTES // len(words) + 1))[:STREAM_BYTES]
    async with AsyncTcpClient("127.0.0.1", port) as conn:
        await conn.write_event(SynthesizeStart().event())
        reader = asyncio.create_task(_read_all(conn, "synthesize-stopped"))
        started = time.perf_counter()
        for index in range(0, len(text), DELTA_CHARS):
            await conn.write_event(SynthesizeChunk(text[index : index + DELTA_CHARS]).event())
        sent = time.perf_counter() - started
        await conn.write_event(SynthesizeStop().event())
        reader.cancel()  # its audio is minutes long: reading it all is not the point
        return sent


async def _plain(port: int, text: str) -> int:
    async with AsyncTcpClient("127.0.0.1", port) as conn:
        await conn.write_event(Synthesize(text).event())
        return await asyncio.wait_for(_read_all(conn, "audio-stop"), MAX_SECONDS)
