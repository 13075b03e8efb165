"""Cutting streamed text into segments the model speaks one at a time.

The cut depends only on the text, never on how it was split into deltas: the same text gives
the same segments whether it comes whole or as LLM deltas split mid-word.
"""

from __future__ import annotations

import re

from sentence_stream import SentenceBoundaryDetector
from sentence_stream.util import remove_asterisks

# The eager first clause: before anything has been spoken, cut at a comma, colon or semicolon
# followed by a space once this many visible characters (about 20 with spaces) are in hand, so
# speech starts sooner. Spaces and markdown asterisks do not count: the cut must not depend on
# whether the text was seen before or after sentence-stream removed them.
EAGER_MIN_CHARS = 16
# A segment of fewer words waits for the next one, so prosody does not restart every few words.
MIN_WORDS = 3

# No segment is longer than this (before normalisation): pocket-tts speaks at most 50 tokens
# (MAX_TOKEN_PER_CHUNK) in one go, about 200 characters. Text with no sentence end is cut at
# the last space before it; this also bounds the text the sentence detector and the eager
# clause search look at, so every delta costs time in proportion to its own length.
MAX_SEGMENT_CHARS = 200
# Deltas longer than this are fed in slices of it, for the same reason.
_SLICE_CHARS = 200
# A blank line between paragraphs becomes this pause marker (see text.speech_parts).
PARAGRAPH_PAUSE = "[pause]"
_PARAGRAPH = re.compile(r"(\n\n)")
# Whitespace runs are squashed first (linear): a run with two line breaks is a paragraph break.
_SPACES = re.compile(r"\s+")
_HSPACE = re.compile(r"[ \t]+")
# "am 1. Mai": a segment that ends with a small number and a period waits for the next one.
_ENDS_WITH_ORDINAL = re.compile(r"(?<![\w.,])\d{1,2}\.$")


class _Paragraphs:
    """Mark blank lines with a pause, whatever the deltas; trailing blanks wait for more text."""

    def __init__(self) -> None:
        self._tail = ""
        self._seen_text = False

    def feed(self, delta: str) -> str:
        text = _SPACES.sub(_squash, self._tail + delta)
        body = text.rstrip()
        self._tail = text[len(body) :]  # at most "\n\n" after squashing
        out: list[str] = []
        for piece in _PARAGRAPH.split(body):
            if _PARAGRAPH.fullmatch(piece):
                out.append(f"\n\n{PARAGRAPH_PAUSE} " if self._seen_text else "")
            elif piece:
                self._seen_text = self._seen_text or bool(piece.strip())
                out.append(piece)
        return "".join(out)


def _squash(match: re.Match[str]) -> str:
    run = match[0]
    breaks = run.count("\n")
    return "\n\n" if breaks >= 2 else "\n" if breaks else " "


class SegmentSplitter:
    """Cut text, given whole or in deltas, into segments at sentence ends."""

    def __init__(self) -> None:
        self._detector = SentenceBoundaryDetector()
        self._paragraphs = _Paragraphs()
        self._eager = True  # nothing spoken yet: the first clause may be cut early
        self._held = ""  # a short segment waiting for the next one

    def feed(self, delta: str) -> list[str]:
        """Add DELTA; return the segments that are now complete."""
        out: list[str] = []
        for start in range(0, len(delta), _SLICE_CHARS):
            out.extend(self._feed(delta[start : start + _SLICE_CHARS]))
        return out

    def _feed(self, delta: str) -> list[str]:
        out: list[str] = []
        delta = self._paragraphs.feed(delta)
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
        out.extend(self._bound())
        return out

    def _pending(self) -> str:
        return _join(self._held, self._detector.current_sentence + self._detector.remaining_text)

    def _bound(self) -> list[str]:
        """Cut text with no sentence end once it is longer than a segment may be."""
        out: list[str] = []
        pending = self._pending()
        while len(pending) > MAX_SEGMENT_CHARS:
            cut = _cut_point(pending)
            self._held = ""
            self._detector = SentenceBoundaryDetector()
            out.extend(self._emit(pending[:cut], force=True))
            for sentence in self._detector.add_chunk(pending[cut:]):
                out.extend(self._sentence(sentence))
            pending = self._pending()
        return out

    def flush_idle(self) -> list[str]:
        """No text came for a while: speak the sentence in hand if it is complete.

        It is complete when it ends with terminal punctuation that ends no abbreviation,
        initial or number ("Dr.", "e.g.", "J.", "3." wait for more). A short one goes too."""
        pending = self._pending().rstrip()
        if not pending or not _looks_finished(pending):
            return []
        self._held = ""
        self._detector = SentenceBoundaryDetector()
        return self._emit(pending, force=True)

    def finish(self) -> list[str]:
        """End the text; return the last segments."""
        out: list[str] = []
        last = self._detector.finish()
        if last:
            out.extend(self._sentence(last))
        if self._held:
            out.append(self._held)
        self._detector = SentenceBoundaryDetector()
        self._paragraphs = _Paragraphs()
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

    def _emit(self, text: str, *, force: bool = False) -> list[str]:
        text = _HSPACE.sub(" ", remove_asterisks(text)).strip()
        if not text:
            return []
        text = _join(self._held, text)
        self._held = ""
        if not force and (len(text.split()) < MIN_WORDS or _ENDS_WITH_ORDINAL.search(text)):
            self._held = text
            return []
        self._eager = False
        return [text]


def _looks_finished(text: str) -> bool:
    """True when TEXT ends a sentence for sure: `!`, `?`, `…`, or a period after a word that
    is no abbreviation (one pass over the last word)."""
    last = text[-1]
    if last in "!?…":
        return True
    if last != ".":
        return False
    word = text[:-1].rsplit(maxsplit=1)[-1].strip("\"'([") if text[:-1].strip() else ""
    if not word or "." in word or any(c.isdigit() for c in word):
        return False  # "e.g.", "3.", "U.S."
    return len(word) > 1 and word.lower() not in ABBREVIATIONS


# Words that end with a period and do not end a sentence, in the languages served.
ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st jr sr vs etc approx no nr fig mt ft ave blvd dept est inc ltd co "
    "hr hrs min sec max mon tue wed thu fri sat sun jan feb mar apr jun jul aug sep sept oct "
    "nov dec bzw ca usw evtl ggf inkl str tel vgl mme mlle av bd env sra sres srta dña dott "
    "sig ing arch avv gent pág dhr mevr mw blz".split()
)


def _join(first: str, second: str) -> str:
    return f"{first} {second}" if first else second


def _first_clause(text: str) -> str | None:
    """The text up to the first clause end with EAGER_MIN_CHARS visible characters before it.

    A clause end is a comma, semicolon or colon followed by spaces and more text. One pass.
    """
    visible = 0
    size = len(text)
    for index, char in enumerate(text):
        if char.isspace() or char == "*":
            continue
        visible += 1
        if char in ",;:" and visible >= EAGER_MIN_CHARS:
            after = index + 1
            while after < size and text[after].isspace():
                after += 1
            if after > index + 1 and after < size:
                return text[: index + 1]
    return None


def _cut_point(text: str) -> int:
    """Where to cut TEXT, longer than a segment: after its last space in the allowed length."""
    space = text.rfind(" ", 1, MAX_SEGMENT_CHARS + 1)
    return space if space > 0 else MAX_SEGMENT_CHARS


def split_text(text: str) -> list[str]:
    """Cut a whole text into segments, exactly as if it had been streamed."""
    splitter = SegmentSplitter()
    return [*splitter.feed(text), *splitter.finish()]
