"""Speech rate and loudness: the audio path (audio/), through the engine as frames are made.

A tone model makes a continuous 440 Hz tone in Pocket-sized frames, so duration, pitch and
continuity can be measured exactly; a two-voice model speaks one voice 10 dB under the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from tests.conftest import (
    FakeModel,
    audio_bytes,
    client,
    fake_models,
    read_until,
    running,
    with_settings,
)
from wyoming_tts.audio.loudness import CEILING, Limiter, measure_lufs
from wyoming_tts.audio.output import Output
from wyoming_tts.engine.models import Models
from wyoming_tts.engine.scheduler import Worker
from wyoming_tts.engine.synthesis import Synthesis
from wyoming_tts.preferences import Preferences
from wyoming_tts.settings import Settings

RATE = 24000
FRAME = 1920
TONE = 440.0
AMPLITUDE = 0.5
# A 440 Hz sine of amplitude 0.5 moves at most this much from one sample to the next.
MAX_STEP = 2 * np.pi * TONE / RATE * AMPLITUDE


class ToneModel:
    """FRAMES frames of one continuous tone per text (phase kept across frames and texts)."""

    sample_rate = RATE
    frame_samples = FRAME

    def __init__(self, frames: int = 50) -> None:
        self.frames = frames
        self._n = 0

    def generate(self, voice_state: object, text: str, stop: threading.Event) -> Iterator[object]:
        for _ in range(self.frames):
            t = (self._n + np.arange(FRAME)) / RATE
            self._n += FRAME
            yield (AMPLITUDE * np.sin(2 * np.pi * TONE * t)).astype(np.float32)


async def _spoken(model: ToneModel, rate: float, texts: int = 1) -> np.ndarray:
    worker = Worker("tone", model, max_queue=1)  # type: ignore[arg-type]
    try:
        synthesis = Synthesis("tone", asyncio.get_running_loop())
        synthesis.rate = rate
        worker.submit(synthesis, None)
        for _ in range(texts):
            synthesis.feed("A tone.")
        synthesis.close()
        pcm = b"".join([chunk async for chunk in synthesis.audio()])
        return np.frombuffer(pcm, "<i2").astype(np.float64) / 32767
    finally:
        worker.close()


def _pitch(samples: np.ndarray) -> float:
    middle = samples[samples.size // 4 : samples.size // 4 + RATE]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size), n=1 << 20))
    return float(np.argmax(spectrum) * RATE / (1 << 20))


@pytest.mark.parametrize("rate", [0.5, 1.0, 1.5, 2.0])
async def test_rate_scales_duration_and_keeps_pitch(rate: float) -> None:
    model = ToneModel(frames=50)  # 4 s at rate 1
    samples = await _spoken(model, rate)
    expected = 50 * FRAME / rate
    assert abs(samples.size - expected) <= 0.03 * expected, (samples.size, expected)
    assert abs(_pitch(samples) - TONE) <= 0.01 * TONE


@pytest.mark.parametrize("rate", [0.8, 1.3, 2.0])
async def test_no_discontinuity_at_chunk_boundaries(rate: float) -> None:
    """A continuous tone through the streaming path (frames, then segments) stays smooth: no
    step between two samples beyond what the tone itself makes (plus 16-bit rounding)."""
    samples = await _spoken(ToneModel(frames=12), rate, texts=3)
    steps = np.abs(np.diff(samples[FRAME:-FRAME]))  # the tail's fade is the stretcher's end
    assert steps.max() <= MAX_STEP * 1.1 + 2 / 32767, (steps.max(), MAX_STEP)


async def test_rate_one_puts_no_stretcher_in_the_path() -> None:
    output = Output(RATE)
    frame = np.full(FRAME, 0.25, dtype=np.float32)
    assert np.array_equal(output.process(frame), np.full(FRAME, int(0.25 * 32767), "<i2"))
    assert output._stretcher is None and output.finish().size == 0


def test_a_rate_change_mid_response_is_continuous() -> None:
    output = Output(RATE, rate=1.0)
    out = []
    t = np.arange(40 * FRAME) / RATE
    tone = (AMPLITUDE * np.sin(2 * np.pi * TONE * t)).astype(np.float32)
    output.set_part(rate=1.5)  # SSML prosody: from the first frame on
    for index in range(40):
        if index == 20:
            output.set_part(rate=0.8)
        out.append(output.process(tone[index * FRAME : (index + 1) * FRAME]))
    out.append(output.finish())
    samples = np.concatenate(out).astype(np.float64) / 32767
    expected = 20 * FRAME / 1.5 + 20 * FRAME / 0.8
    assert abs(samples.size - expected) <= 0.03 * expected
    assert np.abs(np.diff(samples[FRAME:-FRAME])).max() <= MAX_STEP * 1.1 + 2 / 32767


def test_the_limiter_never_lets_a_peak_through() -> None:
    limiter = Limiter(RATE)
    rng = np.random.default_rng(0)
    for _ in range(20):
        loud = (rng.standard_normal(FRAME) * 0.8).astype(np.float32)
        assert np.abs(limiter.process(loud)).max() <= CEILING + 1e-6
    quiet = np.full(FRAME * 10, 0.1, dtype=np.float32)
    after = limiter.process(quiet)
    assert after[-1] == pytest.approx(0.1, rel=1e-3)  # it lets go again


# -- the server: --speed, the voice's own rate, the HTTP API's speed -----------------------------
async def test_server_speed_and_a_voices_own_rate_multiply(fake_settings: Settings) -> None:
    model = FakeModel(frames=40)
    settings = with_settings(fake_settings, speed=1.25)
    async with running(settings, _models(settings, model)) as app:
        assert app.models is not None
        normal = 40 * model.frame_samples
        async with client(app) as conn:
            await conn.write_event(Synthesize("Hello there.").event())
            samples = audio_bytes(await read_until(conn, "audio-stop")) // 2
        assert abs(samples - normal / 1.25) <= 0.03 * normal / 1.25
        assert app.models.preferences is not None
        app.models.preferences.set_speed("fake", 1.6)  # as the voice page sets it
        async with client(app) as conn:
            await conn.write_event(Synthesize("Hello there.").event())
            samples = audio_bytes(await read_until(conn, "audio-stop")) // 2
        assert abs(samples - normal / 2.0) <= 0.03 * normal / 2.0  # 1.25 x 1.6 = 2.0


# -- loudness ------------------------------------------------------------------------------------
class TwoLoudnessModel(FakeModel):
    """Voice "fake" speaks 10 dB louder than voice "other" (a speech-like modulated tone)."""

    def __init__(self) -> None:
        super().__init__(frames=20)

    def builtin_voice_state(self, name: str) -> object:
        return {"voice": {"name": np.zeros(1)}, "level": 0.3 if name == "fake" else 0.3 / 10**0.5}

    def generate(self, voice_state: object, text: str, stop: threading.Event) -> Iterator[object]:
        self.texts.append(text)
        level = voice_state["level"]  # type: ignore[index]
        n = self.frame_samples
        for index in range(self.frames):
            t = (index * n + np.arange(n)) / self.sample_rate
            envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)  # syllables
            yield (level * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _models(settings: Settings, model: FakeModel) -> Models:
    """The fake model's registry, with the voice page's settings file."""
    models = fake_models(settings, model)
    models.preferences = Preferences(settings.data_dir / "preferences.json")
    return models


async def _lufs(app, voice: str) -> float:  # type: ignore[no-untyped-def]
    async with client(app) as conn:
        await conn.write_event(Synthesize("Hello there.", voice=SynthesizeVoice(voice)).event())
        events = await read_until(conn, "audio-stop")
    pcm = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) / 32767
    return measure_lufs(samples, 16000)


async def test_voices_of_different_loudness_come_out_matched(fake_settings: Settings) -> None:
    settings = with_settings(fake_settings, loudness_match=False, max_queue=4)
    async with running(settings, fake_models(settings, TwoLoudnessModel())) as app:
        raw = await _lufs(app, "fake") - await _lufs(app, "other")
    assert raw == pytest.approx(10.0, abs=0.5)  # the raw output differs by 10 dB

    settings = with_settings(settings, loudness_match=True)
    async with running(settings, fake_models(settings, TwoLoudnessModel())) as app:
        assert app.models is not None
        loud, quiet = await _lufs(app, "fake"), await _lufs(app, "other")
        assert abs(loud - quiet) <= 1.0
        assert abs(loud - (-20.0)) <= 1.0  # the documented target
        assert app.models.loudness.calibrations == 2  # each voice measured once
        await _lufs(app, "other")
        assert app.models.loudness.calibrations == 2
        recent = [r.label for r in app.models.recent.newest_first()]
        assert len(recent) == 3  # calibrations and the warm-up are not in the figures

    async with running(settings, fake_models(settings, TwoLoudnessModel())) as app:
        assert app.models is not None
        await _lufs(app, "other")
        assert app.models.loudness.calibrations == 0  # the gains were kept on disk


async def test_the_users_volume_applies_on_top_of_the_matched_loudness(
    fake_settings: Settings,
) -> None:
    settings = with_settings(fake_settings, loudness_match=True, max_queue=4)
    async with running(settings, _models(settings, TwoLoudnessModel())) as app:
        assert app.models is not None and app.models.preferences is not None
        before = await _lufs(app, "other")
        app.models.preferences.set_volume("other", 0.5)
        after = await _lufs(app, "other")
    assert after - before == pytest.approx(20 * np.log10(0.5), abs=0.5)


@pytest.mark.parametrize("sample_rate", [16000, 24000, 48000])
def test_loudness_is_measured_as_pyloudnorm_measures_it(sample_rate: int) -> None:
    import pyloudnorm

    rng = np.random.default_rng(3)
    t = np.arange(4 * sample_rate) / sample_rate
    syllables = 0.2 * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 220 * t)
    gaps = np.where(t % 1 < 0.5, rng.standard_normal(t.size) * 0.2, 0.0)  # the gates matter
    for signal in (syllables, gaps, rng.standard_normal(t.size) * 0.05):
        reference = pyloudnorm.Meter(sample_rate).integrated_loudness(signal)
        assert measure_lufs(signal, sample_rate) == pytest.approx(reference, abs=0.1)
    assert measure_lufs(np.zeros(t.size), sample_rate) == -np.inf
    assert measure_lufs(syllables[: sample_rate // 4], sample_rate) == -np.inf  # under 0.4 s


async def test_a_calibration_that_cannot_run_now_is_tried_again_later(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from wyoming_tts.engine.loudness import LoudnessBook
    from wyoming_tts.engine.synthesis import EngineBusy
    from wyoming_tts.voices import Voice

    book = LoudnessBook(tmp_path / "loudness.json")
    voice = Voice("aunt", "en", "audio", str(tmp_path / "aunt.wav"), "aunt", stamp=(1, 2))

    async def busy() -> np.ndarray:
        raise EngineBusy("full")

    async def quiet() -> np.ndarray:
        t = np.arange(3 * RATE) / RATE
        return (0.05 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)

    with pytest.raises(EngineBusy):
        await book.gain(voice, "model", RATE, busy)
    assert book.known(voice, "model") is None  # nothing kept: measured next time
    gain = await book.gain(voice, "model", RATE, quiet)
    assert gain > 1 and book.calibrations == 1
    assert LoudnessBook(tmp_path / "loudness.json").known(voice, "model") == gain  # on disk
    book.forget(voice.source)
    assert LoudnessBook(tmp_path / "loudness.json").known(voice, "model") is None
