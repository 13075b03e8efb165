"""What a user set on the voice page: each language's default voice, each voice's volume and rate.

Kept in one small JSON file in the data folder, so it survives restarts; written atomically.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

MIN_VOLUME = 0.1
MAX_VOLUME = 4.0
MIN_SPEED = 0.5  # the same range as --speed (wyoming_tts.audio)
MAX_SPEED = 2.0


class Preferences:
    """Default voices per language, a volume and a speech rate per voice, saved on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._default_voices: dict[str, str] = {}
        self._volumes: dict[str, float] = {}
        self._speeds: dict[str, float] = {}
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            _LOGGER.warning("Ignoring unreadable preferences %s: %s", self.path, err)
            return
        if not isinstance(data, dict):
            return
        defaults = data.get("default_voices", {})
        volumes = data.get("volumes", {})
        if isinstance(defaults, dict):
            self._default_voices = {
                str(k): str(v) for k, v in defaults.items() if isinstance(v, str)
            }
        self._volumes = _numbers(volumes, MIN_VOLUME, MAX_VOLUME)
        self._speeds = _numbers(data.get("speeds", {}), MIN_SPEED, MAX_SPEED)

    def _save(self) -> None:
        data = {
            "default_voices": self._default_voices,
            "volumes": self._volumes,
            "speeds": self._speeds,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        partial.replace(self.path)

    def default_voice(self, language: str) -> str | None:
        with self._lock:
            return self._default_voices.get(language)

    def set_default_voice(self, language: str, name: str) -> None:
        with self._lock:
            self._default_voices[language] = name
            self._save()

    def volume(self, name: str) -> float:
        return self._get(self._volumes, name)

    def set_volume(self, name: str, volume: float) -> None:
        self._set(self._volumes, name, volume)

    def speed(self, name: str) -> float:
        return self._get(self._speeds, name)

    def set_speed(self, name: str, speed: float) -> None:
        self._set(self._speeds, name, speed)

    def _get(self, table: dict[str, float], name: str) -> float:
        with self._lock:
            return table.get(name, 1.0)

    def _set(self, table: dict[str, float], name: str, value: float) -> None:
        """Keep VALUE for NAME in TABLE (1.0, the default, is not written) and save."""
        with self._lock:
            if value == 1.0:
                table.pop(name, None)
            else:
                table[name] = value
            self._save()

    def forget(self, name: str) -> None:
        """A voice was deleted: drop its volume, its rate and any default it was."""
        with self._lock:
            self._volumes.pop(name, None)
            self._speeds.pop(name, None)
            self._default_voices = {k: v for k, v in self._default_voices.items() if v != name}
            self._save()


def _numbers(values: object, low: float, high: float) -> dict[str, float]:
    if not isinstance(values, dict):
        return {}
    return {
        str(k): min(max(float(v), low), high)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
