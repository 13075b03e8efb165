"""What the voice says: golden tables per language, pauses, and the normalize command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wyoming_tts.commands.normalize import spoken_segments
from wyoming_tts.engine.synthesis import Silence
from wyoming_tts.text import TextOptions, speech_parts

GOLDEN = Path(__file__).parent / "golden"
MINIMUM = {"en": 40, "de": 40, "fr": 40, "es": 15, "it": 15, "pt": 15, "nl": 15}


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for language in MINIMUM:
        for case in yaml.safe_load((GOLDEN / f"{language}.yaml").read_text(encoding="utf-8")):
            cases.append((language, case["text"], case["spoken"]))
    return cases


@pytest.mark.parametrize(("language", "text", "spoken"), _cases())
def test_golden(language: str, text: str, spoken: str) -> None:
    assert " ".join(spoken_segments(text, language, TextOptions())) == spoken


@pytest.mark.parametrize(("language", "minimum"), MINIMUM.items())
def test_golden_tables_are_large_enough(language: str, minimum: int) -> None:
    cases = yaml.safe_load((GOLDEN / f"{language}.yaml").read_text(encoding="utf-8"))
    assert len(cases) >= minimum


def test_pause_markup_becomes_silence_of_that_length() -> None:
    assert speech_parts('One <break time="250ms"/> two [pause 2s] three [pause]', "en") == [
        "One",
        Silence(0.25),
        "two",
        Silence(2.0),
        "three",
        Silence(0.5),
    ]
    assert speech_parts("[pause 99s] x", "en")[0] == Silence(10.0)  # capped
    assert speech_parts('<break strength="strong"/>', "en") == [Silence(0.75)]


def test_no_normalize_keeps_the_text_but_not_the_pause_markup() -> None:
    assert speech_parts("It is **21.5 °C** [pause] now", "en", normalize_text=False) == [
        "It is **21.5 °C**",
        Silence(0.5),
        "now",
    ]


def test_punctuation_only_is_not_sent_to_the_model() -> None:
    assert speech_parts("🎉 !!! ...", "en") == []


def test_normalize_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_tts", "normalize", "--language", "de", "Es sind 21,5 °C."],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == "Es sind einundzwanzig Komma fünf Grad Celsius."
    segments = subprocess.run(
        [sys.executable, "-m", "wyoming_tts", "normalize", "--segments"],
        input="Sure! The kitchen is at 21 °C, and the lights are on.\n\nAnything else?",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert segments.stdout.splitlines() == [
        "Sure! The kitchen is at twenty-one degrees Celsius,",
        "and the lights are on.",
        "[pause 0.5s]",
        "Anything else?",
    ]
