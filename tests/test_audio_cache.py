"""Repeated texts from the audio cache: the same samples, a miss for anything that changes the
model's audio, torn files and budgets, and a cached response that stops when its client goes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from tests.conftest import (
    FakeModel,
    client,
    fake_models,
    read_until,
    running,
    tiny_server_settings,
    with_settings,
)
from wyoming_tts.engine.audio_cache import AudioCache, segment_key
from wyoming_tts.settings import Settings

TEXT = "The washing machine has finished. Please empty it soon."
CACHE_MB = 100  # the default; the shared fixtures turn the cache off


async def _pcm(app, text: str = TEXT, voice: str | None = None) -> bytes:  # type: ignore[no-untyped-def]
    async with client(app) as conn:
        asked = SynthesizeVoice(voice) if voice else None
        await conn.write_event(Synthesize(text, voice=asked).event())
        events = await read_until(conn, "audio-stop")
    assert events[-1].type == "audio-stop"
    return b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")


def _cached(app) -> list[int]:  # type: ignore[no-untyped-def]
    return [r.cached for r in app.models.recent.newest_first()]  # type: ignore[attr-defined]


async def test_a_repeated_text_is_the_same_samples_from_the_cache(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    settings = tiny_server_settings(tiny, tmp_path / "data", audio_cache_mb=CACHE_MB)
    async with running(settings) as app:
        assert app.models is not None
        first = await _pcm(app)
        cache = app.models.audio_cache
        hits = cache.hits
        again = await _pcm(app)
        assert again == first  # temperature 0: the samples the model made
        assert cache.hits > hits
        assert list((tmp_path / "data" / "audio-cache").glob("*.pcm"))
    async with running(settings) as app:  # from disk after a restart
        assert await _pcm(app) == first


async def test_rate_and_volume_apply_to_cached_audio_as_to_spoken(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    """The cache keeps the model's own audio, so a hit at another rate or volume is that rate
    and volume: the samples the model speaking it afresh gives at that rate and volume, within
    the model's own float rounding from one rendering to the next (a few LSB of 16 bits)."""
    settings = tiny_server_settings(tiny, tmp_path / "data", audio_cache_mb=CACHE_MB)
    async with running(settings) as app:
        models = app.models
        assert models is not None and models.preferences is not None
        plain = await _pcm(app)  # fills the cache at rate 1.0, volume 1.0
        models.preferences.set_speed("hummer", 1.3)
        models.preferences.set_volume("hummer", 0.5)
        hits = models.audio_cache.hits
        cached = await _pcm(app)
        assert models.audio_cache.hits > hits
        worker = models.loaded_worker("en")
        assert worker is not None
        worker.cache = None  # the same model, no cache: spoken afresh
        fresh = await _pcm(app)
    a, b = np.frombuffer(cached, "<i2").astype(int), np.frombuffer(fresh, "<i2").astype(int)
    assert a.size == b.size and np.abs(a - b).max() <= 4
    assert a.size == pytest.approx(len(plain) / 2 / 1.3, rel=0.03)  # at the new rate


