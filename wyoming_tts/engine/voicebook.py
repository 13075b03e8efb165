"""The one owner of voices for the doors: the catalogue, the default voice of each language,
what the user tuned (volume, default) and the voice states, behind one interface.

The voice page, Describe and any HTTP door list, add, tune and delete voices here and never
reach into the registry's parts. Everything that blocks (scanning folders, writing files,
encoding a voice) runs in a thread; encoding goes to the voice states' encoder thread, so it
never stalls a model that is speaking.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from wyoming_tts.engine.models import Models, RequestStats
from wyoming_tts.voices import Voice

_LOGGER = logging.getLogger(__name__)


class VoiceRejected(Exception):
    """A voice could not be added, tuned or deleted; the message says what to do."""


class VoiceBook:
    """Voices as the doors see them."""

    def __init__(self, models: Models) -> None:
        self._models = models

    @property
    def primary(self) -> str:
        """The language of the first model (a voice added without a language gets it)."""
        return self._models.primary

    def ready(self) -> bool:
        """True when the default model is loaded (it is warmed up before any port opens)."""
        return self.primary in self._models.loaded

    def languages(self) -> list[str]:
        return sorted({spec.language for spec in self._models.settings.models})

    def served_language(self, language: str | None) -> str:
        """LANGUAGE when a model speaks it, else the primary language."""
        return self._models.served_language(language) or self.primary

    async def voices(self) -> list[Voice]:
        """Every voice, the folders rescanned (off the loop)."""
        return await self._models.refresh_voices()

    async def find(self, name: str) -> Voice | None:
        await self.voices()
        return self._models.catalog.get(name)

    def is_default(self, voice: Voice) -> bool:
        return self._models.default_voice(voice.language).name == voice.name

    def volume(self, voice: Voice) -> float:
        return self._models.volume(voice)

    def speed(self, voice: Voice) -> float:
        return self._models.speed(voice)

    def recent(self) -> list[RequestStats]:
        """The figures of the last requests, newest first."""
        return self._models.recent.newest_first()

    async def set_volume(self, voice: Voice, volume: float) -> None:
        preferences = self._models.preferences
        if preferences is None:
            raise VoiceRejected("This server keeps no voice settings.")
        await asyncio.to_thread(preferences.set_volume, voice.name, volume)

    async def set_speed(self, voice: Voice, speed: float) -> None:
        preferences = self._models.preferences
        if preferences is None:
            raise VoiceRejected("This server keeps no voice settings.")
        await asyncio.to_thread(preferences.set_speed, voice.name, speed)

    async def make_default(self, voice: Voice) -> None:
        preferences = self._models.preferences
        if preferences is None:
            raise VoiceRejected("This server keeps no voice settings.")
        await asyncio.to_thread(preferences.set_default_voice, voice.language, voice.name)

    async def add(self, folder: Path, name: str, language: str, wav: bytes) -> Voice:
        """Store WAV as voice NAME of LANGUAGE under FOLDER and encode it once; on failure
        nothing is left behind."""
        return await asyncio.to_thread(self._add, folder, name, language, wav)

    def _add(self, folder: Path, name: str, language: str, wav: bytes) -> Voice:
        models = self._models
        folder = folder if language == models.primary else folder / language
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.wav"
        if path.exists():
            raise VoiceRejected(f"A voice named {name!r} exists already; pick another name.")
        partial = folder / f".{name}.uploading"
        partial.write_bytes(wav)
        partial.replace(path)
        try:
            models.catalog.refresh()
            voice = models.catalog.get(name)
            if voice is None or voice.path != path:
                raise VoiceRejected("The recording could not be used as a voice; try another.")
            worker = models.worker(language)
            models.states.get(voice, worker.model)  # type: ignore[arg-type]
        except VoiceRejected:
            path.unlink(missing_ok=True)
            models.catalog.refresh()
            raise
        except Exception as err:
            _LOGGER.warning("Could not encode the uploaded voice %s: %s", name, err)
            path.unlink(missing_ok=True)
            models.catalog.refresh()
            raise VoiceRejected(f"The recording could not be made into a voice: {err}") from err
        _LOGGER.info("Added voice %s (%s)", name, language)
        return voice

    async def delete(self, voice: Voice) -> None:
        """Delete a custom VOICE: its file, its cached states and its settings."""
        if voice.kind == "builtin" or voice.path is None:
            raise VoiceRejected(f"{voice.name!r} is a built-in voice; only your own voices can go.")
        await asyncio.to_thread(self._delete, voice)

    def _delete(self, voice: Voice) -> None:
        assert voice.path is not None
        models = self._models
        models.states.forget(voice.source)
        models.loudness.forget(voice.source)
        models.audio_cache.forget_voice(voice.source)
        voice.path.unlink(missing_ok=True)
        if models.preferences is not None:
            models.preferences.forget(voice.name)
        models.catalog.refresh()
        _LOGGER.info("Deleted voice %s", voice.name)
