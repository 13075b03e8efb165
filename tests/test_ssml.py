"""SSML: every element, whole and streamed (deltas split anywhere, tags too), and hostile markup.

The unit tests read what the text path gives the engine; the server tests send SSML over
Wyoming (`text_format: ssml`) to a real server and read what its model was asked to say.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from wyoming.info import Describe
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from tests.conftest import (
    FakeModel,
    audio_bytes,
    client,
    fake_models,
    read_until,
    running,
    with_settings,
)
from wyoming_tts.engine.synthesis import Prosody, Segment, Silence, VoiceChange
from wyoming_tts.settings import Settings
from wyoming_tts.text import TextOptions, TextTooLong, text_path

GUARD_SECONDS = 1.0


def _joined(items: list[Segment]) -> list[object]:
    """Texts run together (how a path cuts sentences differs between whole and streamed), and
    markers of one kind in a row as the last (the engine applies them so)."""
    out: list[object] = []
    for item in items:
        if isinstance(item, str) and out and isinstance(out[-1], str):
            out[-1] = f"{out[-1]} {item}"
        elif isinstance(item, (Prosody, VoiceChange)) and out and type(out[-1]) is type(item):
            out[-1] = item
        else:
            out.append(item)
    return out


def spoken(
    ssml: str, *, chunk: int | None = None, seed: int = 0, **options: object
) -> list[object]:
    """What the engine is given for SSML: whole (CHUNK None) or in deltas of 1..CHUNK chars."""
    path = text_path("en", TextOptions(**options), whole=chunk is None, ssml=True)  # type: ignore[arg-type]
    if chunk is None:
        return _joined(list(path.segments(ssml)))
    rng = random.Random(seed)
    out: list[Segment] = []
    position = 0
    while position < len(ssml):
        size = rng.randint(1, chunk)
        out += path.feed(ssml[position : position + size])
        position += size
    out += path.finish()
    return _joined(out)


def _wait(attributes: str) -> str:
    return f"<speak>Wait <break {attributes}/> now.</speak>"


CASES: list[tuple[str, str, list[object]]] = [
    ("speak", "<speak>Hello there.</speak>", ["Hello there."]),
    (
        "namespaced speak with a declaration",
        '<?xml version="1.0"?><speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis"'
        ' xml:lang="en-US">Hello there.</speak>',
        ["Hello there."],
    ),
    ("p", "<speak><p>One.</p><p>Two.</p></speak>", ["One.", Silence(0.5), "Two.", Silence(0.5)]),
    ("s", "<speak><s>One more</s><s>two more</s></speak>", ["One more two more"]),
    ("break time ms", _wait('time="700ms"'), ["Wait", Silence(0.7), "now."]),
    ("break time s", _wait('time="1.5s"'), ["Wait", Silence(1.5), "now."]),
    ("break strength", _wait('strength="strong"'), ["Wait", Silence(0.75), "now."]),
    ("break none", _wait('strength="none"'), ["Wait now."]),
    ("break is bounded", _wait('time="90s"'), ["Wait", Silence(10.0), "now."]),
    (
        "prosody rate",
        '<speak>Now <prosody rate="slow">slowly said</prosody> done.</speak>',
        ["Now", Prosody(0.8, 1.0), "slowly said", Prosody(1.0, 1.0), "done."],
    ),
    (
        "prosody rate percent",
        '<speak><prosody rate="150%">Fast words</prosody></speak>',
        [Prosody(1.5, 1.0), "Fast words", Prosody(1.0, 1.0)],
    ),
    (
        "prosody relative rate",
        '<speak><prosody rate="-20%">Slower words</prosody></speak>',
        [Prosody(0.8, 1.0), "Slower words", Prosody(1.0, 1.0)],
    ),
    (
        "prosody volume",
        '<speak><prosody volume="-6dB">Quiet words</prosody></speak>',
        [Prosody(1.0, 10 ** (-6 / 20)), "Quiet words", Prosody(1.0, 1.0)],
    ),
    (
        "nested prosody multiplies",
        '<speak><prosody rate="fast"><prosody rate="fast">Very fast</prosody></prosody></speak>',
        [Prosody(1.5625, 1.0), "Very fast", Prosody(1.0, 1.0)],
    ),
    (
        "say-as characters",
        '<speak>Code <say-as interpret-as="characters">abc</say-as> sent.</speak>',
        ["Code A B C sent."],
    ),
    (
        "say-as spell-out",
        '<speak><say-as interpret-as="spell-out">NASA</say-as> called.</speak>',
        ["N A S A called."],
    ),
    (
        "say-as cardinal",
        '<speak>There are <say-as interpret-as="cardinal">1234</say-as> lights.</speak>',
        ["There are one thousand, two hundred and thirty-four lights."],
    ),
    (
        "say-as ordinal",
        '<speak>The <say-as interpret-as="ordinal">3</say-as> floor.</speak>',
        ["The third floor."],
    ),
    (
        "say-as digits",
        '<speak>Room <say-as interpret-as="digits">123</say-as> please.</speak>',
        ["Room one two three please."],
    ),
    (
        "say-as date",
        '<speak>On <say-as interpret-as="date" format="dmy">25.12.2026</say-as> we meet.</speak>',
        ["On December twenty-fifth, twenty twenty-six we meet."],
    ),
    (
        "say-as time",
        '<speak>At <say-as interpret-as="time">7:30</say-as> we leave.</speak>',
        ["At seven thirty we leave."],
    ),
    (
        "say-as telephone",
        '<speak>Call <say-as interpret-as="telephone">555-1234</say-as> now.</speak>',
        ["Call five five five, one two three four now."],
    ),
    (
        "sub alias",
        '<speak>The <sub alias="World Wide Web Consortium">W3C</sub> wrote it.</speak>',
        ["The World Wide Web Consortium wrote it."],
    ),
    (
        "lang",
        '<speak>Hello. <lang xml:lang="fr-FR">Il est 12 heures.</lang> Bye.</speak>',
        [
            "Hello.",
            VoiceChange(None, "fr"),
            "Il est douze heures.",
            VoiceChange(None, None),
            "Bye.",
        ],
    ),
    (
        "voice",
        '<speak>Hello. <voice name="other">I am the other one.</voice> Bye.</speak>',
        ["Hello.", VoiceChange("other", None), "I am the other one.", VoiceChange(None, None),
         "Bye."],
    ),
    (
        "unknown elements keep their text",
        "<speak>Some <emphasis>strong</emphasis> and <foo:bar>odd</foo:bar> words.</speak>",
        ["Some strong and odd words."],
    ),
    (
        "audio is never fetched: its fallback text is read",
        '<speak><audio src="http://example.com/a.wav">a chime</audio> done.</speak>',
        ["a chime done."],
    ),
    ("entities (a decoded < is cleaned away)", "<speak>Tom &amp; Jerry &lt;3</speak>",
     ["Tom and Jerry three"]),
    ("pause markup inside SSML", "<speak>One [pause] two.</speak>", ["One", Silence(0.5), "two."]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "ssml", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_element_whole_and_streamed(name: str, ssml: str, expected: list[object]) -> None:
    whole = spoken(ssml)
    _same(whole, expected)
    for chunk in (1, 3, 7):  # tags split across deltas anywhere
        for seed in range(3):
            _same(spoken(ssml, chunk=chunk, seed=seed), expected)


def _same(got: list[object], expected: list[object]) -> None:
    assert len(got) == len(expected), (got, expected)
    for a, b in zip(got, expected, strict=True):
        if isinstance(b, Prosody):
            assert isinstance(a, Prosody)
            assert a.rate == pytest.approx(b.rate) and a.volume == pytest.approx(b.volume)
        elif isinstance(b, str):
            assert isinstance(a, str) and a.lower() == b.lower(), (a, b)
        else:
            assert a == b


def test_s_and_p_end_a_segment_even_mid_sentence() -> None:
    for whole in (True, False):
        path = text_path("en", TextOptions(), whole=whole, ssml=True)
        got = list(path.segments("<speak><s>One more</s><s>two more</s> <p>and three</p></speak>"))
        assert got == ["One more", "two more", "and three", Silence(0.5)]


def test_streamed_ssml_speaks_before_it_is_all_there() -> None:
    path = text_path("en", TextOptions(), whole=False, ssml=True)
    first = path.feed("<speak>The first sentence is said at once. And then <prosody rate=")
    assert _joined(first) == ["The first sentence is said at once."]


def test_unknown_elements_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "wyoming_tts.text.ssml"):
        spoken("<speak><foo>a</foo> <foo>b</foo> <bar>c</bar></speak>")
    lines = [r.message for r in caplog.records if "not supported" in r.message]
    assert len(lines) == 2 and "<foo>" in lines[0] and "<bar>" in lines[1]


def test_the_limit_counts_the_raw_markup() -> None:
    ssml = "<speak>" + "<break/>" * 200 + "</speak>"
    with pytest.raises(TextTooLong, match="the limit is 1000"):
        spoken(ssml, max_chars=1000)
    with pytest.raises(TextTooLong, match="the limit is 1000"):
        spoken(ssml, chunk=50, max_chars=1000)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10))
    + "]><speak>&lol9; Still here.</speak>"
)
EXTERNAL = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><speak>&e; Still here.</speak>'
HOSTILE = {
    "billion laughs": (BILLION_LAUGHS, ["Still here."]),
    "external entity": (EXTERNAL, ["Still here."]),
    "10 000 nested elements": (
        "<speak>" + "<s>" * 10_000 + "Still here." + "</s>" * 10_000 + "</speak>",
        ["Still here."],
    ),
    "1 MB of attributes": (
        '<speak>Still <prosody rate="' + "x" * 999_000 + '">here.</prosody></speak>',
        ["Still here."],
    ),
    "many attributes": (
        "<speak>Still <prosody "
        + " ".join(f'a{i}="v"' for i in range(50_000))
        + ">here.</prosody>",
        ["Still here."],
    ),
    "unclosed tags": (
        '<speak><prosody rate="slow"><s>Still here.',
        [Prosody(0.8, 1.0), "Still here."],
    ),
    "a tag never closed": ("<speak>Still here. <prosody rate='slow' volume", ["Still here."]),
    "stray end tags": ("<speak>Still</p></speak> here.</speak>", ["Still here."]),
    "undefined entity": ("<speak>Still &nope; here.</speak>", ["Still here."]),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_ssml_is_bounded_and_never_expanded(name: str) -> None:
    ssml, expected = HOSTILE[name]
    for chunk in (None, 4096, 5):
        if chunk == 5 and len(ssml) > 100_000:
            chunk = 997
        began = time.monotonic()
        got = spoken(ssml, chunk=chunk, max_chars=1_000_000)
        assert time.monotonic() - began < GUARD_SECONDS, (name, chunk)
        _same(got, expected)
        assert not any("lol" in str(g) or "root" in str(g) for g in got)


# -- over Wyoming, on a real server ------------------------------------------------------------
class VoicedModel(FakeModel):
    """A fake model whose voice states say which voice they are, and that keeps them."""

    def __init__(self) -> None:
        super().__init__(frames=3)
        self.voices: list[str] = []

    def builtin_voice_state(self, name: str) -> object:
        return {"voice": {"name": np.zeros(1)}, "who": name}

    def generate(self, voice_state: object, text: str, stop):  # type: ignore[no-untyped-def]
        self.voices.append(voice_state["who"])  # type: ignore[index]
        yield from super().generate(voice_state, text, stop)


@pytest.fixture
async def ssml_server(fake_settings: Settings):  # type: ignore[no-untyped-def]
    model = VoicedModel()
    settings = with_settings(fake_settings, max_queue=4, max_text_chars=1_000_000)
    async with running(settings, fake_models(settings, model)) as app:
        model.texts.clear()
        model.voices.clear()
        yield app, model


SSML = (
    '<speak>Hello. <break time="500ms"/> The <sub alias="World Wide Web">WWW</sub> is '
    '<say-as interpret-as="characters">big</say-as>. <voice name="other">Other voice here.'
    '</voice> <prosody rate="x-fast">Quickly now.</prosody></speak>'
)


async def _spoken_plain(app, ssml: str, text_format: str = "ssml"):  # type: ignore[no-untyped-def]
    async with client(app) as conn:
        await conn.write_event(Synthesize(ssml, text_format=text_format).event())
        return await read_until(conn, "audio-stop")


async def _spoken_streamed(app, ssml: str, chunk: int):  # type: ignore[no-untyped-def]
    async with client(app) as conn:
        await conn.write_event(SynthesizeStart(text_format="ssml").event())
        for start in range(0, len(ssml), chunk):
            await conn.write_event(SynthesizeChunk(ssml[start : start + chunk]).event())
        await conn.write_event(SynthesizeStop().event())
        return await read_until(conn, "synthesize-stopped")


async def test_ssml_over_wyoming_plain_and_streamed(ssml_server) -> None:  # type: ignore[no-untyped-def]
    app, model = ssml_server
    frame = model.frame_samples
    for send in (lambda: _spoken_plain(app, SSML), lambda: _spoken_streamed(app, SSML, 5)):
        model.texts.clear()
        model.voices.clear()
        events = await send()
        assert not [e for e in events if e.type == "error"]
        said = " ".join(model.texts)
        assert "World Wide Web" in said and "B I G" in said and "WWW" not in said
        assert "<" not in said and "break" not in said
        who = dict(zip(model.texts, model.voices, strict=True))
        assert who["Other voice here."] == "other"
        assert who["Quickly now."] == "fake" and who["Hello."] == "fake"
        samples = audio_bytes(events) // 2
        texts = len(model.texts)
        # Each text is 3 frames; the pause is 0.5 s; "Quickly now." at x-fast (1.6) is shorter.
        spoken_at_1 = (texts - 1) * 3 * frame + 0.5 * 16000
        expected = spoken_at_1 + 3 * frame / 1.6
        assert abs(samples - expected) <= 0.03 * expected, (samples, expected)


async def test_plain_text_format_keeps_todays_cleanup(ssml_server) -> None:  # type: ignore[no-untyped-def]
    app, model = ssml_server
    await _spoken_plain(app, '<speak>The <sub alias="x">WWW</sub> site.</speak>', "text")
    assert model.texts == ["The WWW site."]  # tags cleaned away, the abbreviation read


async def test_hostile_ssml_is_answered_quickly_while_describe_stays_fast(ssml_server) -> None:  # type: ignore[no-untyped-def]
    app, model = ssml_server
    for name, (ssml, _expected) in HOSTILE.items():
        began = time.monotonic()
        describe = asyncio.create_task(_describe_seconds(app))
        events = await _spoken_plain(app, ssml)
        took = time.monotonic() - began
        assert events[-1].type == "audio-stop", name
        assert took < GUARD_SECONDS + 1.0, (name, took)  # the fake model's audio included
        assert await describe < GUARD_SECONDS, name
    assert all("lol" not in text for text in model.texts)


async def _describe_seconds(app) -> float:  # type: ignore[no-untyped-def]
    async with client(app) as conn:
        began = time.monotonic()
        await conn.write_event(Describe().event())
        await read_until(conn, "info")
        return time.monotonic() - began


async def test_ssml_voice_by_name_in_a_streamed_request_with_a_voice(ssml_server) -> None:  # type: ignore[no-untyped-def]
    app, model = ssml_server
    async with client(app) as conn:
        start = SynthesizeStart(voice=SynthesizeVoice(name="other"), text_format="ssml")
        await conn.write_event(start.event())
        for part in ("<speak>First. <voi", 'ce name="fa', 'ke">Second.</voice> Third.</speak>'):
            await conn.write_event(SynthesizeChunk(part).event())
        await conn.write_event(SynthesizeStop().event())
        await read_until(conn, "synthesize-stopped")
    assert list(zip(model.texts, model.voices, strict=True)) == [
        ("First.", "other"),
        ("Second.", "fake"),
        ("Third.", "other"),
    ]


def test_ssml_cli_shows_the_markers(tmp_path: Path) -> None:
    from wyoming_tts.commands.normalize import spoken_segments

    lines = spoken_segments(
        '<speak>Hi <prosody rate="slow">there</prosody></speak>',
        "en",
        TextOptions(),
        ssml=True,
    )
    assert lines == ["Hi", "[rate 0.8 volume 1]", "there", "[rate 1 volume 1]"]


class LevelModel(FakeModel):
    """A fake model whose every sample is LEVEL: whose audio is whose can be told apart."""

    def __init__(self, level: float) -> None:
        super().__init__(frames=3)
        self.level = level

    def generate(self, voice_state: object, text: str, stop):  # type: ignore[no-untyped-def]
        for frame in super().generate(voice_state, text, stop):
            yield frame * 0 + self.level


@pytest.fixture
async def two_models(fake_settings: Settings):  # type: ignore[no-untyped-def]
    from wyoming_tts.engine.models import Models
    from wyoming_tts.settings import ModelSpec
    from wyoming_tts.voices import LanguageModel, VoiceStates

    english, french = LevelModel(0.5), LevelModel(0.25)
    settings = with_settings(
        fake_settings, models=(ModelSpec("english", "en"), ModelSpec("french", "fr")), max_queue=4
    )
    models = Models(
        settings,
        lambda spec: english if spec.language == "en" else french,
        [LanguageModel("en", ("fake",), {}), LanguageModel("fr", ("marie",), {})],
        VoiceStates(settings.data_dir / "voice-states", 1 << 20, "test"),
        {"en": "fake", "fr": "marie"},
    )
    async with running(settings, models) as app:
        english.texts.clear()
        yield app, english, french


LANG = '<speak>Hello there. <lang xml:lang="fr-FR">Il est 12 heures.</lang> Bye now.</speak>'


@pytest.mark.parametrize("streamed", [False, True])
async def test_lang_hands_a_part_to_that_languages_model(two_models, streamed: bool) -> None:  # type: ignore[no-untyped-def]
    app, english, french = two_models
    events = await (_spoken_streamed(app, LANG, 4) if streamed else _spoken_plain(app, LANG))
    assert not [e for e in events if e.type == "error"]
    assert english.texts == ["Hello there.", "Bye now."]
    assert french.texts == ["Il est douze heures."]  # French numbers, the French model
    pcm = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    samples = np.frombuffer(pcm, "<i2")
    levels = [round(int(v) / 32767 * 4) for v in samples[:: english.frame_samples]]
    assert levels == [2] * 3 + [1] * 3 + [2] * 3  # in order: English, French, English
    assert events[-1].type == ("synthesize-stopped" if streamed else "audio-stop")


async def test_a_client_that_leaves_during_a_part_stops_it(two_models) -> None:  # type: ignore[no-untyped-def]
    app, english, french = two_models
    french.gate = threading.Event()  # the French part holds after its first frame
    async with client(app) as conn:
        await conn.write_event(Synthesize(LANG, text_format="ssml").event())
        async with asyncio.timeout(10):
            while not french.running.is_set():
                await asyncio.sleep(0.01)
    async with asyncio.timeout(10):  # the connection closed: the part stops between frames
        while not french.stopped.is_set():
            await asyncio.sleep(0.01)
    assert english.texts == ["Hello there."]
    french.gate.set()
