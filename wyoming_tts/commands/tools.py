"""`wyoming-tts download` and `wyoming-tts export-voice`: prepare a host to run offline."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wyoming_tts.settings import ModelSpec, Settings, SettingsError, add_quantize, quantize_setting

if TYPE_CHECKING:
    from wyoming_tts.pocket.model import PocketModel

_LOGGER = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="english", metavar="[LANG=]NAME_OR_CONFIG", help="as the server's"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("WYOMING_TTS_DATA_DIR") or Settings.data_dir),
        help="as the server's (default: WYOMING_TTS_DATA_DIR)",
    )
    add_quantize(parser)


def _load(args: argparse.Namespace) -> PocketModel:
    """Load the model of ARGS (importing torch here, not at the command's start)."""
    os.environ.setdefault("HF_HOME", str(args.data_dir / "huggingface"))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from wyoming_tts.autopick import resolve
    from wyoming_tts.pocket.model import load_model

    quantize = quantize_setting(args.quantize)
    spec = resolve(
        ModelSpec.parse(args.model), quantize=quantize, threads=1, data_dir=args.data_dir
    )
    return load_model(spec, quantize=quantize, threads=1)


class _Refused(Exception):
    """A sentence for the user; the command exits 1."""


def _guarded(what: str, action: Callable[[], str]) -> int:
    """Run ACTION and print its message; any failure is one line on stderr and exit code 1."""
    from wyoming_tts.pocket.model import ModelLoadError

    try:
        message = action()
    except (_Refused, SettingsError, ModelLoadError) as err:
        print(f"wyoming-tts: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        print(f"wyoming-tts: error: could not {what}: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0


def download(argv: list[str]) -> int:
    """Fetch a model (and its default voice) into --data-dir so the host can run offline."""
    parser = argparse.ArgumentParser(prog="wyoming-tts download", description=download.__doc__)
    _common(parser)
    parser.add_argument("--voice", action="append", help="built-in voices to fetch too")
    args = parser.parse_args(argv)

    def fetch() -> str:
        model = _load(args)
        voices = args.voice or _default_voices(model)
        for voice in voices:
            model.builtin_voice_state(voice)
        fetched = ", ".join(voices) or "-"
        return f"Model {model.spec.source} and voices {fetched} are in {args.data_dir}"

    return _guarded("download", fetch)


def export_voice(argv: list[str]) -> int:
    """Encode an audio file into a .safetensors voice state (e.g. on a faster machine)."""
    parser = argparse.ArgumentParser(
        prog="wyoming-tts export-voice", description=export_voice.__doc__
    )
    parser.add_argument("audio", type=Path, help="5 to 10 s of one person speaking")
    parser.add_argument("output", type=Path, help="where to write NAME.safetensors")
    _common(parser)
    args = parser.parse_args(argv)

    def encode() -> str:
        if not args.audio.is_file():
            raise _Refused(f"{args.audio} is not a file.")
        if args.output.suffix != ".safetensors":
            raise _Refused("the output must end in .safetensors.")
        model = _load(args)
        if not model.can_clone:
            raise _Refused(
                "this model has no voice-cloning weights; accept the terms at "
                "https://huggingface.co/kyutai/pocket-tts and set HF_TOKEN."
            )
        state = model.encode_audio(args.audio)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        model.save_state(state, args.output)
        return (
            f"Wrote {args.output}: put it in a --voices-dir to use it as voice {args.output.stem!r}"
        )

    return _guarded(f"encode {args.audio}", encode)


def _default_voices(model: PocketModel) -> list[str]:
    from wyoming_tts.pocket.model import default_voice_name

    return [] if model.spec.is_config else [default_voice_name(model.spec)]
