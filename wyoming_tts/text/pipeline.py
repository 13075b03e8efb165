"""The one text path: what a client sends, whole or in deltas, to the pieces the model speaks.

Plain and streamed requests both come through a `TextPipeline`, so their limits and fallbacks
cannot drift apart. The raw characters the client sent are counted against the limit as they
arrive; the splitter cuts sentences (never longer than a segment may be); each segment is
cleaned and normalised, falling back to its raw text when a normaliser fails; and the result
is cut again to the model's limit, since normalising makes text longer ("12" -> "twelve").
Nothing here can take time out of proportion to the text's length.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from wyoming_tts.engine.synthesis import Segment, Silence, Synthesis
from wyoming_tts.text.speech import speech_parts
from wyoming_tts.text.split import MAX_SEGMENT_CHARS, SegmentSplitter

# A run of letters longer than this is no word of any of our languages (German compounds stay
# under it): it is cut into pieces this long, so no run can make a slow prompt.
MAX_WORD_CHARS = 40
# A run of symbols with no letter or digit longer than this is dropped ("((((", "-----").
MAX_SYMBOL_RUN = 4
# A whole text is fed in slices this long, so its first segment is ready before the rest is cut.
WHOLE_TEXT_SLICE = 1000


class TextTooLong(Exception):
    """The client sent more text than --max-text-chars allows; the message says so."""


@dataclass(frozen=True)
class TextOptions:
    """The server's text settings, the same for every door and for the CLI's `normalize`."""

    max_chars: int = 10_000
    normalize: bool = True
    sentence_silence: float = 0.0


def check_length(chars: int, max_chars: int) -> None:
    """Raise TextTooLong, with the one sentence every door sends, when CHARS is over the limit."""
    if chars > max_chars:
        raise TextTooLong(
            f"The text has {chars} characters; the limit is {max_chars} (--max-text-chars). "
            "Send a shorter text."
        )


def text_path(
    language: str, options: TextOptions, *, whole: bool, ssml: bool = False
) -> TextPipeline:
    """The text path of one request: WHOLE for a text sent at once, else for deltas; SSML
    when the client says the text is SSML (its text nodes take the plain path).

    Speaking, `GET api/normalize` and `wyoming-tts normalize` all build their path here, so
    what they show is what the model is fed.
    """

    def plain(lang: str, max_chars: int = options.max_chars) -> TextPipeline:
        return TextPipeline(
            lang,
            max_chars=max_chars,
            normalize=options.normalize,
            sentence_silence=options.sentence_silence,
            merge=whole,
        )

    if not ssml:
        return plain(language)
    from wyoming_tts.text.ssml import SsmlText

    # The limit is counted on the raw markup; the text nodes' paths need none of their own.
    unlimited = partial(plain, max_chars=sys.maxsize)
    return SsmlText(language, options.max_chars, unlimited, check_length)  # type: ignore[return-value]


class TextPipeline:
    """Turn the text of one request into segments and pauses, as it arrives."""

    changes_voice = False  # SSML's path (text.ssml) may say "another voice from here"

    def __init__(
        self,
        language: str,
        *,
        max_chars: int,
        normalize: bool = True,
        sentence_silence: float = 0.0,
        merge: bool = False,
    ) -> None:
        self.language = language
        # A plain request's text is all there: after its first (short) segment, sentences are
        # merged up to the model's chunk, so the model restarts as rarely as when it is called
        # directly. A streamed request keeps cutting at clause ends, for the first audio.
        self.merge = merge and sentence_silence <= 0
        self._merged = ""
        self.max_chars = max_chars
        self.normalize = normalize
        self.sentence_silence = sentence_silence
        self.chars = 0
        self._splitter = SegmentSplitter()
        self._spoken = False

    def feed(self, delta: str) -> list[Segment]:
        """Add DELTA; return what can be spoken now. Raise TextTooLong past the limit."""
        self.chars += len(delta)
        check_length(self.chars, self.max_chars)
        return self._parts(self._splitter.feed(delta))

    def segments(self, text: str) -> Iterator[Segment]:
        """All of a whole TEXT, slice by slice: the first segments come before the rest is cut."""
        for start in range(0, len(text), WHOLE_TEXT_SLICE):
            yield from self.feed(text[start : start + WHOLE_TEXT_SLICE])
        yield from self.finish()

    def flush_idle(self) -> list[Segment]:
        """No delta came for a while: what is complete now (a finished sentence held)."""
        return self._parts(self._splitter.flush_idle())

    def finish(self) -> list[Segment]:
        """End the text; return the rest."""
        out = self._parts(self._splitter.finish())
        self._flush(out)
        return out

    def _parts(self, segments: list[str]) -> list[Segment]:
        out: list[Segment] = []
        for segment in segments:
            for part in speech_parts(segment, self.language, normalize_text=self.normalize):
                if isinstance(part, Silence):
                    self._flush(out)
                    out.append(part)
                    continue
                if self._spoken and self.sentence_silence > 0:
                    out.append(Silence(self.sentence_silence))
                for piece in bounded_pieces(part):
                    if self.merge and self._spoken:
                        self._add_merged(piece, out)
                    else:
                        out.append(piece)
                    self._spoken = True
        return out

    def _add_merged(self, piece: str, out: list[Segment]) -> None:
        if self._merged and len(self._merged) + 1 + len(piece) > MAX_SEGMENT_CHARS:
            self._flush(out)
        self._merged = f"{self._merged} {piece}" if self._merged else piece

    def _flush(self, out: list[Segment]) -> None:
        if self._merged:
            out.append(self._merged)
            self._merged = ""


def prepare_text(
    text: str,
    language: str,
    *,
    max_chars: int,
    normalize: bool = True,
    sentence_silence: float = 0.0,
    merge: bool = False,
) -> list[Segment]:
    """Everything the model speaks for a whole TEXT (runs in time linear in its length)."""
    pipeline = TextPipeline(
        language,
        max_chars=max_chars,
        normalize=normalize,
        sentence_silence=sentence_silence,
        merge=merge,
    )
    return list(pipeline.segments(text))


def whole_text_segments(text: str, language: str, options: TextOptions) -> list[Segment]:
    """What the model is fed for a whole TEXT sent at once, as a plain request feeds it."""
    check_length(len(text), options.max_chars)
    return list(text_path(language, options, whole=True).segments(text))


def feed_whole_text(synthesis: Synthesis, text_path: TextPipeline, text: str) -> None:
    """Cut and normalise a whole text (in a thread), queueing each segment as it is ready."""
    for segment in text_path.segments(text):
        if synthesis.stop.is_set():
            return
        synthesis.feed(segment)
    synthesis.close()


def bounded_pieces(text: str) -> list[str]:
    """Cut TEXT into pieces of at most MAX_SEGMENT_CHARS at spaces, with long runs cut too."""
    words: list[str] = []
    for word in text.split():
        if not any(c.isalnum() for c in word):
            if len(word) <= MAX_SYMBOL_RUN:
                words.append(word)
            continue
        words.extend(word[i : i + MAX_WORD_CHARS] for i in range(0, len(word), MAX_WORD_CHARS))
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for word in words:
        if current and size + 1 + len(word) > MAX_SEGMENT_CHARS:
            pieces.append(" ".join(current))
            current, size = [], 0
        size += len(word) + (1 if current else 0)
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return [piece for piece in pieces if any(c.isalnum() for c in piece)]
