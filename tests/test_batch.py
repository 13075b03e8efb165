"""Batched generation: each row speaks as it would alone, whoever shares the batch with it.

The tiny random-weight model runs at temperature 0 through the real pocket-tts code, so the
same text in the same voice gives the same audio. Alone means pocket-tts's own
`generate_audio_stream`; in a batch means `BatchGenerator`, with rows that join mid-sentence,
leave early, or fail. Audio must agree within 1e-5 (measured: about 1.2e-7, float rounding of
the batched matrix products and of the keys turned when rows are realigned). Over the socket
(16-bit PCM) it must agree within one step of rounding.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from tests.conftest import client, read_until, running, tiny_server_settings
from wyoming_tts.__main__ import App

TOLERANCE = 1e-5

TEXTS = [
    "Hello world, how are you today?",
    "The quick brown fox jumps over the lazy dog. It is 21 degrees in the kitchen and 19 "
    "degrees in the bedroom, and the washing machine has finished its long program.",
    "Good morning!",
    "Turn on the lights in the living room, please.",
]


@pytest.fixture(scope="module")
def tiny_model(tiny: dict[str, Path]) -> Iterator[tuple[object, list[object]]]:
    import torch
    from pocket_tts import TTSModel

    from wyoming_tts.pocket.random_model import write_voice

    model = TTSModel.load_model(config=str(tiny["config"]))
    torch.set_num_threads(1)
    second = write_voice(tiny["folder"] / "second.wav", seconds=3.3, pitch=180.0)
    voices = [
        model.get_state_for_audio_prompt(tiny["voices"] / "hummer.wav", truncate=True),
        model.get_state_for_audio_prompt(second, truncate=True),
    ]
    yield model, voices


def _alone(model: object, voice: object, text: str) -> np.ndarray:
    import torch

    frames = list(model.generate_audio_stream(voice, text))  # type: ignore[attr-defined]
    return torch.cat(frames).numpy()


def _run_batch(
    model: object,
    starts: dict[int, tuple[int, object, str]],
    cancel_at: dict[int, int] | None = None,
    max_steps: int = 5000,
) -> tuple[dict[int, np.ndarray], dict[int, object], int]:
    """Rows KEY join at their step; return (audio per row, end per row, most rows at once)."""
    from wyoming_tts.pocket.batch import BatchGenerator

    audio: dict[int, list[np.ndarray]] = {key: [] for key in starts}
    batch = BatchGenerator(model, lambda key, samples: audio[key].append(samples.copy()))
    ends: dict[int, object] = {}
    cancel_at = cancel_at or {}
    try:
        for step in range(max_steps):
            for key, (at, voice, text) in starts.items():
                if at == step:
                    batch.add(key, voice, text, threading.Event())
            for key, when in cancel_at.items():
                if when == step:
                    batch.remove(key)
                    ends[key] = "cancelled"
            for key, error in batch.step():
                ends[key] = error
            if len(ends) == len(starts) and not batch.pending():
                break
        else:
            raise AssertionError("the batch never ended")
        peak = batch.peak_rows
    finally:
        batch.close()
    joined = {k: np.concatenate(v) if v else np.zeros(0) for k, v in audio.items()}
    return joined, ends, peak


def _same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= TOLERANCE


def test_rows_that_join_mid_sentence_speak_as_they_would_alone(tiny_model) -> None:
    model, voices = tiny_model
    starts = {i: (at, voices[i % 2], TEXTS[i]) for i, at in enumerate((0, 3, 7, 12))}
    audio, ends, peak = _run_batch(model, starts)
    assert peak >= 3  # the rows really shared frames
    assert all(ends[i] is None for i in starts)
    for i, (_at, voice, text) in starts.items():
        _same(audio[i], _alone(model, voice, text))


def test_a_long_text_is_cut_into_chunks_as_pocket_tts_cuts_it(tiny_model) -> None:
    model, voices = tiny_model
    long_text = " ".join([TEXTS[1]] * 3)  # more than 50 tokens: several chunks, one row
    audio, _ends, _peak = _run_batch(
        model, {0: (0, voices[0], long_text), 1: (5, voices[1], TEXTS[0])}
    )
    _same(audio[0], _alone(model, voices[0], long_text))
    _same(audio[1], _alone(model, voices[1], TEXTS[0]))


def test_a_new_request_is_prompted_between_the_pieces_of_a_next_chunk(
    tiny_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A speaking row's next chunk is prompted a piece at a time; a request that has heard
    nothing yet goes between two pieces, the pieces wait until it is heard, and both speak as
    they would alone."""
    from wyoming_tts.pocket import batch as batch_module
    from wyoming_tts.pocket.batch import PROMPT_PIECE, BatchGenerator

    model, voices = tiny_model
    calls: list[list[tuple[str, int]]] = []  # each prompting call: (whose state, tokens)
    real_prefill = batch_module.prefill

    def recording(model: object, states: list[object], tokens: list[object]) -> list[object]:
        names = {id(voices[0]): "A's voice", id(voices[1]): "B's voice"}
        pairs = zip(states, tokens, strict=True)
        calls.append([(names.get(id(s), "A so far"), int(t.shape[1])) for s, t in pairs])  # type: ignore[attr-defined]
        timeline.append(f"prompt {len(calls) - 1}")
        return real_prefill(model, states, tokens)  # type: ignore[arg-type]

    monkeypatch.setattr(batch_module, "prefill", recording)
    long_text = " ".join([TEXTS[1]] * 3)  # several chunks of up to 50 tokens
    audio: dict[int, list[np.ndarray]] = {0: [], 1: []}
    timeline: list[str] = []  # prompting calls, and B's first audio (from the decoder thread)

    def sink(key: int, samples: np.ndarray) -> None:
        if key == 1 and not audio[1]:
            timeline.append("B heard")
        audio[key].append(samples.copy())

    batch = BatchGenerator(model, sink)
    ends: dict[int, object] = {}
    joined_after = -1
    try:
        batch.add(0, voices[0], long_text, threading.Event())
        for _ in range(5000):
            if joined_after < 0 and len(calls) >= 2:  # the first piece of its second chunk
                joined_after = len(calls)
                batch.add(1, voices[1], TEXTS[2], threading.Event())
            for key, error in batch.step():
                ends[key] = error
            if len(ends) == 2 and not batch.pending():
                break
    finally:
        batch.close()
    assert ends == {0: None, 1: None}
    assert calls[0][0][0] == "A's voice" and calls[0][0][1] > PROMPT_PIECE  # whole
    assert calls[1] == [("A's voice", PROMPT_PIECE)]  # its second chunk: a piece
    assert [who for who, _n in calls[joined_after]] == ["B's voice"]  # whole, next
    assert [who for who, _n in calls[joined_after + 1]] == ["A so far"]  # then A's pieces go on
    # ... once B's first audio is out, not before
    assert timeline.index("B heard") < timeline.index(f"prompt {joined_after + 1}")
    _same(np.concatenate(audio[0]), _alone(model, voices[0], long_text))
    _same(np.concatenate(audio[1]), _alone(model, voices[1], TEXTS[2]))