async def test_a_changed_voice_file_or_model_misses(tiny: dict[str, Path], tmp_path: Path) -> None:
    settings = tiny_server_settings(tiny, tmp_path / "data", audio_cache_mb=CACHE_MB)
    async with running(settings) as app:
        assert app.models is not None
        await _pcm(app)
        voice = tiny["voices"] / "hummer.wav"
        stamp = voice.stat()
        os.utime(voice, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # the file changed
        await app.models.refresh_voices()
        misses = app.models.audio_cache.hits
        await _pcm(app)
        assert app.models.audio_cache.hits == misses  # nothing from the cache
    render = "english.abc|pocket-tts 4.0.1|temp 0.0|steps 1|clamp None|eos -4.0"
    other = render.replace("temp 0.0", "temp 0.7")
    assert segment_key(render, "audio|a.wav|1:2", "Hi.") != segment_key(
        other, "audio|a.wav|1:2", "Hi."
    )
    assert segment_key(render, "audio|a.wav|1:2", "Hi.") != segment_key(
        render, "audio|a.wav|1:3", "Hi."
    )
    assert segment_key(render, "audio|a.wav|1:2", "Hi.") != segment_key(
        render, "audio|a.wav|1:2", "Hi!"
    )


async def test_a_torn_cache_file_is_a_miss(tiny: dict[str, Path], tmp_path: Path) -> None:
    settings = tiny_server_settings(tiny, tmp_path / "data", audio_cache_mb=CACHE_MB)
    async with running(settings) as app:
        await _pcm(app)
    files = list((tmp_path / "data" / "audio-cache").glob("*.pcm"))
    sizes = {f.name: f.stat().st_size for f in files}
    for path in files:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # torn: a power cut while writing
    async with running(settings) as app:  # (random weights are drawn again at each load)
        assert app.models is not None
        spoken = await _pcm(app)  # the model spoke it again, never the torn file's noise
        assert app.models.audio_cache.misses >= 1
        assert await _pcm(app) == spoken  # kept again, whole
    for path in (tmp_path / "data" / "audio-cache").glob("*.pcm"):
        assert path.stat().st_size == sizes.get(path.name, path.stat().st_size)


def test_the_cache_never_exceeds_its_budget(tmp_path: Path) -> None:
    budget = 200_000
    cache = AudioCache(tmp_path / "cache", budget)
    rng = np.random.default_rng(0)
    for index in range(40):
        cache.put(f"{index:064x}", "audio|voice.wav|1:1", rng.standard_normal(4000).astype("f4"))
        files = list((tmp_path / "cache").glob("*.pcm"))
        assert sum(f.stat().st_size for f in files) <= budget
        assert cache.memory_budget >= cache._memory_bytes
    assert cache.get(f"{39:064x}") is not None  # the newest stay
    assert cache.get(f"{0:064x}") is None  # the oldest went first
    reopened = AudioCache(tmp_path / "cache", budget // 2)  # a smaller budget at start-up
    assert sum(f.stat().st_size for f in (tmp_path / "cache").glob("*.pcm")) <= budget // 2
    assert reopened.has(f"{39:064x}")
    reopened.forget_voice("voice.wav")  # the voice is deleted: its audio goes
    assert not list((tmp_path / "cache").glob("*.pcm"))
    assert AudioCache(tmp_path / "off", 0).enabled is False


async def test_a_cached_response_stops_when_its_client_leaves(fake_settings: Settings) -> None:
    model = FakeModel(frames=600)  # 48 s of audio: more than a client may leave unread
    settings = with_settings(fake_settings, max_queue=2, audio_cache_mb=CACHE_MB)
    async with running(settings, fake_models(settings, model)) as app:
        assert app.models is not None
        await _pcm(app, "A long announcement.")
        assert len(model.texts) == 2  # the warm-up and this one
        async with client(app) as conn:
            await conn.write_event(Synthesize("A long announcement.").event())
            async with asyncio.timeout(10):
                while (event := await conn.read_event()) is not None:
                    if event.type == "audio-chunk":
                        break
        worker = app.models.loaded_worker("en")
        assert worker is not None
        async with asyncio.timeout(10):  # the replay stopped: the request is finished
            while worker.queued:
                await asyncio.sleep(0.01)
        assert len(model.texts) == 2  # the model was not asked again
        newest = app.models.recent.newest_first()[0]
        assert newest.cancelled and newest.cached == 1
        assert newest.audio_seconds < 30  # not all of it: it stopped at its client's bound


@pytest.mark.parametrize("budget", [0])
async def test_audio_cache_mb_0_turns_it_off(
    tiny: dict[str, Path], tmp_path: Path, budget: int
) -> None:
    settings = tiny_server_settings(tiny, tmp_path / "data", audio_cache_mb=budget)
    async with running(settings) as app:
        assert app.models is not None
        await _pcm(app)
        await _pcm(app)
        assert app.models.audio_cache.hits == 0
    assert not (tmp_path / "data" / "audio-cache").exists()
