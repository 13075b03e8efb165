"""Text for speech: cutting streamed text into segments the model speaks one at a time.

The cut depends only on the text, never on how it was split into deltas: the same text gives
the same segments whether it comes whole or as LLM deltas split mid-word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sentence_stream import SentenceBoundaryDetector

from wyoming_tts.engine import Silence

# The eager first clause: before anything has been spoken, cut at a comma, colon or semicolon
# followed by a space once this many characters are in hand, so speech starts sooner.
EAGER_MIN_CHARS = 20
# A segment of fewer words waits for the next one, so prosody does not restart every few words.
MIN_WORDS = 3

_CLAUSE_END = re.compile(r"[,;:](?=\s+\S)")


class SegmentSplitter:
    """Cut text, given whole or in deltas, into segments at sentence ends."""

    def __init__(self, transform: Callable[[str], str] | None = None) -> None:
        self._transform = transform or (lambda text: text)
        self._detector = SentenceBoundaryDetector()
        self._eager = True
        self._head = ""  # what the detector holds while the first clause may still be cut
        self._held = ""  # a short segment waiting for the next one

    def feed(self, delta: str) -> list[str]:
        """Add DELTA; return the segments that are now complete."""
        out: list[str] = []
        sentences = list(self._detector.add_chunk(delta))
        if self._eager:
            self._head += delta
            if sentences:
                self._eager = False
                first = sentences.pop(0)
                out.extend(self._emit_all(_eager_cut(first)))
            else:
                clause = _first_clause(self._head)
                if clause is not None:
                    # Speak the clause now; the detector starts again on what follows it.
                    self._eager = False
                    rest = self._head[len(clause) :]
                    self._detector = SentenceBoundaryDetector()
                    sentences = list(self._detector.add_chunk(rest))
                    out.extend(self._emit(clause))
        for sentence in sentences:
            out.extend(self._emit(sentence))
        return out

    def finish(self) -> list[str]:
        """End the text; return the last segments."""
        out: list[str] = []
        last = self._detector.finish()
        if last:
            parts = _eager_cut(last) if self._eager else [last]
            out.extend(self._emit_all(parts))
        if self._held:
            out.append(self._held)
            self._held = ""
        self._detector = SentenceBoundaryDetector()
        self._eager = True
        self._head = ""
        return out

    def _emit_all(self, parts: Iterable[str]) -> list[str]:
        out: list[str] = []
        for part in parts:
            out.extend(self._emit(part))
        return out

    def _emit(self, sentence: str) -> list[str]:
        text = self._transform(sentence).strip()
        if not text:
            return []
        if self._held:
            text = f"{self._held} {text}"
            self._held = ""
        if len(text.split()) < MIN_WORDS:
            self._held = text
            return []
        return [text]


def _first_clause(text: str) -> str | None:
    """The text up to and including the first clause end after EAGER_MIN_CHARS characters."""
    start = len(text) - len(text.lstrip())
    for match in _CLAUSE_END.finditer(text):
        if match.end() - start >= EAGER_MIN_CHARS:
            return text[: match.end()]
    return None


def _eager_cut(sentence: str) -> list[str]:
    clause = _first_clause(sentence)
    if clause is None:
        return [sentence]
    return [clause, sentence[len(clause) :]]


def split_text(text: str, transform: Callable[[str], str] | None = None) -> list[str]:
    """Cut a whole text into segments, exactly as if it had been streamed."""
    splitter = SegmentSplitter(transform)
    return [*splitter.feed(text), *splitter.finish()]


def speech_parts(segment: str, language: str, *, normalize: bool = True) -> list[str | Silence]:
    """Turn one segment into what the model speaks, with pauses as Silence."""
    text = " ".join(segment.split())
    return [text] if text else []
