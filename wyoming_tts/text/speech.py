"""What the model speaks for one segment: normalised text, with pause markup as Silence.

A normaliser that raises, or runs past its time budget, never costs the request: that piece
is spoken as written, with one warning in the log.
"""

from __future__ import annotations

import logging
import re

from wyoming_tts.engine.synthesis import Silence
from wyoming_tts.text.cleanup import cleanup
from wyoming_tts.text.lang import words_for
from wyoming_tts.text.numbers import normalize_numbers

_LOGGER = logging.getLogger(__name__)

PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 10.0
BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75,
              "x-strong": 1.0}  # fmt: skip
# Possessive quantifiers: after "[pause" nothing is ever given back, so no input backtracks.
_PAUSE = re.compile(
    r"\[pause(?:[\s:=]++(?P<n>\d{1,6}+(?:\.\d{1,6}+)?+)\s*+(?P<unit>ms|s)?+)?+\s*+\]"
    r"|<break\b(?P<attrs>[^<>]{0,200}+)>",
    re.IGNORECASE,
)
_TIME_ATTR = re.compile(r"time\s*+=\s*+[\"']?+\s*+(\d{1,6}+(?:\.\d{1,6}+)?+)\s*+(ms|s)?", re.I)
_STRENGTH_ATTR = re.compile(r"strength\s*+=\s*+[\"']?+([\w-]{1,20}+)")


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
    spoken = _normalized(text, language) if normalize_text else " ".join(text.split())
    if any(c.isalnum() for c in spoken):
        parts.append(spoken)


def _normalized(text: str, language: str) -> str:
    try:
        return normalize(text, language)
    except Exception as err:  # any normaliser bug: speak the piece as written
        _LOGGER.warning(
            "Could not normalise %r (%s: %s); speaking it as written",
            text[:60],
            type(err).__name__,
            str(err)[:120],
        )
        return " ".join(text.split())


def _pause_seconds(match: re.Match[str]) -> float:
    if match["attrs"] is not None:
        attrs = match["attrs"]
        time_ = _TIME_ATTR.search(attrs)
        if time_:
            value = float(time_[1]) / (1000 if (time_[2] or "ms").lower() == "ms" else 1)
        else:
            strength = _STRENGTH_ATTR.search(attrs)
            value = BREAK_STRENGTHS.get(strength[1].lower(), PAUSE_SECONDS) if strength else 0.5
    elif match["n"] is not None:
        value = float(match["n"]) / (1000 if (match["unit"] or "s").lower() == "ms" else 1)
    else:
        value = PAUSE_SECONDS
    return min(max(value, 0.0), MAX_PAUSE_SECONDS)
