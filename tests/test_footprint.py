"""Fit a small host: the model chosen for this CPU, memory given back, a guard before loading."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FakeModel
from wyoming_tts import autopick, memory
from wyoming_tts.autopick import CANDIDATES, choose, resolve
from wyoming_tts.engine.models import Models, NotEnoughMemory
from wyoming_tts.settings import ModelSpec, Settings, parse_settings
from wyoming_tts.voices import LanguageModel, VoiceStates


class FakeProbe:
    """Times each model as SPEEDS says, and remembers what it was asked."""

    def __init__(self, speeds: dict[str, float]) -> None:
        self.speeds = speeds
        self.asked: list[str] = []

    def __call__(self, name: str) -> float:
        self.asked.append(name)
        return self.speeds[name]


FAST = {"english": 3.2, "english_18m_2026-10": 6.0, "english_7m_2026-10": 7.0,
        "english_2m_2026-10": 8.0}  # fmt: skip
SLOW = {"english": 0.4, "english_18m_2026-10": 0.9, "english_7m_2026-10": 1.7,
        "english_2m_2026-10": 2.5}  # fmt: skip
TOO_SLOW = dict.fromkeys(FAST, 0.5)


def test_a_fast_cpu_gets_the_largest_model(tmp_path: Path) -> None:
    probe = FakeProbe(FAST)
    assert choose("en", probe, tmp_path / "choice.json", "key") == "english"
    assert probe.asked == ["english"]  # the largest met the target: nothing else is timed


def test_a_slow_cpu_gets_the_largest_model_that_keeps_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = FakeProbe(SLOW)
    with caplog.at_level(logging.INFO):
        assert choose("en", probe, tmp_path / "choice.json", "key") == "english_7m_2026-10"
    assert probe.asked == ["english", "english_18m_2026-10", "english_7m_2026-10"]
    assert "english 0.4x, english_18m_2026-10 0.9x, english_7m_2026-10 1.7x" in caplog.text


def test_a_cpu_too_slow_for_all_gets_the_smallest(tmp_path: Path) -> None:
    assert choose("en", FakeProbe(TOO_SLOW), tmp_path / "c.json", "k") == "english_2m_2026-10"


def test_the_verdict_is_kept_and_reused_per_key(tmp_path: Path) -> None:
    cache = tmp_path / "choice.json"
    choose("en", FakeProbe(SLOW), cache, "this-cpu")
    again = FakeProbe(FAST)
    assert choose("en", again, cache, "this-cpu") == "english_7m_2026-10"
    assert again.asked == []  # decided before: no timing at all
    assert json.loads(cache.read_text())["this-cpu"]["model"] == "english_7m_2026-10"
    other = FakeProbe(FAST)  # another CPU or other versions: decided anew
    assert choose("en", other, cache, "another-cpu") == "english"
    assert other.asked == ["english"]


def test_a_candidate_that_fails_to_time_is_skipped(tmp_path: Path) -> None:
    def probe(name: str) -> float:
        if name == "english":
            raise RuntimeError("out of memory")
        return 2.0

    assert choose("en", probe, tmp_path / "c.json", "k") == "english_18m_2026-10"


def test_every_language_has_candidates_that_pocket_tts_knows() -> None:
    from wyoming_tts.pocket.model import builtin_model_names

    known = set(builtin_model_names())
    for language, names in CANDIDATES.items():
        assert names and set(names) <= known, language


def test_an_explicit_model_always_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_probe(*_args: object) -> None:
        raise AssertionError("an explicit model must not be timed")

    monkeypatch.setattr(autopick, "random_weights_probe", no_probe)
    spec = ModelSpec("english_18m_2026-10", "en")
    assert resolve(spec, quantize=True, threads=1, data_dir=tmp_path) is spec
    assert parse_settings([], {}).models == (ModelSpec("auto", "en"),)  # the default
    assert parse_settings(["--model", "de=auto"], {}).models == (ModelSpec("auto", "de"),)


def test_auto_resolves_through_the_probe_and_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(autopick, "random_weights_probe", lambda q, t: FakeProbe(SLOW))
    spec = resolve(ModelSpec("auto", "en"), quantize=True, threads=1, data_dir=tmp_path)
    assert spec == ModelSpec("english_7m_2026-10", "en")
    assert (tmp_path / "model-choice.json").is_file()


@pytest.mark.slow
def test_the_real_probe_times_a_random_weight_model(tmp_path: Path) -> None:
    speed = autopick.random_weights_probe(quantize=True, threads=1)("english_2m_2026-10")
    assert speed > 0


# -- memory -----------------------------------------------------------------------------------
def _models(settings: Settings, free_mb: float | None) -> Models:
    return Models(
        settings,
        lambda spec: FakeModel(),
        [LanguageModel("en", ("fake",), {}), LanguageModel("de", ("juergen",), {})],
        VoiceStates(settings.data_dir / "states", 1 << 20, "test"),
        {"en": "fake", "de": "juergen"},
        available_mb=lambda: free_mb,
    )


def test_a_further_model_that_would_not_fit_is_refused(tmp_path: Path) -> None:
    settings = Settings(
        models=(ModelSpec("english", "en"), ModelSpec("german", "de")), data_dir=tmp_path
    )
    models = _models(settings, free_mb=300.0)
    models.worker("en")
    models.model_mb = 800.0  # what the first model took
    with pytest.raises(NotEnoughMemory, match="needs about 800 MB and 300 MB are free"):
        models.worker("de")
    assert models.loaded == ["en"]
    roomy = _models(settings, free_mb=5000.0)
    roomy.worker("en")
    roomy.model_mb = 800.0
    roomy.worker("de")
    assert roomy.loaded == ["en", "de"]
    models.close()
    roomy.close()


def test_available_memory_reads_the_container_limit(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 16000000 kB\nMemAvailable: 8192000 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    assert memory.available_mb(meminfo, cgroup) == 8000.0  # no limit: the host's
    (cgroup / "memory.max").write_text("1073741824\n")  # 1 GiB
    (cgroup / "memory.current").write_text("536870912\n")
    assert memory.available_mb(meminfo, cgroup) == 512.0
    (cgroup / "memory.max").write_text("max\n")
    assert memory.available_mb(meminfo, cgroup) == 8000.0


def test_large_blocks_get_their_own_pages_only_while_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading returns its temporaries at once; serving reuses the heap (fresh pages for every
    tensor were slow); a load inside start-up (nested) does not end start-up's setting."""
    thresholds: list[int] = []
    monkeypatch.setattr(memory, "_mmap_threshold", lambda size: thresholds.append(size) or True)
    monkeypatch.setattr(memory, "_loading", 0)
    monkeypatch.setattr(memory, "_serving", False)
    with memory.loading():  # start-up
        with memory.loading():  # the model itself
            pass
        assert thresholds == [memory.LOADING_MMAP_THRESHOLD] * 2  # not serving yet
    memory.serving()
    assert thresholds[-1] == memory.SERVING_MMAP_THRESHOLD
    with memory.loading():  # another language's model, later
        assert thresholds[-1] == memory.LOADING_MMAP_THRESHOLD
    assert thresholds[-1] == memory.SERVING_MMAP_THRESHOLD


