"""`wyoming-tts normalize`: print what the voice will say for a text."""

from __future__ import annotations

import argparse
import sys

from wyoming_tts.engine.synthesis import Prosody, Segment, Silence, VoiceChange
from wyoming_tts.languages import CODES
from wyoming_tts.text import TextOptions, text_path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wyoming-tts normalize",
        description="Print the spoken form of TEXT (or of standard input), as the server says it.",
    )
    parser.add_argument("text", nargs="*", help="the text (default: read standard input)")
    parser.add_argument("--language", default="en", choices=sorted(CODES))
    parser.add_argument(
        "--segments", action="store_true", help="print one segment (one model call) per line"
    )
    parser.add_argument(
        "--streamed",
        action="store_true",
        help="cut as a streamed request is (in deltas), not as a text sent at once",
    )
    parser.add_argument(
        "--ssml", action="store_true", help="the text is SSML (as Wyoming's text_format=ssml)"
    )
    parser.add_argument("--no-normalize", action="store_true", help="as the server's flag")
    parser.add_argument(
        "--sentence-silence", type=float, default=0.0, help="as the server's flag (seconds)"
    )
    args = parser.parse_args(argv)
    text = " ".join(args.text) if args.text else sys.stdin.read()
    options = TextOptions(
        max_chars=max(len(text), 1),
        normalize=not args.no_normalize,
        sentence_silence=args.sentence_silence,
    )
    lines = spoken_segments(text, args.language, options, streamed=args.streamed, ssml=args.ssml)
    print(("\n" if args.segments else " ").join(lines))
    return 0


def spoken_segments(
    text: str,
    language: str,
    options: TextOptions,
    *,
    streamed: bool = False,
    ssml: bool = False,
) -> list[str]:
    """What the model is fed for TEXT, one entry a segment, pauses shown as [pause Ns] (and,
    for SSML, changes of rate, volume and voice in brackets too).

    The server's own text path builds them (`text.text_path`), so they are the segments a
    plain request (or, STREAMED, a streamed one) is spoken in."""
    path = text_path(language, options, whole=not streamed, ssml=ssml)
    return [_show(part) for part in path.segments(text)]


def _show(part: Segment) -> str:
    if isinstance(part, Silence):
        return f"[pause {part.seconds:g}s]"
    if isinstance(part, Prosody):
        return f"[rate {part.rate:g} volume {part.volume:.2g}]"
    if isinstance(part, VoiceChange):
        return f"[voice {part.name or '-'} language {part.language or '-'}]"
    return str(part)
