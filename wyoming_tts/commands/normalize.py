"""`wyoming-tts normalize`: print what the voice will say for a text."""

from __future__ import annotations

import argparse
import sys

from wyoming_tts.engine.synthesis import Silence
from wyoming_tts.languages import CODES
from wyoming_tts.text import speech_parts, split_text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wyoming-tts normalize",
        description="Print the spoken form of TEXT (or of standard input), as the server says it.",
    )
    parser.add_argument("text", nargs="*", help="the text (default: read standard input)")
    parser.add_argument("--language", default="en", choices=sorted(CODES))
    parser.add_argument(
        "--segments", action="store_true", help="print one streamed segment per line"
    )
    parser.add_argument("--no-normalize", action="store_true", help="as the server's flag")
    args = parser.parse_args(argv)
    text = " ".join(args.text) if args.text else sys.stdin.read()
    lines = spoken_segments(text, args.language, normalize_text=not args.no_normalize)
    print(("\n" if args.segments else " ").join(lines))
    return 0


def spoken_segments(text: str, language: str, *, normalize_text: bool = True) -> list[str]:
    """Each streamed segment of TEXT as it is spoken, pauses shown as [pause Ns]."""
    lines = []
    for segment in split_text(text):
        parts = speech_parts(segment, language, normalize_text=normalize_text)
        line = " ".join(_show(part) for part in parts)
        if line:
            lines.append(line)
    return lines


def _show(part: str | Silence) -> str:
    return f"[pause {part.seconds:g}s]" if isinstance(part, Silence) else part
