"""`wyoming-tts app`: the Home Assistant app's whole start, in one process.

The Supervisor writes the options a user set in the app's Configuration tab to
/data/options.json. This command checks every one of them (an unknown or invalid option is one
clear sentence at start, not a crash later), turns them into the server's flags, serves, and
once the port answers sends the Supervisor the discovery that makes Home Assistant offer the
Wyoming integration. It is the image's command: no s6 or bashio, one process under the
Supervisor's init (config.yaml's `init: true`), so a crash stops the app and its watchdog can
restart it. The options below that name places are for running it outside a container (the
tests, script/check-images); inside, the defaults are the Supervisor's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from wyoming_tts.settings import DEFAULT_MODEL

INGRESS_PROXY = "172.30.32.2"  # the one address the voice page accepts: the ingress proxy


@dataclass(frozen=True)
class Places:
    """Where the Supervisor puts things for the app (config.yaml: map, ingress_port, ports)."""

    data: Path = Path("/data")  # options.json, models, voice states; private to the app
    config: Path = Path("/config")  # addon_config map: custom voices, written by the page
    share: Path = Path("/share")  # Home Assistant's share folder (read-only): Samba drop-ins
    port: int = 10200
    ingress_port: int = 8099
    supervisor: str = "http://supervisor"

    @property
    def options(self) -> Path:
        return self.data / "options.json"

    @property
    def voices(self) -> Path:
        return self.config / "voices"

    @property
    def share_voices(self) -> Path:
        return self.share / "wyoming-tts" / "voices"


class AppOptionsError(ValueError):
    """An option of the app cannot be used; the message says which and what to do."""


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise AppOptionsError(f"Option '{name}' must be text, not {value!r}.")
    return value.strip()


def _number(low: float, high: float) -> Callable[[str, object], float]:
    def check(name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AppOptionsError(f"Option '{name}' must be a number, not {value!r}.")
        if not low <= value <= high:
            raise AppOptionsError(f"Option '{name}' must be between {low:g} and {high:g}.")
        return float(value)

    return check


def _whole(low: int, high: int) -> Callable[[str, object], int]:
    def check(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise AppOptionsError(f"Option '{name}' must be a whole number from {low} to {high}.")
        return value

    return check


def _switch(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise AppOptionsError(f"Option '{name}' must be true or false, not {value!r}.")
    return value


def _choice(*choices: str) -> Callable[[str, object], str]:
    def check(name: str, value: object) -> str:
        text = _text(name, value)
        if text not in choices:
            raise AppOptionsError(f"Option '{name}' must be one of {', '.join(choices)}.")
        return text

    return check


# Every option of addon/config.yaml, with its check. A test keeps the two in step.
CHECKS: dict[str, Callable[[str, object], object]] = {
    "model": _text,
    "voice": _text,
    "quantize": _choice("auto", "on", "off"),
    "threads": _whole(1, 4),
    "max_batch": _whole(1, 8),
    "sentence_silence": _number(0.0, 10.0),
    "volume": _number(0.1, 4.0),
    "speed": _number(0.5, 2.0),
    "loudness_match": _switch,
    "max_text_chars": _whole(100, 100_000),
    "hf_token": _text,
    "api_token": _text,
    "debug_logging": _switch,
}


def server_arguments(
    options: Mapping[str, object],
    *,
    voices_dirs: tuple[Path, ...] = (),
    places: Places = Places(),
) -> tuple[list[str], dict[str, str]]:
    """The server's flags and extra environment for the app's OPTIONS."""
    unknown = sorted(set(options) - set(CHECKS))
    if unknown:
        raise AppOptionsError(
            f"Unknown option {', '.join(repr(u) for u in unknown)}: remove it in the app's "
            "Configuration tab (it may belong to an older version)."
        )
    values = {name: CHECKS[name](name, value) for name, value in options.items()}
    flags = [
        "--uri",
        f"tcp://0.0.0.0:{places.port}",
        "--data-dir",
        str(places.data),
        "--model",
        str(values.get("model") or DEFAULT_MODEL),
        "--web-uri",
        f"tcp://0.0.0.0:{places.ingress_port}",
        "--web-allow",
        INGRESS_PROXY,
    ]
    for folder in voices_dirs:
        flags += ["--voices-dir", str(folder)]
    if values.get("voice"):
        flags += ["--voice", str(values["voice"])]
    quantize = values.get("quantize", "auto")
    if quantize != "auto":
        flags.append("--quantize" if quantize == "on" else "--no-quantize")
    names = ("threads", "max_batch", "sentence_silence", "volume", "speed", "max_text_chars")
    for name in names:
        if name in values:
            flags += [f"--{name.replace('_', '-')}", f"{values[name]:g}"]
    if values.get("loudness_match") is False:
        flags.append("--no-loudness-match")
    if values.get("debug_logging"):
        flags.append("--debug")
    environment = {"HF_TOKEN": str(values["hf_token"])} if values.get("hf_token") else {}
    api_token = str(values.get("api_token") or "")
    if api_token:
        if len(api_token) < 16:
            raise AppOptionsError(
                "Option 'api_token' must be at least 16 characters; make a long random one."
            )
        # Other hosts may then use the web port (the speech API) with this token; the ingress
        # proxy still needs none. In the environment, not on the command line.
        environment["WYOMING_TTS_WEB_TOKEN"] = api_token
    return flags, environment


def main(argv: list[str]) -> int:
    defaults = Places()
    parser = argparse.ArgumentParser(prog="wyoming-tts app", description=__doc__)
    parser.add_argument(
        "--options", type=Path, help="the options file (default: DATA/options.json)"
    )
    parser.add_argument("--data-dir", type=Path, default=defaults.data)
    parser.add_argument("--config-dir", type=Path, default=defaults.config)
    parser.add_argument("--share-dir", type=Path, default=defaults.share)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--ingress-port", type=int, default=defaults.ingress_port)
    parser.add_argument("--supervisor", default=defaults.supervisor, help="the Supervisor's API")
    args = parser.parse_args(argv)
    places = Places(
        args.data_dir,
        args.config_dir,
        args.share_dir,
        args.port,
        args.ingress_port,
        args.supervisor,
    )
    options_file = args.options or places.options
    try:
        options = json.loads(options_file.read_text(encoding="utf-8"))
        if not isinstance(options, dict):
            raise AppOptionsError(f"{options_file} must hold a JSON object of options.")
        server_arguments(options, places=places)  # every option checked before anything is written
        places.voices.mkdir(parents=True, exist_ok=True)
        folders = tuple(d for d in (places.voices, places.share_voices) if d.is_dir())
        flags, environment = server_arguments(options, voices_dirs=folders, places=places)
    except (OSError, ValueError) as err:
        print(f"wyoming-tts app: error: {err}", file=sys.stderr)
        return 2
    os.environ.update(environment)
    from wyoming_tts.__main__ import run
    from wyoming_tts.server.supervisor import announce

    run(flags, on_ready=partial(announce, places.port, places.supervisor))
    return 0
