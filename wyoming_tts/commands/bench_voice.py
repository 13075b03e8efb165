"""`wyoming-tts bench --new-voice`: a voice never encoded before, asked for while others speak.

LISTENERS clients speak a long text; as soon as each has heard its first chunk (when a
listener has the least audio in hand), one more client asks for a short text,
once with the default voice and once with a recording the server has never seen (it must be
encoded first). For each run: the worst silence a listener hears who plays each response from
its first chunk (a chunk that arrives after the audio before it has finished playing leaves a
gap), and the third client's first audio.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_tts.pocket.random_model import write_voice

LONG = (
    "Here is the weather for the whole week. Monday starts cloudy with some rain in the "
    "afternoon and a high of twelve degrees. Tuesday brings sunshine and light wind from the "
    "west. Wednesday turns colder, with frost in the morning and clear skies at night. "
    "Thursday and Friday stay dry, and the weekend looks warm and bright."
)
SHORT = "The washing machine has finished."
RUNS = 3


async def _speak(
    port: int, text: str, voice: str, heard: asyncio.Event | None = None
) -> list[tuple[float, float]]:
    """(arrival time, seconds of audio) of each chunk of one plain request; HEARD is set at
    the first."""
    chunks: list[tuple[float, float]] = []
    async with AsyncTcpClient("127.0.0.1", port) as conn:
        await conn.write_event(Synthesize(text, voice=SynthesizeVoice(voice)).event())
        while (event := await conn.read_event()) is not None:
            if event.type == "audio-chunk":
                rate = int(event.data.get("rate", 24000))
                chunks.append((time.perf_counter(), len(event.payload or b"") / 2 / rate))
                if heard is not None:
                    heard.set()
            elif event.type == "error":
                raise RuntimeError(event.data.get("text"))
            elif event.type == "audio-stop":
                break
    return chunks


def worst_silence(chunks: list[tuple[float, float]]) -> float:
    """The longest gap a listener hears who plays CHUNKS from the first one, as they arrive."""
    if not chunks:
        return 0.0
    clock = chunks[0][0]
    worst = 0.0
    for arrival, seconds in chunks:
        start = max(clock, arrival)
        worst = max(worst, start - clock)
        clock = start + seconds
    return worst


async def _run(port: int, voice: str, third: str, listeners: int) -> tuple[float, float]:
    """(worst silence of the listeners, the third request's first audio), in seconds."""
    first = [asyncio.Event() for _ in range(listeners)]
    speaking = [asyncio.create_task(_speak(port, LONG, voice, event)) for event in first]
    for event in first:
        await event.wait()
    asked = time.perf_counter()
    late = await _speak(port, SHORT, third)
    heard = await asyncio.gather(*speaking)
    return max(worst_silence(c) for c in heard), late[0][0] - asked


async def measure(port: int, voice: str, voices: Path, listeners: int) -> list[tuple[str, str]]:
    """The rows of the bench table."""
    rows: list[tuple[str, str]] = []
    without: list[tuple[float, float]] = []
    with_new: list[tuple[float, float]] = []
    for run in range(RUNS):
        without.append(await _run(port, voice, voice, listeners))
        name = f"newcomer{run}"
        write_voice(voices / f"{name}.wav", seconds=5.0, pitch=150.0 + 20 * run)
        with_new.append(await _run(port, voice, name, listeners))
    worst_without = max(r[0] for r in without)
    worst_with = max(r[0] for r in with_new)
    rows.append(
        (
            f"{listeners} speak, a new voice asked for: listeners' worst silence, with / without",
            f"{worst_with * 1000:.0f} / {worst_without * 1000:.0f} ms "
            f"(+{(worst_with - worst_without) * 1000:.0f} ms)",
        )
    )
    rows.append(
        (
            "The third request's first audio, new voice / default voice (median)",
            f"{_median([r[1] for r in with_new]) * 1000:.0f} / "
            f"{_median([r[1] for r in without]) * 1000:.0f} ms",
        )
    )
    return rows


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
