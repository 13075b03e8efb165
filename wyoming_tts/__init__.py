"""Wyoming text-to-speech server on Kyutai's Pocket TTS."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wyoming-tts")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
