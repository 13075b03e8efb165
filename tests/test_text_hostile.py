"""Hostile text: every pattern is linear, every normaliser falls back, every segment is bounded.

Each input here took seconds to days on the first round's patterns ("+1" and 40 digits sent
the phone pattern into exponential backtracking). The guards are generous on purpose: a
linear pattern takes milliseconds on 10,000 characters, a backtracking one takes far longer.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator
from types import ModuleType

import pytest
import regex
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from wyoming_tts.engine.synthesis import Silence
from wyoming_tts.text import (
    MAX_SEGMENT_CHARS,
    TextPipeline,
    TextTooLong,
    cleanup,
    dates,
    lang,
    numbers,
    pipeline,
    prepare_text,
    say_as,
    speech,
    split,
    ssml,
    ssml_values,
)
from wyoming_tts.text.lang import words_for

GUARD_SECONDS = 1.0
SIZE = 10_000
_MODULES: tuple[ModuleType, ...] = (
    cleanup, dates, lang, numbers, pipeline, speech, split, ssml, ssml_values, say_as
)  # fmt: skip


def _patterns(value: object, seen: set[int]) -> Iterator[re.Pattern[str] | regex.Pattern[str]]:
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (re.Pattern, regex.Pattern)):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _patterns(item, seen)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _patterns(item, seen)


def all_patterns() -> list[tuple[str, re.Pattern[str] | regex.Pattern[str]]]:
    found: list[tuple[str, re.Pattern[str] | regex.Pattern[str]]] = []
    seen: set[int] = set()
    for module in _MODULES:
        for name, value in vars(module).items():
            for pattern in _patterns(value, seen):
                found.append((f"{module.__name__.rsplit('.', 1)[-1]}.{name}", pattern))
    return found


def hostile_inputs() -> dict[str, str]:
    """Runs of one shape, each SIZE characters, most ending in a character that spoils a match."""
    units = {
        "digits": "1",
        "digits-commas": "1,",
        "digits-dots": "1.",
        "digit-groups": "123,",
        "digits-spaces": "1 ",
        "digits-dashes": "1-",
        "phone": "+1",
        "phone-parens": "(1)",
        "parens": "(",
        "brackets": "[",
        "link-open": "[a](",
        "angle": "<",
        "break-tag": "<break ",
        "pause": "[pause 5 ",
        "stars": "*",
        "star-words": "*a",
        "bold": "**a ",
        "underscores": "_a",
        "tildes": "~",
        "backticks": "`",
        "dots": ".",
        "bangs": "!?",
        "commas": ", ",
        "colons": ":",
        "dashes": " -- ",
        "spaces": " ",
        "newlines": "\n",
        "letters": "a",
        "at": "a@",
        "host": "a.",
        "url": "http://a",
        "time": "1:",
        "date": "1/1/",
        "version": "v1.",
        "money": "$1",
        "units": "1 k",
        "dative": "am ",
        "hash": "#",
        "emoji": "😀",
        "rtl-zero-width": "\u200f\u200b",
    }
    out = {}
    for name, unit in units.items():
        body = (unit * (SIZE // len(unit) + 1))[: SIZE - 1]
        out[name] = body + "x"
        out[name + "-end"] = body + "!"
    return out


def test_every_pattern_of_the_text_package_is_found() -> None:
    names = {name for name, _ in all_patterns()}
    assert len(names) > 50
    assert {"numbers._PHONE_INTL", "split._SPACES", "speech._PAUSE", "cleanup._BOLD"} <= names


@pytest.mark.parametrize(("name", "pattern"), all_patterns(), ids=lambda v: str(v)[:40])
def test_pattern_is_linear_on_hostile_input(name: str, pattern: re.Pattern[str]) -> None:
    for label, text in hostile_inputs().items():
        started = time.monotonic()
        for _match in pattern.finditer(text):
            pass
        elapsed = time.monotonic() - started
        assert elapsed < GUARD_SECONDS, f"{name} took {elapsed:.2f} s on {label}"


def test_the_phone_number_that_froze_the_server() -> None:
    text = "Call +1" + "2" * 40 + "x"
    started = time.monotonic()
    spoken = prepare_text(text, "en", max_chars=SIZE)
    assert time.monotonic() - started < GUARD_SECONDS
    assert spoken


def test_a_number_too_long_for_int_is_read_in_digit_groups() -> None:
    text = "1" + ",000" * 2000
    parts = prepare_text(text, "en", max_chars=SIZE)
    spoken = " ".join(p for p in parts if isinstance(p, str))
    assert spoken.startswith("one, zero zero zero")
    assert all(len(p) <= MAX_SEGMENT_CHARS for p in parts if isinstance(p, str))
    assert numbers.spell("1" * 40, words_for("en")).startswith("one one one, one one one")


def test_a_failing_normaliser_falls_back_to_the_raw_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str, words: object) -> str:
        raise OverflowError("too big")

    monkeypatch.setattr(numbers, "_STEPS", (broken,))
    with caplog.at_level(logging.WARNING):
        parts = prepare_text("The meter reads 12345. All good here.", "en", max_chars=100)
    assert parts == ["The meter reads 12345.", "All good here."]
    assert sum("speaking it as written" in r.message for r in caplog.records) == 2


def test_a_normaliser_past_its_budget_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(text: str, words: object) -> str:
        time.sleep(0.02)
        return text.upper()

    monkeypatch.setattr(numbers, "BUDGET_SECONDS", 0.01)
    monkeypatch.setattr(numbers, "_STEPS", (slow, slow))
    assert prepare_text("It is late now.", "en", max_chars=100) == ["It is late now."]


@pytest.mark.parametrize(
    "text",
    ["a" * 9000, "(" * 3000 + "hello" + ")" * 3000, "#" * 9000, "é" * 9000, "-1" * 4000],
    ids=["long-word", "bracket-storm", "symbol-run", "accents", "dash-digits"],
)
def test_long_words_and_symbol_storms_give_bounded_segments_at_once(text: str) -> None:
    started = time.monotonic()
    parts = prepare_text(text, "en", max_chars=SIZE)
    assert time.monotonic() - started < GUARD_SECONDS
    texts = [p for p in parts if isinstance(p, str)]
    assert all(0 < len(p) <= MAX_SEGMENT_CHARS for p in texts)
    assert all(len(word) <= pipeline.MAX_WORD_CHARS for p in texts for word in p.split())


def test_the_limit_counts_raw_characters_as_they_arrive() -> None:
    text_pipeline = TextPipeline("en", max_chars=50)
    text_pipeline.feed("x" * 30)
    with pytest.raises(TextTooLong, match="50"):
        text_pipeline.feed("y" * 21)


def test_an_endless_unpunctuated_stream_costs_linear_time() -> None:
    # 200 kB in 2-character deltas: quadratic work would take minutes; linear takes a second.
    text_pipeline = TextPipeline("en", max_chars=1_000_000)
    started = time.monotonic()
    segments = 0
    for _ in range(100_000):
        segments += len(text_pipeline.feed("a "))
    segments += len(text_pipeline.finish())
    assert time.monotonic() - started < 30
    assert segments >= 200_000 // MAX_SEGMENT_CHARS


_ALPHABET = list(
    "0123456789" * 3 + ".,:;-+/ ()[]{}<>*_~`#|!?$€£%°" + "abcXYZ " * 2
    + "\n\u200b\u200f\u202e\u05d0\u0627😀👍🏽"
)  # fmt: skip
_TOKENS = ["**", "[pause]", "<break time='2s'/>", "http://x.io/a", "a@b.co", "```", "12:30",
           "2026-11-23", "3,5 °C", "+49 30 1234567", "v1.2.3", "\n\n"]  # fmt: skip


@st.composite
def _hostile_texts(draw: st.DrawFn) -> str:
    pieces = draw(
        st.lists(
            st.one_of(
                st.text(st.sampled_from(_ALPHABET), max_size=60),
                st.sampled_from(_TOKENS),
                st.builds(lambda c, n: c * n, st.sampled_from(_ALPHABET), st.integers(1, 600)),
            ),
            max_size=30,
        )
    )
    return "".join(pieces)


@seed(20261123)
@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(_hostile_texts(), st.sampled_from(sorted(lang.WORDS)), st.integers(1, 50))
def test_fuzz_the_whole_text_path(text: str, language: str, delta: int) -> None:
    started = time.monotonic()
    streamed = TextPipeline(language, max_chars=SIZE)
    parts = []
    for start in range(0, len(text), delta):
        parts.extend(streamed.feed(text[start : start + delta]))
    parts.extend(streamed.finish())
    parts.extend(prepare_text(text, language, max_chars=SIZE))
    assert time.monotonic() - started < 5 * GUARD_SECONDS
    for part in parts:
        if isinstance(part, Silence):
            assert 0 < part.seconds <= speech.MAX_PAUSE_SECONDS
        else:
            assert 0 < len(part) <= MAX_SEGMENT_CHARS
            assert any(c.isalnum() for c in part)


def test_a_random_mix_of_the_worst_runs() -> None:
    rng = random.Random(11)
    runs = list(hostile_inputs().values())
    for _ in range(5):
        text = "".join(rng.choice(runs)[: rng.randint(100, 2000)] for _ in range(8))[:SIZE]
        started = time.monotonic()
        parts = prepare_text(text, rng.choice(sorted(lang.WORDS)), max_chars=SIZE)
        assert time.monotonic() - started < 10 * GUARD_SECONDS
        assert all(len(p) <= MAX_SEGMENT_CHARS for p in parts if isinstance(p, str))