def test_a_row_cancelled_mid_batch_leaves_the_others_exact(tiny_model) -> None:
    model, voices = tiny_model
    starts = {0: (0, voices[0], TEXTS[1]), 1: (0, voices[1], TEXTS[1]), 2: (2, voices[0], TEXTS[3])}
    audio, ends, _peak = _run_batch(model, starts, cancel_at={1: 6})
    assert ends[1] == "cancelled"
    assert 0 < audio[1].size < _alone(model, voices[1], TEXTS[1]).size
    _same(audio[0], _alone(model, voices[0], TEXTS[1]))
    _same(audio[2], _alone(model, voices[0], TEXTS[3]))


def test_a_row_that_cannot_start_fails_alone(tiny_model) -> None:
    model, voices = tiny_model
    broken = {"not": {"a voice state": np.zeros(1)}}  # a voice with no attention caches
    starts = {0: (0, voices[0], TEXTS[0]), 1: (2, broken, TEXTS[2]), 2: (2, voices[1], TEXTS[2])}
    audio, ends, _peak = _run_batch(model, starts)
    assert isinstance(ends[1], Exception)
    assert audio[1].size == 0
    _same(audio[0], _alone(model, voices[0], TEXTS[0]))
    _same(audio[2], _alone(model, voices[1], TEXTS[2]))


def test_a_waiting_step_ends_when_it_is_woken(tiny_model) -> None:
    """A step with nothing to do waits for the decoder; a new request wakes it at once, even
    when the wake comes just before the wait begins."""
    from wyoming_tts.pocket.batch import BatchGenerator

    model, _voices = tiny_model
    batch = BatchGenerator(model, lambda key, samples: None)
    try:
        batch.wake()  # before the wait: not lost
        started = time.monotonic()
        batch.step(wait=5.0)
        assert time.monotonic() - started < 2.5
        timer = threading.Timer(0.1, batch.wake)  # during the wait
        timer.start()
        started = time.monotonic()
        batch.step(wait=5.0)
        assert time.monotonic() - started < 2.5
        timer.join()
    finally:
        batch.close()


def test_a_text_with_nothing_to_say_is_refused_at_once(tiny_model) -> None:
    from wyoming_tts.pocket.batch import BatchGenerator

    model, voices = tiny_model
    batch = BatchGenerator(model, lambda key, samples: None)
    try:
        with pytest.raises(ValueError):
            batch.add(0, voices[0], "   ", threading.Event())
        assert batch.rows == 0 and not batch.pending()
    finally:
        batch.close()


