"""Dates and times as words, per language: 2026-11-22, 22.11.2026, 7:30 PM, 19h45."""

from __future__ import annotations

import re

from wyoming_tts.text.lang import Words, cardinal, ordinal, year

_ISO = re.compile(r"(?<![\w.-])(\d{4})-(\d{1,2}+)-(\d{1,2}+)(?![\w-])")
_WRITTEN = re.compile(r"(?<![\w.,/-])(\d{1,2}+)([./-])(\d{1,2}+)\2(\d{4})(?![\w/-])")
_TIME = re.compile(
    r"(?<![\w:.,])([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?(?![\w:]|[.,]\d)"
    r"(?:\s*+([AaPp])(?:\.\s?[Mm]\.|\s?[Mm]\b)|\s*+(?:Uhr|uur|heures?|horas?)\b)?"
)
_HOUR_EN = re.compile(r"(?<![\w:.,])(1[0-2]|0?[1-9])\s?([AaPp])(?:\.\s?[Mm]\.|\s?[Mm]\b)")
_HOUR_FR = re.compile(r"(?<![\w.,])([01]?\d|2[0-3])\s?h\s?([0-5]\d)?(?!\w)")


def dates_and_times(text: str, words: Words) -> str:
    """Replace dates, then times, in TEXT."""
    return times(written_dates(iso_dates(text, words), words), words)


def date_words(day: int, month: int, year_: int | None, words: Words) -> str | None:
    """A date as LANGUAGE says it, None when it is no date."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    name = words.months[month - 1]
    said_year = year(year_, words) if year_ is not None else ""
    code = words.code
    if code == "en":
        text = f"{name} {ordinal(day, words)}" + (f", {said_year}" if said_year else "")
    elif code in ("es", "pt"):
        text = f"{cardinal(day, words)} de {name}" + (f" de {said_year}" if said_year else "")
    else:
        if code == "de":
            day_words = ordinal(day, words)
        elif code == "fr" and day == 1:
            day_words = "premier"
        elif code == "it" and day == 1:
            day_words = "primo"
        else:
            day_words = cardinal(day, words)
        text = f"{day_words} {name} {said_year}".strip()
    return text


def iso_dates(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        return date_words(int(m[3]), int(m[2]), int(m[1]), words) or m[0]

    return _ISO.sub(repl, text)


def written_dates(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        first, second, year_ = int(m[1]), int(m[3]), int(m[4])
        if words.date_order == "mdy" and first <= 12:
            first, second = second, first
        return date_words(first, second, year_, words) or m[0]

    return _WRITTEN.sub(repl, text)


def _hour(value: int, words: Words) -> str:
    spoken = cardinal(value, words)
    feminine = {"fr": ("un", "une"), "es": ("uno", "una"), "it": ("uno", "una"),
                "pt": ("um", "uma"), "de": ("eins", "ein")}  # fmt: skip
    if words.code in feminine and spoken.endswith(feminine[words.code][0]):
        spoken = spoken[: -len(feminine[words.code][0])] + feminine[words.code][1]
    if words.code == "pt" and spoken.endswith("dois"):
        spoken = spoken[:-4] + "duas"
    return spoken


def _time(hour: int, minute: int, suffix: str, words: Words) -> str:
    said_hour = _hour(hour, words)
    said_minute = cardinal(minute, words)
    code = words.code
    if code == "en":
        if minute == 0:
            tail = suffix or ("hundred" if hour > 12 else words.oclock)
            text = f"{said_hour} {tail}"
        else:
            mins = f"oh {said_minute}" if minute < 10 else said_minute
            text = f"{said_hour} {mins}" + (f" {suffix}" if suffix else "")
        return text
    hour_word = words.hours[0 if hour == 1 else 1]
    if hour_word:
        text = f"{said_hour} {hour_word}" + (f" {said_minute}" if minute else "")
        if code == "pt" and minute:
            text = f"{said_hour} {hour_word} e {said_minute}"
    elif minute == 0:
        text = f"{said_hour} {words.oclock}"
    else:
        text = f"{said_hour} {words.and_} {said_minute}"
    return text + (f" {suffix}" if suffix else "")


def times(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        hour, minute = int(m[1]), int(m[2])
        suffix = f"{m[3].upper()} M" if m[3] else ""
        if suffix and hour > 12:
            return m[0]
        return _time(hour, minute, suffix, words)

    text = _TIME.sub(repl, text)
    if words.code == "en":  # 7 pm, 7 p.m.
        text = _HOUR_EN.sub(lambda m: _time(int(m[1]), 0, f"{m[2].upper()} M", words), text)
    if words.code == "fr":  # 19h45, 7 h
        text = _HOUR_FR.sub(lambda m: _time(int(m[1]), int(m[2] or 0), "", words), text)
    return text
