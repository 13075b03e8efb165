"""Text for speech: one pipeline from what a client sends to what the model speaks.

`TextPipeline` (in `pipeline`) is the only door: cleanup, numbers as words per language,
pauses and segments, for plain and streamed requests alike.
"""

from __future__ import annotations

from wyoming_tts.text.pipeline import (
    TextOptions,
    TextPipeline,
    TextTooLong,
    check_length,
    feed_whole_text,
    prepare_text,
    text_path,
    whole_text_segments,
)
from wyoming_tts.text.speech import PAUSE_SECONDS, normalize, speech_parts
from wyoming_tts.text.split import MAX_SEGMENT_CHARS, SegmentSplitter, split_text

__all__ = [
    "MAX_SEGMENT_CHARS",
    "PAUSE_SECONDS",
    "SegmentSplitter",
    "TextOptions",
    "TextPipeline",
    "TextTooLong",
    "check_length",
    "feed_whole_text",
    "normalize",
    "prepare_text",
    "speech_parts",
    "split_text",
    "text_path",
    "whole_text_segments",
]