def test_memory_figures_of_this_process() -> None:
    assert memory.rss_mb() > 10 and memory.peak_mb() >= memory.rss_mb()
    memory.trim()  # harmless anywhere


# -- merged segments ----------------------------------------------------------------------------
class WordsModel(FakeModel):
    """A fake model whose audio lasts in proportion to the text: one frame per five letters."""

    def generate(self, voice_state: object, text: str, stop: object):  # type: ignore[no-untyped-def, override]
        self.texts.append(text)
        import numpy as np

        for _ in range(max(1, sum(c.isalpha() for c in text) // 5)):
            yield np.full(self.frame_samples, 0.5, dtype=np.float32)


async def test_merged_segments_give_the_same_audio_length_with_fewer_restarts(
    fake_settings: Settings,
) -> None:
    from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

    from tests.conftest import audio_bytes, client, fake_models, read_until, running

    text = " ".join(
        f"Sentence {word} tells you about the {word} room and its lights." for word in
        ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
    )  # fmt: skip
    model = WordsModel()
    async with running(fake_settings, fake_models(fake_settings, model)) as app:
        model.texts.clear()
        async with client(app) as conn:  # plain: merged after the first segment
            await conn.write_event(Synthesize(text).event())
            merged = audio_bytes(await read_until(conn, "audio-stop"))
        merged_calls = len(model.texts)
        model.texts.clear()
        async with client(app) as conn:  # streamed: one segment per sentence
            await conn.write_event(SynthesizeStart().event())
            await conn.write_event(SynthesizeChunk(text).event())
            await conn.write_event(SynthesizeStop().event())
            unmerged = audio_bytes(await read_until(conn, "synthesize-stopped"))
        unmerged_calls = len(model.texts)
    assert merged_calls < unmerged_calls
    assert abs(merged - unmerged) / unmerged < 0.05  # rounding per call only
    assert all(len(t) <= 200 for t in model.texts)


def test_an_arm_cpu_without_atomics_keeps_torch_on_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wyoming_tts import cpu

    monkeypatch.setattr(cpu, "is_arm64", lambda: True)
    monkeypatch.setattr(cpu, "hwcap", lambda: 0x8FB)  # Cortex-A72: no bit 8 (LSE atomics)
    threads, why = cpu.safe_threads(2)
    assert threads == 1 and why is not None and "LSE atomics" in why
    assert cpu.safe_threads(1) == (1, None)
    monkeypatch.setattr(cpu, "hwcap", lambda: 0x8FB | 0x100)  # an ARMv8.1+ CPU
    assert cpu.safe_threads(2) == (2, None)
    monkeypatch.setattr(cpu, "is_arm64", lambda: False)
    monkeypatch.setattr(cpu, "hwcap", lambda: None)
    assert cpu.safe_threads(4) == (4, None)


def test_serving_imports_leave_out_what_is_never_run(tmp_path: Path) -> None:
    """pocket-tts comes in without scipy.signal and the compiler; resampling still works."""
    code = (
        "import sys\n"
        "import wyoming_tts.pocket.model\n"
        "heavy = [m for m in ('scipy.signal', 'torch._dynamo', 'sympy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import torch\n"
        "from pocket_tts.data.audio_utils import convert_audio\n"
        "assert convert_audio(torch.ones(1, 16000), 16000, 24000, 1).shape == (1, 24000)\n"
        "import scipy.signal\n"
        "assert hasattr(scipy.signal, 'butter')  # later imports get the real module\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
