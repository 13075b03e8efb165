"""A streamed reply that stops after a finished sentence has that sentence spoken at once.

Assistants say "Let me check that for you." and then call a tool for seconds; the sentence
must not wait for the next delta. "Dr. Smith" split across the same pause is still one
sentence.
"""

from __future__ import annotations

import asyncio
import time

from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.conftest import client, read_until
from wyoming_tts.engine.speech import IDLE_FLUSH_SECONDS
from wyoming_tts.text import SegmentSplitter

PAUSE = 1.0  # the tool call: well past the idle


async def _first_audio_during_pause(app, model, deltas: list[str], pause_after: int):  # type: ignore[no-untyped-def]
    """Stream DELTAS, pausing PAUSE after the first PAUSE_AFTER; return (seconds from the
    pause's start to the first audio, or None when none came in the pause, and the texts)."""
    async with client(app) as conn:
        await conn.write_event(SynthesizeStart().event())
        for delta in deltas[:pause_after]:
            await conn.write_event(SynthesizeChunk(delta).event())
        paused = time.monotonic()
        first = None
        try:
            async with asyncio.timeout(PAUSE):
                while (event := await conn.read_event()) is not None:
                    if event.type == "audio-chunk":
                        first = time.monotonic() - paused
                        break
        except TimeoutError:
            pass
        said_in_pause = list(model.texts)
        for delta in deltas[pause_after:]:
            await conn.write_event(SynthesizeChunk(delta).event())
        await conn.write_event(SynthesizeStop().event())
        await read_until(conn, "synthesize-stopped")
    return first, said_in_pause


async def test_a_finished_sentence_is_spoken_while_the_llm_thinks(fake_server) -> None:  # type: ignore[no-untyped-def]
    app, model = fake_server
    model.texts.clear()
    deltas = ["Let me ", "check that ", "for you. ", "The lights ", "are on."]
    first, said = await _first_audio_during_pause(app, model, deltas, pause_after=3)
    assert said == ["Let me check that for you."]
    assert first is not None and first < PAUSE
    assert model.texts == ["Let me check that for you.", "The lights are on."]


async def test_an_abbreviation_split_across_a_pause_is_not_cut(fake_server) -> None:  # type: ignore[no-untyped-def]
    app, model = fake_server
    model.texts.clear()
    deltas = ["I have called ", "Dr. ", "Smith for you."]
    first, said = await _first_audio_during_pause(app, model, deltas, pause_after=2)
    assert first is None and said == []
    assert model.texts == ["I have called Dr. Smith for you."]


async def test_deltas_at_an_llms_pace_are_cut_as_before(fake_server) -> None:  # type: ignore[no-untyped-def]
    """Deltas closer than the idle never trigger it: the same segments as a whole text."""
    app, model = fake_server
    model.texts.clear()
    text = "It is 3.5 degrees. Mr. Brown is here. See you at 10:30 tonight."
    async with client(app) as conn:
        await conn.write_event(SynthesizeStart().event())
        for start in range(0, len(text), 4):
            await conn.write_event(SynthesizeChunk(text[start : start + 4]).event())
            await asyncio.sleep(IDLE_FLUSH_SECONDS / 10)
        await conn.write_event(SynthesizeStop().event())
        await read_until(conn, "synthesize-stopped")
    splitter = SegmentSplitter()
    expected = [*splitter.feed(text), *splitter.finish()]
    assert " ".join(model.texts) == " ".join(expected).replace("3.5", "three point five").replace(
        "10:30", "ten thirty"
    )


def test_the_splitter_flushes_only_finished_sentences() -> None:
    cases = {
        "Let me check that for you. ": ["Let me check that for you."],
        "Okay. ": ["Okay."],
        "Really? ": ["Really?"],
        "I called Dr. ": [],
        "The price is 3. ": [],
        "Use it, e.g. ": [],
        "Ask J. ": [],
        "We meet at 10:": [],
        "Not finished yet": [],
    }
    for text, expected in cases.items():
        splitter = SegmentSplitter()
        spoken = splitter.feed(text)
        assert spoken + splitter.flush_idle() == expected, text
