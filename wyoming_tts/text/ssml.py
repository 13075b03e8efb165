"""SSML, whole or streamed and split anywhere (tags too), to the text path's segments.

The markup is cut into pieces (a run of text, or one tag up to its `>`), and each piece goes
to an incremental XML parser (`defusedxml`: no DTD, no entity declarations, nothing external
is ever read). What the parser reports is applied once the piece is parsed: text nodes go
through the plain text path (cleanup, numbers, bounded segments) of the language in force;
`break`, `p` and `s` cut and pause; `prosody`, `voice` and `lang` become markers the engine
applies between two segments. A tag longer than `MAX_TAG_CHARS`, nesting deeper than
`MAX_DEPTH`, a DTD or any malformed markup ends the parse: the rest is spoken as plain text
with its tags stripped. The limit is counted on the raw characters, as for plain text.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import XMLParser

from wyoming_tts.engine.synthesis import Prosody, Segment, Silence, VoiceChange
from wyoming_tts.languages import CODES
from wyoming_tts.text.say_as import say_as
from wyoming_tts.text.speech import PAUSE_SECONDS
from wyoming_tts.text.ssml_values import break_seconds, rate_factor, volume_gain

_LOGGER = logging.getLogger(__name__)

MAX_TAG_CHARS = 1000  # one tag with its attributes
MAX_DEPTH = 32
MAX_SAY_AS_CHARS = 200  # the text of one say-as or sub
_ROOT = "wyoming-ssml"
_ENTITY_CHARS = 34
_ENTITY = re.compile(r"&#?+\w{1,32}+;")
_KNOWN = frozenset({"speak", "p", "s", "break", "prosody", "say-as", "sub", "lang", "voice"})
PARAGRAPH_SECONDS = PAUSE_SECONDS


@dataclass(frozen=True)
class _Context:
    """What is in force inside an element: rate, volume, voice and language."""

    rate: float = 1.0
    volume: float = 1.0
    voice: str | None = None  # a voice named by `voice name`
    language: str | None = None  # a language set by `lang` or `xml:lang`


class SsmlText:
    """One request's SSML: `feed` raw deltas, then `finish`; the same calls as TextPipeline."""

    changes_voice = True

    def __init__(
        self,
        language: str,
        max_chars: int,
        make_path: Callable[[str], Any],
        check: Callable[[int, int], None],
    ) -> None:
        self.language = language
        self.max_chars = max_chars
        self.chars = 0
        self._make_path = make_path
        self._check = check  # text.check_length
        self._path = make_path(language)
        self._pending = ""  # raw text not yet cut into a piece
        self._skipping = False  # inside a tag too long to parse: dropped up to its ">"
        self._entity = ""  # plain text: the start of an entity reference, held for its end
        self._target = _Events()
        self._parser: XMLParser | None = XMLParser(target=self._target, forbid_dtd=True)
        self._parser.feed(f"<{_ROOT}>")
        self._events: list[tuple[str, Any, Any]] = []
        self._stack: list[tuple[str, _Context]] = [("", _Context())]
        self._capture: tuple[str, dict[str, str], list[str]] | None = None  # say-as or sub
        self._capture_depth = 0
        self._unknown: set[str] = set()
        self._out: list[Segment] = []

    # -- the TextPipeline interface ------------------------------------------------------------
    def feed(self, delta: str) -> list[Segment]:
        self.chars += len(delta)
        self._check(self.chars, self.max_chars)
        self._pending += delta
        for piece in self._pieces():
            self._piece(piece)
        return self._take()

    def flush_idle(self) -> list[Segment]:
        """No delta came for a while: a finished sentence in hand goes (not inside a tag)."""
        if self._capture is None and not self._pending:
            self._out.extend(self._path.flush_idle())
        return self._take()

    def finish(self) -> list[Segment]:
        if self._pending:
            self._pending = ""  # a tag never closed: nothing to say
        if self._capture is not None:
            self._end_capture()
        if self._entity:  # "&" and a word, never ended: the word alone
            self._path_feed(self._entity.replace("&", " "))
            self._entity = ""
        self._out.extend(self._path.finish())
        return self._take()

    def segments(self, text: str) -> Iterator[Segment]:
        yield from self.feed(text)
        yield from self.finish()

    # -- pieces ----------------------------------------------------------------------------------
    def _pieces(self) -> Iterator[str]:
        """Complete pieces of the raw text: a run of text up to a `<`, or a tag to its `>`.

        A tag longer than MAX_TAG_CHARS is dropped up to its `>`, however late that comes."""
        while self._pending:
            text = self._pending
            if self._skipping:
                end = text.find(">") + 1
                self._pending = text[end:] if end else ""
                self._skipping = not end
                continue
            if text[0] != "<":
                end = text.find("<")
                if end < 0:  # text with no tag after it yet: all of it may be spoken now,
                    amp = text.rfind("&")  # but an entity reference goes whole to the parser
                    if amp >= 0 and ";" not in text[amp:] and len(text) - amp <= _ENTITY_CHARS:
                        self._pending = text[amp:]
                        if amp:
                            yield text[:amp]
                        return
                    self._pending = ""
                    yield text
                    return
            else:
                end = text.find(">", 0, MAX_TAG_CHARS + 1) + 1
                if end == 0:
                    if len(text) <= MAX_TAG_CHARS:
                        return  # the rest of the tag is still to come
                    self._fail(f"a tag longer than {MAX_TAG_CHARS} characters")
                    self._skipping = True
                    continue
            self._pending = text[end:]
            yield text[:end]

    def _piece(self, piece: str) -> None:
        if self._parser is None:
            self._plain(piece)
            return
        if piece.startswith("<?"):  # an XML declaration or processing instruction: nothing
            return
        try:
            self._parser.feed(piece)
        except (SyntaxError, DefusedXmlException, ValueError) as err:
            self._fail(str(err).split("\n")[0][:120])
            self._plain(piece)
            return
        events, self._target.events = self._target.events, []
        try:
            for kind, tag, attributes in events:
                if kind == "start":
                    self._start(tag, attributes)
                elif kind == "end":
                    self._end(tag)
                else:
                    self._text(tag)
        except _TooDeep:
            self._fail(f"nesting deeper than {MAX_DEPTH} elements")

    def _fail(self, why: str) -> None:
        if self._parser is not None:
            _LOGGER.info("SSML not understood (%s); the rest is read as plain text", why)
            self._parser = None
            if self._capture is not None:
                self._end_capture()

    def _plain(self, piece: str) -> None:
        """Malformed SSML: tags dropped, the standard entities decoded, the rest dropped."""
        if piece.startswith("<"):
            self._path_feed(" ")
            return
        text, self._entity = self._entity + piece, ""
        start = text.rfind("&")
        if start >= 0 and ";" not in text[start:] and len(text) - start <= _ENTITY_CHARS:
            text, self._entity = text[:start], text[start:]  # its ";" may be in the next delta
        self._path_feed(_ENTITY.sub(" ", html.unescape(_xml_unescape(text))))

    # -- elements --------------------------------------------------------------------------------
    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        name = _local(tag)
        attrs = {_local(k): v for k, v in attributes.items()}
        context = self._stack[-1][1]
        if len(self._stack) > MAX_DEPTH:
            raise _TooDeep
        if self._capture is not None:  # markup inside say-as or sub: its text only
            self._stack.append((name, context))
            return
        if name == "break":
            self._cut()
            seconds = break_seconds(attrs)
            if seconds > 0:
                self._out.append(Silence(seconds))
        elif name in ("say-as", "sub"):
            self._capture = (name, attrs, [])
            self._capture_depth = len(self._stack)
        elif name == "prosody":
            changed = replace(
                context,
                rate=context.rate * rate_factor(attrs.get("rate")),
                volume=min(4.0, context.volume * volume_gain(attrs.get("volume"))),
            )
            if (changed.rate, changed.volume) != (context.rate, context.volume):
                self._cut()
                self._mark(Prosody(changed.rate, changed.volume))
            context = changed
        elif name in ("voice", "lang", "speak", "p", "s"):
            context = self._switch(name, attrs, context)
        elif name not in _KNOWN and name != _ROOT and name not in self._unknown:
            self._unknown.add(name)
            _LOGGER.debug("SSML element <%s> is not supported; its text is read", name[:40])
        self._stack.append((name, context))

    def _end(self, tag: str) -> None:
        name, context = self._stack.pop()
        outer = self._stack[-1][1] if self._stack else _Context()
        if self._capture is not None:
            if len(self._stack) == self._capture_depth:
                self._end_capture()
            return
        if name in ("p", "s"):
            self._cut()
            if name == "p":
                self._out.append(Silence(PARAGRAPH_SECONDS))
        if (context.rate, context.volume) != (outer.rate, outer.volume):
            self._cut()
            self._mark(Prosody(outer.rate, outer.volume))
        if self._speaker(context) != self._speaker(outer):
            self._cut()
            self._mark(VoiceChange(outer.voice, outer.language))

    def _switch(self, name: str, attrs: dict[str, str], context: _Context) -> _Context:
        """`voice name`, `lang xml:lang` (and `xml:lang` on speak, p, s)."""
        voice = attrs.get("name") if name == "voice" else None
        code = (attrs.get("lang") or "").split("-")[0].split("_")[0].lower()
        language = code if code in CODES else None
        if code and language is None:
            _LOGGER.debug("SSML language %r is not spoken here; the text goes on", code[:20])
        changed = replace(
            context,
            voice=voice[:80] if voice else context.voice,
            language=language or context.language,
        )
        if self._speaker(changed) != self._speaker(context):
            self._stack.append((name, changed))  # the new path is of the new language
            self._cut()
            self._stack.pop()
            self._mark(VoiceChange(changed.voice, changed.language))
        return changed

    def _speaker(self, context: _Context) -> tuple[str | None, str]:
        return context.voice, context.language or self.language

    def _mark(self, marker: Segment) -> None:
        """Add a marker; one that follows a marker of its kind replaces it."""
        if self._out and type(self._out[-1]) is type(marker):
            self._out[-1] = marker
        else:
            self._out.append(marker)

    def _text(self, text: str) -> None:
        if self._capture is not None:
            parts = self._capture[2]
            if sum(len(p) for p in parts) < MAX_SAY_AS_CHARS:
                parts.append(text)
            return
        self._path_feed(text)

    def _end_capture(self) -> None:
        assert self._capture is not None
        name, attrs, parts = self._capture
        self._capture = None
        text = "".join(parts)[:MAX_SAY_AS_CHARS]
        language = self._stack[-1][1].language or self.language
        if name == "sub":
            spoken = attrs.get("alias", text)[:MAX_SAY_AS_CHARS]
        else:
            interpret = attrs.get("interpret-as", "")
            spoken = say_as(text, interpret, attrs.get("format", ""), language)
        self._path_feed(f" {spoken} ")

    # -- output ----------------------------------------------------------------------------------
    def _path_feed(self, text: str) -> None:
        self._out.extend(self._path.feed(text))

    def _cut(self) -> None:
        """End the text so far here: what follows is spoken apart (other rate, voice, pause)."""
        self._out.extend(self._path.finish())
        self._path = self._make_path(self._stack[-1][1].language or self.language)

    def _take(self) -> list[Segment]:
        out, self._out = self._out, []
        return out


class _TooDeep(Exception):
    pass


class _Events:
    """The parser's target: what it reports, kept until the piece is parsed."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, Any]] = []

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.events.append(("start", tag, attributes))

    def end(self, tag: str) -> None:
        self.events.append(("end", tag, None))

    def data(self, text: str) -> None:
        self.events.append(("data", text, None))

    def close(self) -> None:
        return None


def _local(name: str) -> str:
    """A tag or attribute name without its namespace ("{...}lang" -> "lang")."""
    return name.rsplit("}", 1)[-1].lower()


def _xml_unescape(text: str) -> str:
    return text.replace("&apos;", "'").replace("&quot;", '"')
