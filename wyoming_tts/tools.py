"""`wyoming-tts download` and `wyoming-tts export-voice`: prepare a host to run offline."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from wyoming_tts.settings import ModelSpec, Settings, SettingsError, quantize_by_default

if TYPE_CHECKING:
    from wyoming_tts.pocket import PocketModel

_LOGGER = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="english", metavar="[LANG=]NAME_OR_CONFIG", help="as the server's"
    )
    parser.add_argument("--data-dir", type=Path, default=Settings.data_dir)
    parser.add_argument(
        "--quantize", action=argparse.BooleanOptionalAction, default=quantize_by_default()
    )


def _load(args: argparse.Namespace) -> PocketModel:
    """Load the model of ARGS (importing torch here, not at the command's start)."""
    os.environ.setdefault("HF_HOME", str(args.data_dir / "huggingface"))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from wyoming_tts.pocket import load_model

    return load_model(ModelSpec.parse(args.model), quantize=args.quantize, threads=1)


def download(argv: list[str]) -> int:
    """Fetch a model (and its default voice) into --data-dir so the host can run offline."""
    parser = argparse.ArgumentParser(prog="wyoming-tts download", description=download.__doc__)
    _common(parser)
    parser.add_argument("--voice", action="append", help="built-in voices to fetch too")
    args = parser.parse_args(argv)
    try:
        model = _load(args)
        voices = args.voice or _default_voices(model)
        for voice in voices:
            model.builtin_voice_state(voice)
    except (SettingsError, pocket_errors()) as err:
        print(f"wyoming-tts: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        print(f"wyoming-tts: error: could not download: {err}", file=sys.stderr)
        return 1
    print(f"Model {model.spec.source} and voices {', '.join(voices) or '-'} are in {args.data_dir}")
    return 0


def export_voice(argv: list[str]) -> int:
    """Encode an audio file into a .safetensors voice state (e.g. on a faster machine)."""
    parser = argparse.ArgumentParser(
        prog="wyoming-tts export-voice", description=export_voice.__doc__
    )
    parser.add_argument("audio", type=Path, help="5 to 10 s of one person speaking")
    parser.add_argument("output", type=Path, help="where to write NAME.safetensors")
    _common(parser)
    args = parser.parse_args(argv)
    if not args.audio.is_file():
        print(f"wyoming-tts: error: {args.audio} is not a file.", file=sys.stderr)
        return 1
    if args.output.suffix != ".safetensors":
        print("wyoming-tts: error: the output must end in .safetensors.", file=sys.stderr)
        return 1
    try:
        model = _load(args)
        if not model.can_clone:
            print(
                "wyoming-tts: error: this model has no voice-cloning weights; accept the terms "
                "at https://huggingface.co/kyutai/pocket-tts and set HF_TOKEN.",
                file=sys.stderr,
            )
            return 1
        state = model.encode_audio(args.audio)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        model.save_state(state, args.output)
    except (SettingsError, pocket_errors()) as err:
        print(f"wyoming-tts: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        print(f"wyoming-tts: error: could not encode {args.audio}: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {args.output}: put it in a --voices-dir to use it as voice {args.output.stem!r}")
    return 0


def pocket_errors() -> type[Exception]:
    from wyoming_tts.pocket import ModelLoadError

    return ModelLoadError


def _default_voices(model: PocketModel) -> list[str]:
    from wyoming_tts.pocket import default_voice_name

    return [] if model.spec.is_config else [default_voice_name(model.spec)]
