"""The models being served: loaded lazily, one worker each, the least recently used unloaded.

This is the engine's front door for the handler: resolve a voice name to a catalogue entry,
start a synthesis on the right model, build the voice list. Loading a model or scanning voice
folders blocks, so the async methods run them in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wyoming_tts.engine import Model, Synthesis, Worker
from wyoming_tts.settings import ModelSpec, Settings
from wyoming_tts.voices import LanguageModel, StateModel, Voice, VoiceCatalog, VoiceStates

_LOGGER = logging.getLogger(__name__)


class LoadedModel(Model, StateModel, Protocol):
    """A model that speaks (engine.Model) and makes voice states (voices.StateModel)."""

    can_clone: bool


Loader = Callable[[ModelSpec], LoadedModel]


class VoiceError(Exception):
    """No voice can speak a request; the message says what to do."""


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
    ) -> None:
        self.settings = settings
        self._loader = loader
        self._specs = {spec.language: spec for spec in reversed(settings.models)}
        self.primary = settings.models[0].language
        self.states = states
        self._default_voices = default_voices
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
        preferred = self.settings.default_voice_for(language) or self._default_voices.get(language)
        voice = self.catalog.default_voice(language, preferred)
        if voice is None:
            raise VoiceError(
                f"No voice for language {language!r}: put an audio file or a .safetensors "
                "voice in --voices-dir, or use a model that has built-in voices."
            )
        if preferred and voice.name not in (preferred, f"{preferred}-{language}"):
            _LOGGER.warning("Voice %r not found; using %r instead", preferred, voice.name)
        return voice

    def language_of(self, name: str | None) -> str:
        """The language of voice NAME (cheap: no rescan), else of the default voice."""
        voice = self.catalog.get(name) if name else None
        return voice.language if voice is not None else self.primary

    async def resolve(self, name: str | None) -> Voice:
        """The catalogue entry named NAME, else the default voice (with a warning)."""
        if name:
            voice = self.catalog.get(name)
            if voice is None:  # maybe added since the last Describe
                await self.refresh_voices()
                voice = self.catalog.get(name)
            if voice is not None:
                return voice
            _LOGGER.warning("Unknown voice %r requested; using the default voice", name[:80])
        return self.default_voice()

    # -- synthesis ------------------------------------------------------------------------
    async def start(self, synthesis: Synthesis, voice: Voice) -> AudioFormat:
        """Queue SYNTHESIS on VOICE's model (loading it first if needed); return its format."""
        worker = self._workers.get(voice.language)
        if worker is None:
            worker = await asyncio.to_thread(self.worker, voice.language)
        self._used[voice.language] = time.monotonic()
        pin = voice == self.default_voice(voice.language)
        worker.submit(synthesis, lambda: self._voice_state(voice, worker, pin))
        return AudioFormat(rate=worker.model.sample_rate, width=2, channels=1)

    def _voice_state(self, voice: Voice, worker: Worker, pin: bool) -> object:
        """The state of VOICE (in the worker thread); the default voice if VOICE is broken."""
        try:
            return self.states.get(voice, worker.model, pin=pin)  # type: ignore[arg-type]
        except Exception as err:
            if voice.kind == "builtin":
                raise VoiceError(f"Voice {voice.name!r} could not be loaded: {err}") from err
            self.catalog.mark_broken(voice.source, voice.stamp, str(err))
            self.catalog.refresh()
            fallback = self.default_voice(voice.language)
            if fallback == voice:
                raise VoiceError(f"Voice {voice.name!r} could not be loaded: {err}") from err
            _LOGGER.warning("Using voice %r instead of the broken %r", fallback.name, voice.name)
            return self.states.get(fallback, worker.model, pin=True)  # type: ignore[arg-type]

    def worker(self, language: str) -> Worker:
        """The worker of LANGUAGE's model, loading the model now if needed (blocking)."""
        with self._lock:
            worker = self._workers.get(language)
            if worker is not None:
                return worker
            spec = self._specs[language]
            self._unload_if_full()
            started = time.monotonic()
            model = self._loader(spec)
            _LOGGER.info(
                "Loaded model %s (%s) in %.1f s", spec.source, language, time.monotonic() - started
            )
            worker = Worker(
                language,
                model,
                max_queue=self.settings.max_queue,
                samples_per_chunk=self.settings.samples_per_chunk,
                volume=self.settings.volume,
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

    def _unload_if_full(self) -> None:
        idle = [
            lang
            for lang, worker in self._workers.items()
            if lang != self.primary and not worker.busy and worker.queued == 0
        ]
        while len(self._workers) >= self.settings.max_models and idle:
            oldest = min(idle, key=lambda lang: self._used.get(lang, 0.0))
            idle.remove(oldest)
            self._workers.pop(oldest).close()
            _LOGGER.info("Unloaded the %s model (least recently used)", oldest)

    async def warm_up(self, language: str | None = None) -> None:
        """Load LANGUAGE's model and default voice, and speak one short sentence."""
        language = language or self.primary
        await asyncio.to_thread(self.worker, language)
        voice = self.default_voice(language)
        synthesis = Synthesis("warm-up", asyncio.get_running_loop())
        await self.start(synthesis, voice)
        synthesis.feed("Hello.")
        synthesis.close()
        async for _chunk in synthesis.audio():
            pass

    def close(self) -> None:
        """Cancel all work and end the worker threads."""
        for worker in list(self._workers.values()):
            worker.close()
        self._workers.clear()
