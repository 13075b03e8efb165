"""The models being served: loaded lazily, one worker each, the least recently used unloaded.

The registry behind the request door (`engine.front`): resolve a voice name to a catalogue
entry, give the worker of a language (loading its model), load a voice's state, build the
voice list. Loading a model, a voice state or scanning voice folders blocks: callers run them
in a thread, never on the event loop and never on a model's worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from wyoming_tts import memory
from wyoming_tts.engine.audio_cache import AudioCache
from wyoming_tts.engine.loudness import LoudnessBook
from wyoming_tts.engine.model import Model
from wyoming_tts.engine.scheduler import Worker
from wyoming_tts.engine.synthesis import Synthesis
from wyoming_tts.metrics import Metrics, Snapshot
from wyoming_tts.preferences import Preferences
from wyoming_tts.settings import ModelSpec, Settings
from wyoming_tts.voices import LanguageModel, StateModel, Voice, VoiceCatalog, VoiceStates

_LOGGER = logging.getLogger(__name__)


class LoadedModel(Model, StateModel, Protocol):
    """A model that speaks (engine.Model) and makes voice states (voices.StateModel)."""

    @property
    def can_clone(self) -> bool: ...


Loader = Callable[[ModelSpec], LoadedModel]


RECENT_REQUESTS = 20


@dataclass(frozen=True)
class RequestStats:
    """One finished request, as the voice page shows it."""

    label: str
    chars: int
    first_audio_ms: float
    audio_seconds: float
    real_time: float
    cancelled: bool
    finished: float
    cached: int = 0  # segments answered from the audio cache


class RecentRequests:
    """The figures of the last requests, for the voice page.

    Added from the worker threads, read from the event loop: one lock, and readers get a copy.
    """

    def __init__(self, size: int = RECENT_REQUESTS) -> None:
        self._items: deque[RequestStats] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, stats: RequestStats) -> None:
        with self._lock:
            self._items.append(stats)

    def newest_first(self) -> list[RequestStats]:
        with self._lock:
            return list(reversed(self._items))


class VoiceError(Exception):
    """No voice can speak a request; the message says what to do."""


class NotEnoughMemory(VoiceError):
    """A further model would not fit in the memory left; refused rather than be killed."""


# A further model is loaded only when this much more than the first one took is free.
MEMORY_MARGIN = 1.2


@dataclass(frozen=True)
class AudioFormat:
    rate: int
    width: int
    channels: int


class Models:
    """Every configured model, its worker when loaded, and the voices they speak."""

    def __init__(
        self,
        settings: Settings,
        loader: Loader,
        catalog_models: Sequence[LanguageModel],
        states: VoiceStates,
        default_voices: dict[str, str],
        preferences: Preferences | None = None,
        available_mb: Callable[[], float | None] = memory.available_mb,
    ) -> None:
        self.settings = settings
        self._loader = loader
        self._specs = {spec.language: spec for spec in reversed(settings.models)}
        self.primary = settings.models[0].language
        self.states = states
        self.loudness = LoudnessBook(
            states.cache_dir / "loudness.json", enabled=settings.loudness_match
        )
        self.audio_cache = AudioCache(
            settings.data_dir / "audio-cache", settings.audio_cache_mb * 1024 * 1024
        )
        self._default_voices = default_voices
        self.preferences = preferences
        self._available_mb = available_mb
        self.model_mb: float | None = None  # what loading the first model took
        self.recent = RecentRequests()
        self.metrics: Metrics | None = None  # set by the request door
        self.load_seconds: dict[str, float] = {}
        self._workers: dict[str, Worker] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()
        self.catalog = VoiceCatalog(catalog_models, settings.voices_dirs, self._can_clone)

    @property
    def loaded(self) -> list[str]:
        return list(self._workers)

    def _can_clone(self, language: str) -> bool:
        worker = self._workers.get(language)
        return True if worker is None else bool(getattr(worker.model, "can_clone", True))

    # -- voices ---------------------------------------------------------------------------
    async def refresh_voices(self) -> list[Voice]:
        """Rescan voice folders off the event loop and return the catalogue."""
        return await asyncio.to_thread(self.catalog.refresh)

    def default_voice(self, language: str | None = None) -> Voice:
        language = language or self.primary
        chosen = self.preferences.default_voice(language) if self.preferences else None
        preferred = (
            chosen
            or self.settings.default_voice_for(language)
            or self._default_voices.get(language)
        )
        voice = self.catalog.default_voice(language, preferred)
        if voice is None:
            raise VoiceError(
                f"No voice for language {language!r}: put an audio file or a .safetensors "
                "voice in --voices-dir, or use a model that has built-in voices."
            )
        if preferred and voice.name not in (preferred, f"{preferred}-{language}"):
            _LOGGER.warning("Voice %r not found; using %r instead", preferred, voice.name)
        return voice

    def served_language(self, language: str | None) -> str | None:
        """LANGUAGE ("de", "de-DE", "de_DE") when a model speaks it, else None."""
        if not language:
            return None
        code = language.replace("_", "-").split("-")[0].strip().lower()
        return code if code in self._specs else None

    def language_of(self, name: str | None, language: str | None = None) -> str:
        """The language of voice NAME (cheap: no rescan), else LANGUAGE, else the primary one."""
        voice = self.catalog.get(name) if name else None
        if voice is not None:
            return voice.language
        return self.served_language(language) or self.primary

    async def resolve(self, name: str | None, language: str | None = None) -> Voice:
        """The voice named NAME; else LANGUAGE's default voice; else the default voice.

        A name always wins over a language; an unknown name or language falls back with a
        warning, as Home Assistant does not check either.
        """
        if name:
            voice = self.catalog.get(name)
            if voice is None:  # maybe added since the last Describe
                await self.refresh_voices()
                voice = self.catalog.get(name)
            if voice is not None:
                return voice
            _LOGGER.warning("Unknown voice %r requested; using the default voice", name[:80])
        if language and self.served_language(language) is None:
            _LOGGER.warning("No model speaks language %r; using the default voice", language[:20])
        return self.default_voice(self.language_of(None, language))

    # -- voice states -----------------------------------------------------------------------
    def pinned(self, voice: Voice) -> bool:
        """True for a language's default voice, whose state is never evicted."""
        return voice == self.default_voice(voice.language)

    def cached_state(self, voice: Voice, worker: Worker) -> object | None:
        """VOICE's state for WORKER's model when it is in memory (cheap)."""
        return self.states.cached(voice, worker.model, pin=self.pinned(voice))  # type: ignore[arg-type]

    def voice_state(self, voice: Voice, worker: Worker) -> tuple[Voice, object]:
        """VOICE and its state (blocking: loads or encodes); the default voice if VOICE is
        broken."""
        try:
            state = self.states.get(voice, worker.model, pin=self.pinned(voice))  # type: ignore[arg-type]
            return voice, state
        except Exception as err:
            if voice.kind == "builtin":
                raise VoiceError(f"Voice {voice.name!r} could not be loaded: {err}") from err
            self.catalog.mark_broken(voice.source, voice.stamp, str(err))
            self.catalog.refresh()
            fallback = self.default_voice(voice.language)
            if fallback == voice:
                raise VoiceError(f"Voice {voice.name!r} could not be loaded: {err}") from err
            _LOGGER.warning("Using voice %r instead of the broken %r", fallback.name, voice.name)
            state = self.states.get(fallback, worker.model, pin=True)  # type: ignore[arg-type]
            return fallback, state

    def volume(self, voice: Voice) -> float:
        """The volume the user set for VOICE on the voice page (1.0 when none)."""
        return self.preferences.volume(voice.name) if self.preferences else 1.0

    def speed(self, voice: Voice) -> float:
        """The speech rate the user set for VOICE on the voice page (1.0 when none)."""
        return self.preferences.speed(voice.name) if self.preferences else 1.0

    def format_of(self, worker: Worker) -> AudioFormat:
        return AudioFormat(rate=worker.model.sample_rate, width=2, channels=1)

    def touch(self, language: str) -> None:
        """LANGUAGE's model was just used (the least recently used is unloaded first)."""
        self._used[language] = time.monotonic()

    def loaded_worker(self, language: str) -> Worker | None:
        """The worker of LANGUAGE's model when it is loaded (cheap: no thread needed)."""
        return self._workers.get(language)

    def worker(self, language: str) -> Worker:
        """The worker of LANGUAGE's model, loading the model now if needed (blocking)."""
        with self._lock:
            worker = self._workers.get(language)
            if worker is not None:
                return worker
            spec = self._specs[language]
            self._unload_if_full()
            if self._workers:
                self._check_memory(language)
            started = time.monotonic()
            before = memory.rss_mb()
            model = self._loader(spec)
            if self.model_mb is None:
                self.model_mb = max(memory.rss_mb() - before, 0.0)
            self.load_seconds[language] = time.monotonic() - started
            _LOGGER.info(
                "Loaded model %s (%s) in %.1f s", spec.source, language, self.load_seconds[language]
            )
            worker = Worker(
                language,
                model,
                max_queue=self.settings.max_queue,
                max_batch=self.settings.max_batch,
                samples_per_chunk=self.settings.samples_per_chunk,
                volume=self.settings.volume,
                on_finish=partial(self._record, language),
                cache=self.audio_cache,
            )
            self._workers[language] = worker
            self._used[language] = time.monotonic()
        self.catalog.refresh()  # cloning may be unavailable with these weights
        if not getattr(model, "can_clone", True):
            _LOGGER.warning(
                "Model %s has no voice-cloning weights, so audio voice files are not listed. "
                "Accept the terms at https://huggingface.co/kyutai/pocket-tts and set HF_TOKEN "
                "to use them; built-in and .safetensors voices work as they are.",
                spec.source,
            )
        return worker

    def _check_memory(self, language: str) -> None:
        """Refuse a further model that would not fit (the container's limit included)."""
        need = self.model_mb
        free = self._available_mb()
        if not need or free is None or free >= need * MEMORY_MARGIN:
            return
        raise NotEnoughMemory(
            f"Not enough memory for the {language} model: it needs about {need:.0f} MB and "
            f"{free:.0f} MB are free. Free some memory, raise the container's memory limit, or "
            "set --max-models 1 so that models take turns."
        )

    def _unload_if_full(self) -> None:
        """Unload idle models, least recently used first, until one more fits (lock held)."""
        others = [lang for lang in self._workers if lang != self.primary]
        for lang in sorted(others, key=lambda lang: self._used.get(lang, 0.0)):
            if len(self._workers) < self.settings.max_models:
                return
            # Atomic with Worker.submit: a request that got this worker a moment ago is
            # either admitted (and the model stays) or refused with WorkerClosed (and retried).
            if self._workers[lang].close_if_idle():
                del self._workers[lang]
                _LOGGER.info("Unloaded the %s model (least recently used)", lang)

    def _record(self, language: str, synthesis: Synthesis) -> None:
        """Keep the figures of the last requests, for the voice page (worker thread)."""
        stats = synthesis.stats
        if synthesis.internal:  # the warm-up, a voice's calibration
            return
        worker = self._workers.get(language)
        rate = worker.model.sample_rate if worker is not None else 24000
        audio = stats.samples / rate
        ready = max(stats.text_ready or stats.submitted, stats.submitted)
        if self.metrics is not None:
            outcome = "failed" if synthesis.failed else "cancelled" if stats.cancelled else "spoken"
            if outcome == "spoken" and stats.cached and stats.cached == stats.segments:
                outcome = "cached"
            self.metrics.finished(
                synthesis.door or "other",
                synthesis.voice_name,
                outcome,
                None if stats.first_audio is None else stats.first_audio - ready,
                audio / stats.busy_seconds if stats.busy_seconds else None,
                (stats.started or stats.submitted) - stats.submitted,
            )
        if stats.first_audio is None:
            return
        self.recent.add(
            RequestStats(
                label=synthesis.label,
                chars=stats.chars,
                first_audio_ms=round((stats.first_audio - ready) * 1000, 1),
                audio_seconds=round(audio, 2),
                real_time=round(audio / stats.busy_seconds, 2) if stats.busy_seconds else 0.0,
                cancelled=stats.cancelled,
                finished=time.time(),
                cached=stats.cached,
            )
        )

    def snapshot(self) -> Snapshot:
        """What the metrics read at scrape time (cheap; any thread)."""
        workers = list(self._workers.values())
        return Snapshot(
            rows=sum(w.rows for w in workers),
            active=sum(w.queued for w in workers),
            voice_hits=self.states.hits,
            voice_misses=self.states.misses,
            voice_encodings=self.states.encodings,
            resident_bytes=memory.rss_mb() * 1024 * 1024,
            model_load_seconds=dict(self.load_seconds),
        )

    def close(self) -> None:
        """Cancel all work and end the worker threads."""
        for worker in list(self._workers.values()):
            worker.close()
        self._workers.clear()
        self.states.close()
