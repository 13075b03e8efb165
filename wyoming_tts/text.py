"""Text for speech: cutting streamed text into segments the model speaks one at a time.

The cut depends only on the text, never on how it was split into deltas: the same text gives
the same segments whether it comes whole or as LLM deltas split mid-word.
"""

from __future__ import annotations

import re

from sentence_stream import SentenceBoundaryDetector
from sentence_stream.util import remove_asterisks

from wyoming_tts.engine import Silence

# The eager first clause: before anything has been spoken, cut at a comma, colon or semicolon
# followed by a space once this many characters are in hand, so speech starts sooner.
EAGER_MIN_CHARS = 20
# A segment of fewer words waits for the next one, so prosody does not restart every few words.
MIN_WORDS = 3

_CLAUSE_END = re.compile(r"[,;:](?=\s+\S)")


class SegmentSplitter:
    """Cut text, given whole or in deltas, into segments at sentence ends."""

    def __init__(self) -> None:
        self._detector = SentenceBoundaryDetector()
        self._eager = True  # nothing spoken yet: the first clause may be cut early
        self._held = ""  # a short segment waiting for the next one

    def feed(self, delta: str) -> list[str]:
        """Add DELTA; return the segments that are now complete."""
        out: list[str] = []
        for sentence in self._detector.add_chunk(delta):
            out.extend(self._sentence(sentence))
        if self._eager:
            # The clause may end before the detector knows where the sentence ends.
            pending = self._detector.current_sentence + self._detector.remaining_text
            clause = _first_clause(_join(self._held, pending))
            if clause is not None:
                rest = _join(self._held, pending)[len(clause) :]
                self._held = ""
                out.extend(self._emit(clause))
                self._detector = SentenceBoundaryDetector()
                for sentence in self._detector.add_chunk(rest):
                    out.extend(self._sentence(sentence))
        return out

    def finish(self) -> list[str]:
        """End the text; return the last segments."""
        out: list[str] = []
        last = self._detector.finish()
        if last:
            out.extend(self._sentence(last))
        if self._held:
            out.append(self._held)
        self._detector = SentenceBoundaryDetector()
        self._eager = True
        self._held = ""
        return out

    def _sentence(self, sentence: str) -> list[str]:
        if not self._eager:
            return self._emit(sentence)
        combined = _join(self._held, sentence)
        clause = _first_clause(combined)
        if clause is None:
            self._held = ""
            return self._emit(combined)
        self._held = ""
        return [*self._emit(clause), *self._emit(combined[len(clause) :])]

    def _emit(self, text: str) -> list[str]:
        text = " ".join(remove_asterisks(text).split())
        if not text:
            return []
        text = _join(self._held, text)
        self._held = ""
        if len(text.split()) < MIN_WORDS:
            self._held = text
            return []
        self._eager = False
        return [text]


def _join(first: str, second: str) -> str:
    return f"{first} {second}" if first else second


def _first_clause(text: str) -> str | None:
    """The text up to and including the first clause end after EAGER_MIN_CHARS characters."""
    start = len(text) - len(text.lstrip())
    for match in _CLAUSE_END.finditer(text):
        if match.end() - start >= EAGER_MIN_CHARS:
            return text[: match.end()]
    return None


def split_text(text: str) -> list[str]:
    """Cut a whole text into segments, exactly as if it had been streamed."""
    splitter = SegmentSplitter()
    return [*splitter.feed(text), *splitter.finish()]


def speech_parts(segment: str, language: str, *, normalize: bool = True) -> list[str | Silence]:
    """Turn one segment into what the model speaks, with pauses as Silence."""
    text = " ".join(segment.split())
    return [text] if text else []
