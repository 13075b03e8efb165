"""Each voice's loudness gain: measured once when its state is made, then kept on disk.

A quietly recorded voice speaks quietly; so the first time a voice state is ready for a model,
the request door has the model speak `CALIBRATION_TEXT` with it (through the worker, like any
request), measures the integrated loudness and keeps the gain that brings it to
`TARGET_LUFS`. The gains live in one small JSON file beside the voice-state cache, keyed by
model, voice file and its stamp, so an edited file is measured again. Nothing here knows of
Wyoming, HTTP or torch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from wyoming_tts.audio.loudness import loudness_gain
from wyoming_tts.voices import Voice

_LOGGER = logging.getLogger(__name__)


def gain_key(voice: Voice, model_id: str) -> str:
    return f"{model_id}|{voice.kind}|{voice.source}|{voice.stamp[0]}:{voice.stamp[1]}"


class LoudnessBook:
    """Gains per voice and model, in memory and in one JSON file (written atomically)."""

    def __init__(self, path: Path | None, *, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled
        self.calibrations = 0  # how many voices were measured (tests and logs read it)
        self._lock = threading.Lock()
        self._gains: dict[str, float] = self._read()
        self._pending: dict[str, asyncio.Future[float]] = {}  # the loop only

    def known(self, voice: Voice, model_id: str) -> float | None:
        """VOICE's gain on MODEL_ID when measured (1.0 when matching is off)."""
        if not self.enabled:
            return 1.0
        with self._lock:
            return self._gains.get(gain_key(voice, model_id))

    async def gain(
        self,
        voice: Voice,
        model_id: str,
        sample_rate: int,
        speak: Callable[[], Awaitable[np.ndarray]],
    ) -> float:
        """VOICE's gain, measured now with SPEAK (the calibration sentence's samples) when
        unknown. Asked twice at once, it is measured once."""
        known = self.known(voice, model_id)
        if known is not None:
            return known
        key = gain_key(voice, model_id)
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            samples = await speak()
            gain = await asyncio.to_thread(loudness_gain, samples, sample_rate)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # nobody else may be waiting: the error is not "never retrieved"
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(gain)
        self.calibrations += 1
        _LOGGER.info("Voice %s: loudness gain %.2f (%+.1f dB)", voice.name, gain, _db(gain))
        await asyncio.to_thread(self._store, key, gain)
        return gain

    def forget(self, source: str) -> None:
        """A voice file is deleted: drop its gains."""
        with self._lock:
            keys = [k for k in self._gains if k.split("|")[2] == source]
            for key in keys:
                del self._gains[key]
            if keys:
                self._write()

    def _store(self, key: str, gain: float) -> None:
        with self._lock:
            self._gains[key] = gain
            self._write()

    def _read(self) -> dict[str, float]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            _LOGGER.warning("Ignoring unreadable loudness gains %s: %s", self.path, err)
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(k): float(v)
            for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 0.01 <= v <= 100
        }

    def _write(self) -> None:  # the lock held
        if self.path is None:
            return
        partial = self.path.with_suffix(".partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(self._gains, indent=1, sort_keys=True), encoding="utf-8")
            partial.replace(self.path)
        except OSError as err:  # a full or read-only disk: the gains still hold in memory
            _LOGGER.warning("Could not keep loudness gains in %s: %s", self.path, err)


def _db(gain: float) -> float:
    return float(20 * np.log10(max(gain, 1e-9)))