# -- through the real server ------------------------------------------------------------------


@pytest.fixture(scope="module")
async def fp32_server(
    tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    """The tiny model in float32: int8's activation scale is shared by the rows of a batch
    (torch's dynamic quantization takes one scale per call), so only float32 is exact."""
    settings = tiny_server_settings(tiny, tmp_path_factory.mktemp("data"), quantize=False)
    async with running(settings) as app:
        yield app


async def _speak(app: App, text: str, keep: int | None = None) -> bytes:
    """The PCM of TEXT; with KEEP, leave after that many chunks (a client that goes away)."""
    async with client(app) as conn:
        await conn.write_event(Synthesize(text, voice=SynthesizeVoice(name="hummer")).event())
        pcm = b""
        chunks = 0
        async with asyncio.timeout(30):
            while True:
                event = await conn.read_event()
                assert event is not None and event.type != "error", event
                if event.type == "audio-chunk":
                    pcm += event.payload or b""
                    chunks += 1
                    if keep is not None and chunks >= keep:
                        return pcm
                if event.type == "audio-stop":
                    return pcm


def _close(got: bytes, want: bytes) -> None:
    a = np.frombuffer(got, "<i2").astype(np.int32)
    b = np.frombuffer(want, "<i2").astype(np.int32)
    assert a.size == b.size, (a.size, b.size)
    assert int(np.abs(a - b).max(initial=0)) <= 1


async def test_four_clients_at_once_each_get_their_whole_response(fp32_server: App) -> None:
    alone = [await _speak(fp32_server, text) for text in TEXTS]
    worker = fp32_server.models.worker("en")
    together = await asyncio.gather(*(_speak(fp32_server, text) for text in TEXTS))
    for got, want in zip(together, alone, strict=True):
        _close(got, want)
    assert worker._batch.peak_rows >= 2  # type: ignore[attr-defined]


async def test_a_short_request_during_a_long_one_finishes_first(fp32_server: App) -> None:
    finished: list[str] = []

    async def speak(name: str, text: str) -> None:
        await _speak(fp32_server, text)
        finished.append(name)

    worker = fp32_server.models.worker("en")
    long_task = asyncio.create_task(speak("long", " ".join([TEXTS[1]] * 8)))
    async with asyncio.timeout(10):  # the long one is speaking
        while not worker.busy:
            await asyncio.sleep(0.002)
    await speak("short", TEXTS[2])
    await long_task
    assert finished == ["short", "long"]


async def test_a_client_that_leaves_mid_batch_frees_its_row(fp32_server: App) -> None:
    text = " ".join([TEXTS[1]] * 2)
    alone = await _speak(fp32_server, text)
    stays, leaves = await asyncio.gather(_speak(fp32_server, text), _speak(fp32_server, text, 2))
    _close(stays, alone)
    assert len(leaves) < len(alone)
    worker = fp32_server.models.worker("en")
    async with asyncio.timeout(5):
        while worker.busy or worker.queued:
            await asyncio.sleep(0.01)
    assert await read_until_free(fp32_server)


async def test_requests_sent_together_are_prompted_together(
    fp32_server: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Satellites that announce at once start in one prompt, not one after the other."""
    from wyoming_tts.pocket.batch import BatchGenerator

    groups: list[int] = []
    real = BatchGenerator._prefill_split

    def recording(self, voices, tokens, split=True):  # type: ignore[no-untyped-def]
        groups.append(len(voices))
        return real(self, voices, tokens, split)

    monkeypatch.setattr(BatchGenerator, "_prefill_split", recording)
    async with contextlib.AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(client(fp32_server)) for _ in range(3)]
        for conn, text in zip(conns, TEXTS, strict=False):  # one after the other, at once
            await conn.write_event(Synthesize(text, voice=SynthesizeVoice(name="hummer")).event())
        for conn in conns:
            events = await read_until(conn, "audio-stop")
            assert events[-1].type == "audio-stop"
    assert groups[0] == 3, groups


async def read_until_free(app: App) -> bool:
    """A request after the others still gets its whole response."""
    async with client(app) as conn:
        await conn.write_event(Synthesize(TEXTS[2]).event())
        events = await read_until(conn, "audio-stop")
    return events[-1].type == "audio-stop"


def test_a_turned_key_is_the_key_of_its_new_position() -> None:
    """RowState moves keys by turning them (RoPE): a key made at position P and turned by D is
    the key pocket-tts makes at P + D."""
    import torch
    from pocket_tts.modules.rope import apply_rope

    from wyoming_tts.pocket.rows import rotate

    generator = torch.Generator().manual_seed(5)
    q = torch.randn(2, 7, 4, 16, generator=generator)
    k = torch.randn(2, 7, 4, 16, generator=generator)
    for start, delta in ((0, 1), (3, 40), (120, -37), (10, 0)):
        _q, at_start = apply_rope(q, k, offset=start, max_period=10_000)
        _q, at_end = apply_rope(q, k, offset=start + delta, max_period=10_000)
        turned = rotate(at_start, delta, 10_000)
        assert float((turned - at_end).abs().max()) <= 1e-5


def test_a_waiting_listeners_first_frame_goes_before_a_speaking_rows_next_chunk(
    tiny_model,
) -> None:
    """Two rows start in one step: A's next chunk (its listener is hearing its earlier audio)
    and B's first frame (its listener has heard nothing). B's audio goes out first."""
    import torch

    from wyoming_tts.pocket.decoder import Decoder, Step

    model, _voices = tiny_model
    generator = torch.Generator().manual_seed(4)
    ldim = model.flow_lm.ldim
    a = [torch.randn(1, 1, ldim, generator=generator) for _ in range(3)]
    b = [torch.randn(1, 1, ldim, generator=generator) for _ in range(3)]
    order: list[int] = []
    audio: dict[int, list[np.ndarray]] = {0: [], 1: []}
    ended = threading.Event()

    def on_audio(key: int, samples: np.ndarray) -> None:
        audio[key].append(samples.copy())
        order.append(key)

    def on_end(key: int, _error: object) -> None:
        if key == 1:
            ended.set()

    decoder = Decoder(model, on_audio, on_end)
    try:
        A, B = (0, 5), (1, 6)  # A's chunk 5 (not its first), B's first chunk
        for i in range(3):
            decoder.send(
                Step(
                    keys=[A, B],
                    latents=torch.cat([a[i], b[i]]),
                    last={0, 1} if i == 2 else set(),
                    first={B} if i == 0 else set(),
                )
            )
        assert ended.wait(10)
    finally:
        decoder.close()
    assert order[0] == 1  # B's first audio before A's
    _same(np.concatenate(audio[0]), _decode_alone(model, a))
    _same(np.concatenate(audio[1]), _decode_alone(model, b))


def _decode_alone(model: object, frames: list[object]) -> np.ndarray:
    """FRAMES (latents [1, 1, ldim]) of one row through a decoder of its own."""
    from wyoming_tts.pocket.decoder import Decoder, Step

    out: list[np.ndarray] = []
    done = threading.Event()
    decoder = Decoder(model, lambda _k, s: out.append(s.copy()), lambda _k, _e: done.set())
    try:
        for i, latent in enumerate(frames):
            last = {0} if i == len(frames) - 1 else set()
            decoder.send(Step(keys=[(0, 0)], latents=latent, last=last))  # type: ignore[arg-type]
        assert done.wait(10)
    finally:
        decoder.close()
    return np.concatenate(out)


def test_a_first_frame_goes_ahead_of_the_decoders_queue_and_stays_exact(tiny_model) -> None:
    """Row B joins while the decoder is behind on row A: B's first audio is decoded first."""
    import torch

    from wyoming_tts.pocket.decoder import Decoder, Step

    model, _voices = tiny_model
    generator = torch.Generator().manual_seed(3)
    ldim = model.flow_lm.ldim
    a = [torch.randn(1, 1, ldim, generator=generator) for _ in range(6)]
    b = [torch.randn(1, 1, ldim, generator=generator) for _ in range(3)]
    order: list[tuple[int, int]] = []
    audio: dict[int, list[np.ndarray]] = {0: [], 1: []}
    hold = threading.Event()
    ended: list[int] = []

    busy = threading.Event()

    def on_audio(key: int, samples: np.ndarray) -> None:
        busy.set()
        hold.wait(10)  # the decoder stays on A's first frame until every step is queued
        audio[key].append(samples.copy())
        order.append((key, len(audio[key])))

    decoder = Decoder(model, on_audio, lambda key, _e: ended.append(key))
    try:
        A, B = (0, 0), (1, 1)
        for i in range(6):
            keys = [A] if i < 3 else [A, B]
            latents = a[i] if i < 3 else torch.cat([a[i], b[i - 3]])
            last = {0, 1} if i == 5 else set()
            decoder.send(Step(keys=keys, latents=latents, last=last))
            if i == 0:
                assert busy.wait(10)  # A's first frame is being decoded
        hold.set()
        deadline = time.monotonic() + 10
        while len(ended) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        decoder.close()
    assert sorted(ended) == [0, 1]
    assert order.index((1, 1)) < order.index((0, 3))  # B's first audio overtook A's queue
    got_a, got_b = np.concatenate(audio[0]), np.concatenate(audio[1])
    _same(got_a, _decode_alone(model, a))
    _same(got_b, _decode_alone(model, b))
