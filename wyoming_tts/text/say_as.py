"""SSML `say-as`: a text read as letters, a number, digits, a date, a time or a telephone number.

Each reading gives plain words for the text path (which normalises them again, harmlessly).
A text that is not what `interpret-as` says is read as written. Every reading is linear in the
text's length, and numbers too long to say as one are read in digit groups.
"""

from __future__ import annotations

import re

from wyoming_tts.text.dates import date_words
from wyoming_tts.text.lang import Words, cardinal, ordinal, words_for, year
from wyoming_tts.text.numbers import MAX_NUMBER_DIGITS, digits, spell

_RUNS = re.compile(r"\d+")
_DATE_FORMATS = frozenset({"mdy", "dmy", "ymd", "ydm", "md", "dm", "ym", "my", "y", "m", "d"})


def say_as(text: str, interpret: str, date_format: str, language: str) -> str:
    """TEXT read the way INTERPRET (an SSML `interpret-as`) says, in LANGUAGE."""
    words = words_for(language)
    kind = interpret.lower()
    text = " ".join(text.split())
    if kind in ("characters", "spell-out", "verbatim", "letters"):
        return _characters(text, words)
    if kind == "digits":
        return digits(text, words) if any(c.isdigit() for c in text) else text
    if kind in ("cardinal", "number"):
        return spell(text, words) if _RUNS.search(text) else text
    if kind == "ordinal":
        run = "".join(c for c in text if c.isdigit())
        if run and len(run) <= MAX_NUMBER_DIGITS:
            return ordinal(int(run), words)
        return text
    if kind == "date":
        return _date(text, date_format.lower(), words) or text
    if kind == "telephone":
        return _telephone(text, words)
    return text  # "time" and the rest: the normaliser reads times and numbers already


def _characters(text: str, words: Words) -> str:
    said = [cardinal(int(c), words) if c.isdigit() else c.upper() for c in text if c.isalnum()]
    return " ".join(said)


def _date(text: str, date_format: str, words: Words) -> str | None:
    runs = [int(run) for run in _RUNS.findall(text)[:3] if len(run) <= 4]
    order = date_format if date_format in _DATE_FORMATS else words.date_order
    if len(runs) != len(order):
        order = {3: words.date_order, 2: order if len(order) == 2 else "md"}.get(len(runs), order)
        if len(runs) != len(order):
            return None
    parts = dict(zip(order, runs, strict=True))
    day, month, year_ = parts.get("d"), parts.get("m"), parts.get("y")
    if month is not None and not 1 <= month <= 12:
        return None
    if day is not None and month is not None:
        return date_words(day, month, year_, words)
    if month is not None:
        name = words.months[month - 1]
        return f"{name} {year(year_, words)}" if year_ is not None else name
    if year_ is not None:
        return year(year_, words)
    return cardinal(day, words) if day is not None else None


def _telephone(text: str, words: Words) -> str:
    groups = _RUNS.findall(text)  # each group as written, digit by digit, a pause between
    spoken = ", ".join(digits(group, words) for group in groups) if groups else text
    return f"{words.plus} {spoken}" if text.startswith("+") else spoken
