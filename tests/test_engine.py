"""Timing, cancellation and overload, made exact with a fake model behind the real server."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.conftest import FakeModel, audio_bytes, client, read_until
from wyoming_tts.__main__ import App
from wyoming_tts.engine.scheduler import Worker
from wyoming_tts.engine.synthesis import Synthesis


async def _wait_for(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_first_frame_is_sent_before_the_model_makes_the_second(
    fake_server: tuple[App, FakeModel],
) -> None:
    app, model = fake_server
    model.gate = threading.Event()  # hold every frame after the first
    try:
        async with client(app) as conn:
            await conn.write_event(Synthesize("Speak this sentence now.").event())
            events = await read_until(conn, "audio-chunk", timeout=3)
            assert [e.type for e in events] == ["audio-start", "audio-chunk"]
            assert len(events[1].payload) == model.frame_samples * 2
            model.gate.set()
            rest = await read_until(conn, "audio-stop")
        assert audio_bytes(events + rest) == model.frames * model.frame_samples * 2
    finally:
        model.gate.set()


async def test_disconnect_mid_synthesis_frees_the_worker(
    fake_server: tuple[App, FakeModel],
) -> None:
    app, model = fake_server
    model.gate = threading.Event()
    async with client(app) as conn:
        await conn.write_event(Synthesize("A long answer that never ends.").event())
        await read_until(conn, "audio-chunk")
    # The client left while the model was held between two frames: it must stop.
    await asyncio.to_thread(model.stopped.wait, 2.0)
    assert model.stopped.is_set()
    model.gate = None
    async with client(app) as conn:
        await conn.write_event(Synthesize("Next request, served normally.").event())
        events = await read_until(conn, "audio-stop")
    assert audio_bytes(events) == model.frames * model.frame_samples * 2


async def test_disconnect_during_streaming_cancels(fake_server: tuple[App, FakeModel]) -> None:
    app, model = fake_server
    model.gate = threading.Event()
    async with client(app) as conn:
        await conn.write_event(SynthesizeStart().event())
        await conn.write_event(SynthesizeChunk("The first sentence is here. And more ").event())
        await read_until(conn, "audio-chunk")
    await asyncio.to_thread(model.stopped.wait, 2.0)
    assert model.stopped.is_set()


async def test_full_queue_answers_busy_at_once(fake_server: tuple[App, FakeModel]) -> None:
    app, model = fake_server  # max_queue=1: one speaking, one waiting, the third is refused
    model.gate = threading.Event()
    try:
        async with client(app) as first, client(app) as second, client(app) as third:
            await first.write_event(Synthesize("One is speaking now.").event())
            await read_until(first, "audio-chunk")
            await second.write_event(Synthesize("Two waits in the queue.").event())
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await third.write_event(Synthesize("Three is one too many.").event())
            events = await read_until(third, "error", timeout=2)
            assert events[-1].type == "error"
            assert events[-1].data["code"] == "busy"
            assert "busy" in events[-1].data["text"]
            assert time.monotonic() - started < 2
            assert await third.read_event() is None  # and the connection is closed
            model.gate.set()
            assert audio_bytes(await read_until(first, "audio-stop")) > 0
            assert audio_bytes(await read_until(second, "audio-stop")) > 0
    finally:
        model.gate.set()


async def test_describe_answered_while_worker_busy_and_queue_full(
    fake_server: tuple[App, FakeModel],
) -> None:
    app, model = fake_server
    model.gate = threading.Event()
    try:
        async with client(app) as first, client(app) as second:
            await first.write_event(Synthesize("Busy speaking.").event())
            await read_until(first, "audio-chunk")
            await second.write_event(Synthesize("Waiting.").event())
            for _ in range(5):
                async with client(app) as asking:
                    await asking.write_event(Describe().event())
                    events = await read_until(asking, "info", timeout=1.0)
                    assert events[-1].type == "info"
            model.gate.set()
            await read_until(first, "audio-stop")
            await read_until(second, "audio-stop")
    finally:
        model.gate.set()


async def test_model_failure_sends_error_and_keeps_serving(
    fake_server: tuple[App, FakeModel],
) -> None:
    app, model = fake_server
    model.fail = True
    async with client(app) as conn:
        await conn.write_event(Synthesize("This will fail.").event())
        events = await read_until(conn, "audio-stop")
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "synthesis"
    model.fail = False
    async with client(app) as conn:
        await conn.write_event(Synthesize("This will work.").event())
        events = await read_until(conn, "audio-stop")
    assert events[-1].type == "audio-stop"


async def test_streamed_stop_without_start_still_answers(
    fake_server: tuple[App, FakeModel],
) -> None:
    app, _model = fake_server
    async with client(app) as conn:
        await conn.write_event(SynthesizeChunk("stray text").event())
        await conn.write_event(SynthesizeStop().event())
        events = await read_until(conn, "synthesize-stopped", timeout=2)
    assert [e.type for e in events] == ["synthesize-stopped"]


class _OneFrameModel:
    sample_rate = 8000
    frame_samples = 4

    def generate(self, voice_state: object, text: str, stop: threading.Event):
        yield np.array([2.0, -3.0, 0.5, -0.5], dtype=np.float32)


async def test_frames_over_full_scale_are_limited_not_wrapped() -> None:
    worker = Worker("test", _OneFrameModel(), max_queue=1)
    try:
        synthesis = Synthesis("clamp", asyncio.get_running_loop())
        worker.submit(synthesis, None)
        synthesis.feed("Loud.")
        synthesis.close()
        pcm = b"".join([chunk async for chunk in synthesis.audio()])
        samples = np.frombuffer(pcm, "<i2").astype(int)
        assert np.sign(samples).tolist() == [1, -1, 1, -1]  # no wrap-around
        assert np.abs(samples).max() <= round(0.977 * 32767) + 1  # held under the ceiling
        assert samples[2] < 16383  # the limiter lets go gradually, not at once
    finally:
        worker.close()


async def test_a_new_request_and_new_text_wake_the_models_batch() -> None:
    """The batch's step may be waiting for its decoder: a request that arrives, or text for
    one, ends that wait (`Batch.wake`) instead of waiting behind it."""
    from wyoming_tts.engine.model import OneAtATime

    woken: list[int] = []

    class Waking(OneAtATime):
        def wake(self) -> None:
            woken.append(1)

    class Model(_OneFrameModel):
        def open_batch(self, on_audio):  # type: ignore[no-untyped-def]
            return Waking(self, on_audio)

    worker = Worker("test", Model(), max_queue=1)
    try:
        synthesis = Synthesis("wake", asyncio.get_running_loop())
        worker.submit(synthesis, None)
        assert len(woken) == 1  # the request
        synthesis.feed("Hello.")
        assert len(woken) == 2  # its text
        synthesis.close()
        assert [chunk async for chunk in synthesis.audio()]
    finally:
        worker.close()


async def _zero_samples(app: App, text: str) -> tuple[int, int]:
    async with client(app) as conn:
        await conn.write_event(Synthesize(text).event())
        events = await read_until(conn, "audio-stop")
    pcm = np.frombuffer(b"".join(e.payload for e in events if e.type == "audio-chunk"), "<i2")
    return int((pcm == 0).sum()), int(pcm.size)


async def test_pause_markup_adds_exact_silence(fake_server: tuple[App, FakeModel]) -> None:
    app, model = fake_server
    zeros, total = await _zero_samples(app, "The first sentence is here. [pause 1s] And then more.")
    assert zeros == model.sample_rate  # one second of zero samples, the model makes none
    assert total == zeros + 2 * model.frames * model.frame_samples


async def test_sentence_silence_between_sentences(fake_settings, tmp_path) -> None:
    from tests.conftest import fake_models, running, with_settings

    settings = with_settings(fake_settings, sentence_silence=0.25)
    model = FakeModel()
    async with running(settings, fake_models(settings, model)) as app:
        zeros, _total = await _zero_samples(
            app, "The first sentence is here. The second one follows. And a third one."
        )
    assert len(model.texts) == 4  # warm-up and three sentences
    assert zeros == 2 * int(0.25 * model.sample_rate)  # between sentences, not before or after


async def test_waiting_frames_go_out_together_but_the_first_goes_alone() -> None:
    from wyoming_tts.engine.synthesis import MAX_COALESCED_BYTES, Synthesis

    synthesis = Synthesis("t", asyncio.get_running_loop())
    synthesis.coalesce_bytes = MAX_COALESCED_BYTES
    frame = b"\x01\x00" * 1920
    for _ in range(5):
        synthesis.emit(frame)
    synthesis.emit(_end())
    await asyncio.sleep(0)  # the emits land on the loop
    chunks = [chunk async for chunk in synthesis.audio()]
    assert [len(c) for c in chunks] == [3840, 7680, 7680]  # one frame, then two and two
    assert b"".join(chunks) == frame * 5  # the same audio


async def test_a_chosen_chunk_size_is_kept() -> None:
    from wyoming_tts.engine.synthesis import Synthesis

    synthesis = Synthesis("t", asyncio.get_running_loop())  # coalesce_bytes 0: as set
    for _ in range(3):
        synthesis.emit(b"\x01\x00" * 960)
    synthesis.emit(_end())
    await asyncio.sleep(0)
    assert [len(c) async for c in synthesis.audio()] == [1920, 1920, 1920]


def _end() -> object:
    from wyoming_tts.engine import synthesis as engine

    return engine._END


async def test_a_waiting_request_gets_the_next_row_before_the_one_that_just_had_it(
    fake_server: tuple[App, FakeModel],
) -> None:
    """One row (the fake speaks one text at a time): a long stream must not keep it."""
    app, model = fake_server
    model.delay = 0.01  # 50 ms a segment
    finished: list[str] = []

    async def long_stream() -> None:
        async with client(app) as conn:
            await conn.write_event(SynthesizeStart().event())
            sentences = " ".join(f"This is sentence number {n} of the story." for n in range(8))
            await conn.write_event(SynthesizeChunk(sentences).event())
            await conn.write_event(SynthesizeStop().event())
            await read_until(conn, "synthesize-stopped", timeout=10)
        finished.append("long")

    task = asyncio.create_task(long_stream())
    await _wait_for(model.running.is_set)
    async with client(app) as conn:
        await conn.write_event(Synthesize("Lights are on.").event())
        await read_until(conn, "audio-stop", timeout=10)
    finished.append("short")
    await task
    assert finished == ["short", "long"]
    model.delay = 0.0
