"""`--model auto`: the largest model of a language that this CPU speaks fast enough.

Deciding needs no download: each candidate's full-size architecture is built with random
weights (the compute per frame is that of the real weights) and times one sentence, largest
first, until one is at least TARGET_REAL_TIME times faster than real time. The verdict is kept
in the data folder, keyed to the CPU, the int8 and thread settings and the package versions,
so later starts decide at once; only the chosen model is then downloaded.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from wyoming_tts.languages import LANGUAGES
from wyoming_tts.settings import ModelSpec

_LOGGER = logging.getLogger(__name__)

AUTO = "auto"
TARGET_REAL_TIME = 1.5
PROBE_TEXT = "The living room is at twenty one degrees, and all the windows are closed."
# Largest first. English has four sizes; the other languages a 24-layer model and a smaller one.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "en": ("english", "english_18m_2026-10", "english_7m_2026-10", "english_2m_2026-10"),
    **{
        code: (f"{language.model_prefix}_24l", language.model_prefix)
        for code, language in LANGUAGES.items()
        if code != "en"
    },
}

Probe = Callable[[str], float]  # model name -> times faster than real time


def cpu_name() -> str:
    """A stable description of this CPU: its model name, architecture and core count."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "CPU part") and value.strip():
                name = value.strip()
                break
    except OSError:
        pass
    return f"{name or platform.processor() or 'unknown'} / {platform.machine()} / {os.cpu_count()}"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def verdict_key(language: str, quantize: bool, threads: int) -> str:
    return (
        f"{language}|{cpu_name()}|int8={quantize}|threads={threads}"
        f"|pocket-tts={_version('pocket-tts')}|torch={_version('torch')}"
    )


def choose(language: str, probe: Probe, cache: Path, key: str) -> str:
    """The model for LANGUAGE: from the cached verdict for KEY, else timed with PROBE."""
    candidates = CANDIDATES[language]
    verdicts = _read(cache)
    cached = verdicts.get(key)
    if isinstance(cached, dict) and cached.get("model") in candidates:
        _LOGGER.info(
            "Model auto (%s): %s, as decided before on this CPU", language, cached["model"]
        )
        return str(cached["model"])
    timings: dict[str, float] = {}
    chosen = candidates[-1]
    for name in candidates:
        try:
            timings[name] = round(probe(name), 2)
        except Exception as err:  # a candidate that cannot run here is not chosen
            _LOGGER.warning("Model auto: could not time %s: %s", name, err)
            continue
        if timings[name] >= TARGET_REAL_TIME:
            chosen = name
            break
    _LOGGER.info(
        "Model auto (%s): %s, the largest at %.1fx real time or faster on %s (%s)",
        language,
        chosen,
        TARGET_REAL_TIME,
        cpu_name(),
        ", ".join(f"{n} {t:.1f}x" for n, t in timings.items()) or "none could be timed",
    )
    verdicts[key] = {"model": chosen, "real_time": timings, "decided": time.time()}
    _write(cache, verdicts)
    return chosen


def _read(cache: Path) -> dict[str, object]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(cache: Path, verdicts: dict[str, object]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial")
        partial.write_text(json.dumps(verdicts, indent=2, sort_keys=True), encoding="utf-8")
        partial.replace(cache)
    except OSError as err:
        _LOGGER.warning("Could not keep the model choice in %s: %s", cache, err)


def resolve(spec: ModelSpec, *, quantize: bool, threads: int, data_dir: Path) -> ModelSpec:
    """SPEC itself, or for `auto` the model chosen for its language on this CPU (blocking)."""
    if spec.source != AUTO:
        return spec
    name = choose(
        spec.language,
        random_weights_probe(quantize, threads),
        data_dir / "model-choice.json",
        verdict_key(spec.language, quantize, threads),
    )
    return replace(spec, source=name)


def random_weights_probe(quantize: bool, threads: int) -> Probe:
    """Time NAME's architecture with random weights on one sentence (blocking, seconds)."""

    def probe(name: str) -> float:
        import gc
        import threading

        from wyoming_tts import memory
        from wyoming_tts.pocket import model as pocket
        from wyoming_tts.pocket.random_model import random_weights_config, write_voice

        with tempfile.TemporaryDirectory(prefix="wyoming-tts-auto-") as folder:
            config = random_weights_config(name, Path(folder))
            loaded = pocket.load_model(
                ModelSpec(str(config), "en"), quantize=quantize, threads=threads
            )
            recording = Path(folder) / "voice.wav"
            write_voice(recording, seconds=3.0)
            voice = loaded.encode_audio(recording)
            best = 0.0
            for _ in range(2):  # the first run also warms up
                started = time.perf_counter()
                frames = loaded.generate(voice, PROBE_TEXT, threading.Event())
                samples = sum(len(frame) for frame in frames)
                seconds = time.perf_counter() - started
                best = max(best, samples / loaded.sample_rate / seconds)
            del loaded, voice
        gc.collect()
        memory.trim()
        return best

    return probe
