"""The values SSML attributes carry: break times and strengths, prosody rates and volumes.

Each is read by a pattern bounded by construction (possessive, of fixed length) from an
attribute already capped at the tag's length; a value not understood changes nothing.
"""

from __future__ import annotations

import re

from wyoming_tts.text.speech import BREAK_STRENGTHS, MAX_PAUSE_SECONDS, PAUSE_SECONDS

_RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25,
          "x-fast": 1.6}  # fmt: skip
_VOLUMES_DB = {"silent": -96.0, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0,
               "loud": 6.0, "x-loud": 10.0}  # fmt: skip
_DURATION = re.compile(r"\s*+(\d{1,6}+(?:\.\d{1,6}+)?+)\s*+(ms|s)?\s*+", re.IGNORECASE)
_PERCENT = re.compile(r"\s*+([+-]?+)(\d{1,4}+(?:\.\d{1,4}+)?+)\s*+(%?+)\s*+")
_DECIBELS = re.compile(r"\s*+([+-]?+\d{1,3}+(?:\.\d{1,3}+)?+)\s*+dB\s*+", re.IGNORECASE)


def break_seconds(attrs: dict[str, str]) -> float:
    if "time" in attrs:
        match = _DURATION.fullmatch(attrs["time"][:40])
        if match is None:
            return PAUSE_SECONDS
        value = float(match[1]) / (1 if (match[2] or "ms").lower() == "s" else 1000)
    else:
        value = BREAK_STRENGTHS.get(attrs.get("strength", "medium").strip().lower(), PAUSE_SECONDS)
    return min(max(value, 0.0), MAX_PAUSE_SECONDS)


def rate_factor(value: str | None) -> float:
    """An SSML rate ("slow", "80%", "+20%", "1.2") as a factor; 1.0 when not understood."""
    if not value:
        return 1.0
    value = value.strip().lower()[:20]
    if value in _RATES:
        return _RATES[value]
    match = _PERCENT.fullmatch(value)
    if match is None:
        return 1.0
    number = float(match[2])
    if match[3]:  # a percentage: of the normal rate, or a change of it when signed
        number = 1 + (-1 if match[1] == "-" else 1) * number / 100 if match[1] else number / 100
    elif match[1] == "-":
        return 1.0
    return number if number > 0 else 1.0


def volume_gain(value: str | None) -> float:
    """An SSML volume ("loud", "+6dB", "50") as a gain; 1.0 when not understood."""
    if not value:
        return 1.0
    value = value.strip().lower()[:20]
    if value in _VOLUMES_DB:
        db = _VOLUMES_DB[value]
        return 0.0 if db <= -96 else float(10 ** (db / 20))
    match = _DECIBELS.fullmatch(value)
    if match is not None:
        return float(10 ** (max(-40.0, min(12.0, float(match[1]))) / 20))
    match = _PERCENT.fullmatch(value)
    if match is not None and not match[1]:  # SSML 1.0's 0-100 scale, 100 the loudest
        return min(float(match[2]), 100.0) / 100
    return 1.0
