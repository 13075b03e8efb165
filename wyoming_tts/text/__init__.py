"""Text for speech: cleanup, numbers as words per language, pauses, streamed segments."""

from __future__ import annotations

import logging
import re

from wyoming_tts.engine import Silence
from wyoming_tts.text.cleanup import cleanup
from wyoming_tts.text.lang import words_for
from wyoming_tts.text.numbers import normalize_numbers
from wyoming_tts.text.split import SegmentSplitter, split_text

__all__ = ["PAUSE_SECONDS", "SegmentSplitter", "normalize", "speech_parts", "split_text"]

_LOGGER = logging.getLogger(__name__)

PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 10.0
_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75,
              "x-strong": 1.0}  # fmt: skip
_PAUSE = re.compile(
    r"\[pause(?:[\s:=]+(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)?)?\s*\]"
    r"|<break\b(?P<attrs>[^<>]*?)/?>",
    re.IGNORECASE,
)


def normalize(text: str, language: str) -> str:
    """Clean TEXT and spell its numbers, symbols and dates the way LANGUAGE says them."""
    words = words_for(language)
    return " ".join(normalize_numbers(cleanup(text, words), words).split())


def speech_parts(
    segment: str, language: str, *, normalize_text: bool = True
) -> list[str | Silence]:
    """What the model speaks for one segment: texts, with pause markup turned into Silence."""
    parts: list[str | Silence] = []
    position = 0
    for match in _PAUSE.finditer(segment):
        _add_text(parts, segment[position : match.start()], language, normalize_text)
        seconds = _pause_seconds(match)
        if seconds > 0:
            if parts and isinstance(parts[-1], Silence):
                seconds = min(parts[-1].seconds + seconds, MAX_PAUSE_SECONDS)
                parts[-1] = Silence(seconds)
            else:
                parts.append(Silence(seconds))
        position = match.end()
    _add_text(parts, segment[position:], language, normalize_text)
    if _LOGGER.isEnabledFor(logging.DEBUG):
        _LOGGER.debug("Text %r is spoken as %r", segment, parts)
    return parts


def _add_text(parts: list[str | Silence], text: str, language: str, normalize_text: bool) -> None:
    spoken = normalize(text, language) if normalize_text else " ".join(text.split())
    if any(c.isalnum() for c in spoken):
        parts.append(spoken)


def _pause_seconds(match: re.Match[str]) -> float:
    if match["attrs"] is not None:
        attrs = match["attrs"]
        time_ = re.search(r"time\s*=\s*[\"']?\s*(\d+(?:\.\d+)?)\s*(ms|s)?", attrs, re.IGNORECASE)
        if time_:
            value = float(time_[1]) / (1000 if (time_[2] or "ms").lower() == "ms" else 1)
        else:
            strength = re.search(r"strength\s*=\s*[\"']?([\w-]+)", attrs)
            value = _STRENGTHS.get(strength[1].lower(), PAUSE_SECONDS) if strength else 0.5
    elif match["n"] is not None:
        value = float(match["n"]) / (1000 if (match["unit"] or "s").lower() == "ms" else 1)
    else:
        value = PAUSE_SECONDS
    return min(max(value, 0.0), MAX_PAUSE_SECONDS)
