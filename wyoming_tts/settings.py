"""Every option of the server, parsed once from flags and WYOMING_TTS_* variables."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from wyoming_tts import __version__
from wyoming_tts.audio import MAX_RATE, MIN_RATE
from wyoming_tts.languages import CODES, language_of_model

if TYPE_CHECKING:
    from wyoming_tts.text.pipeline import TextOptions

ENV_PREFIX = "WYOMING_TTS_"

DEFAULT_MODEL = "auto"  # the largest model this CPU speaks at 1.5x real time (autopick.py)


class SettingsError(ValueError):
    """An option has a value the server cannot use; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    """One model to serve: a pocket-tts model name or the path/URL of a YAML config."""

    source: str
    language: str

    @property
    def is_config(self) -> bool:
        return self.source.endswith((".yaml", ".yml")) or "://" in self.source

    @classmethod
    def parse(cls, value: str) -> ModelSpec:
        """Parse `NAME`, `CONFIG` or `LANG=NAME_OR_CONFIG`."""
        value = value.strip()
        language: str | None = None
        head, sep, tail = value.partition("=")
        if sep and head and "/" not in head and "://" not in value[: len(head) + 3]:
            language, value = head.strip().lower(), tail.strip()
        if not value:
            raise SettingsError("--model needs a model name or the path of a YAML config.")
        if language is None:
            language = _language_of(value)
        if language not in CODES:
            raise SettingsError(
                f"Unknown language {language!r} in --model; use one of "
                f"{', '.join(sorted(CODES))}, e.g. --model de=/path/to/config.yaml."
            )
        spec = cls(source=value, language=language)
        if not spec.is_config and "/" in value:
            raise SettingsError(
                f"--model {value!r} is neither a model name nor a .yaml config; "
                "give a name such as 'english' or the path of a config ending in .yaml."
            )
        return spec


def _language_of(source: str) -> str:
    stem = Path(urlparse(source).path).stem if "://" in source else Path(source).stem
    # A community config with no language prefix: English unless `LANG=` says otherwise.
    return language_of_model(stem) or "en"


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one server process."""

    uri: str = "tcp://0.0.0.0:10200"
    models: tuple[ModelSpec, ...] = (ModelSpec(DEFAULT_MODEL, "en"),)
    voice: str | None = None
    language_voices: tuple[tuple[str, str], ...] = ()
    voices_dirs: tuple[Path, ...] = ()
    data_dir: Path = Path.home() / ".local" / "share" / "wyoming-tts"
    zeroconf: str | None = None
    zeroconf_host: str | None = None
    quantize: bool = field(default_factory=lambda: quantize_by_default())
    threads: int = 1
    samples_per_chunk: int | None = None
    max_queue: int = 4
    max_batch: int = 4
    max_text_chars: int = 10_000
    volume: float = 1.0
    speed: float = 1.0
    loudness_match: bool = True
    sentence_silence: float = 0.0
    normalize: bool = True
    preload: bool = False
    max_models: int = 2
    voice_cache_mb: int = 512
    audio_cache_mb: int = 100
    idle_timeout: float = 60.0
    web_uri: str | None = None
    web_token: str | None = None
    web_allow: tuple[str, ...] = ()
    debug: bool = False
    log_format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"

    @property
    def text_options(self) -> TextOptions:
        """What every door's text path (and `wyoming-tts normalize`) is built with."""
        from wyoming_tts.text.pipeline import TextOptions  # the text path's imports are heavy

        return TextOptions(self.max_text_chars, self.normalize, self.sentence_silence)

    def default_voice_for(self, language: str) -> str | None:
        """The voice chosen for LANGUAGE by `--voice LANG=NAME`, else by `--voice NAME`."""
        for lang, name in self.language_voices:
            if lang == language:
                return name
        return self.voice


def quantize_by_default() -> bool:
    """int8 where it was measured to be a gain: x86-64 (1.9x sooner first audio, 1.5x faster)."""
    return platform.machine().lower() in ("x86_64", "amd64")


class OptionParser(argparse.ArgumentParser):
    """An argument parser that keeps a list of its options, for their environment twins."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.options: list[argparse.Action] = []
        self.lists: set[str] = set()  # flags that may be given more than once
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if any(flag.startswith("--") for flag in action.option_strings):
            self.options.append(action)
            if kwargs.get("action") == "append":
                self.lists.add(action.dest)
        return action

    def twins(self) -> dict[str, str]:
        """Each flag (but --help and --version) and its WYOMING_TTS_* variable."""
        out = {}
        for action in self.options:
            flag = next(s for s in action.option_strings if s.startswith("--"))
            if flag not in ("--help", "--version"):
                out[flag] = ENV_PREFIX + flag[2:].upper().replace("-", "_")
        return out


def add_quantize(parser: argparse.ArgumentParser) -> None:
    """The --quantize switch, the same for the server and every subcommand."""
    parser.add_argument(
        "--quantize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="int8 weights: faster, same quality (default: on for x86-64, off elsewhere)",
    )


def quantize_setting(value: bool | None) -> bool:
    """The --quantize switch's value, with its default for this machine."""
    return quantize_by_default() if value is None else value


def build_parser() -> OptionParser:
    """Build the argument parser of the server command."""
    parser = OptionParser(
        prog="wyoming-tts",
        description="Wyoming text-to-speech server on Kyutai's Pocket TTS. Every flag can also "
        "be set with an environment variable WYOMING_TTS_<FLAG> (e.g. WYOMING_TTS_VOICE=alba; "
        "lists separated by commas).",
    )
    add = parser.add_argument
    add("--uri", default=Settings.uri, help="tcp://HOST:PORT or unix://PATH")
    add(
        "--model",
        action="append",
        metavar="[LANG=]NAME_OR_CONFIG",
        help="auto (the largest model this CPU speaks at 1.5x real time), a pocket-tts model "
        "name (english, english_18m_2026-10, german_24l, ...) or the path/URL of a pocket-tts "
        "YAML config; repeat for several languages, e.g. de=auto (default: auto)",
    )
    add(
        "--voice",
        action="append",
        metavar="[LANG=]NAME",
        help="default voice, or default voice of one language (de=juergen); repeatable",
    )
    add(
        "--voices-dir",
        action="append",
        type=Path,
        metavar="DIR",
        help="folder of custom voices (wav, flac, mp3, ogg, m4a, .safetensors); repeatable",
    )
    add("--data-dir", type=Path, default=Settings.data_dir, help="models and voice-state cache")
    add(
        "--zeroconf",
        nargs="?",
        const="",
        metavar="NAME",
        help="announce the server with zeroconf (mDNS) under NAME (default: a stable host id)",
    )
    add("--zeroconf-host", metavar="ADDR", help="IPv4 address to announce (default: detected)")
    add_quantize(parser)
    add("--threads", type=int, default=Settings.threads, help="torch threads per model")
    add("--samples-per-chunk", type=int, help="samples per audio-chunk (default: one frame)")
    add("--max-queue", type=int, default=Settings.max_queue, help="requests waiting per model")
    add(
        "--max-batch",
        type=int,
        default=Settings.max_batch,
        help="requests per model whose frames are made together (1: one at a time)",
    )
    add("--max-text-chars", type=int, default=Settings.max_text_chars, help="longest text")
    add("--volume", type=float, default=Settings.volume, help="output gain, 0.1 to 4.0")
    add(
        "--speed",
        type=float,
        default=Settings.speed,
        help="speech rate, 0.5 to 2.0 (1.0: as the model speaks; pitch is kept)",
    )
    add(
        "--no-loudness-match",
        action="store_true",
        help="speak each voice at its own loudness (default: every voice at -20 LUFS)",
    )
    add(
        "--sentence-silence",
        type=float,
        default=Settings.sentence_silence,
        metavar="SECONDS",
        help="silence added between sentences",
    )
    add("--no-normalize", action="store_true", help="speak the text as given (no cleanup)")
    add("--preload", action="store_true", help="load every --model at start, not on first use")
    add("--max-models", type=int, default=Settings.max_models, help="models kept loaded at once")
    add("--voice-cache-mb", type=int, default=Settings.voice_cache_mb, help="voice-state memory")
    add(
        "--audio-cache-mb",
        type=int,
        default=Settings.audio_cache_mb,
        help="disk for spoken segments, replayed when a text repeats (0: off)",
    )
    add(
        "--idle-timeout",
        type=float,
        default=Settings.idle_timeout,
        metavar="SECONDS",
        help="drop a client silent this long in the middle of a request",
    )
    add(
        "--web-uri",
        metavar="tcp://HOST:PORT",
        help="serve the voice page and its API here (default: off)",
    )
    add("--web-token", metavar="TOKEN", help="token the voice page asks for beyond loopback")
    add("--web-token-file", type=Path, metavar="FILE", help="read --web-token from FILE")
    add(
        "--web-allow",
        action="append",
        metavar="ADDR",
        help="only these client addresses may use the voice page (the app: the ingress proxy)",
    )
    add("--debug", action="store_true", help="log DEBUG messages")
    add("--log-format", default=Settings.log_format, help="format of log lines")
    add("--version", action="version", version=__version__)
    return parser


def apply_environment(parser: OptionParser, environ: Mapping[str, str]) -> list[str]:
    """Turn WYOMING_TTS_<FLAG> variables into arguments placed before the real ones."""
    extra: list[str] = []
    twins = parser.twins()
    for action in parser.options:
        flag = next(s for s in action.option_strings if s.startswith("--"))
        if flag not in twins:
            continue
        name = twins[flag]
        value = environ.get(name)
        if value is None or value == "":
            continue
        if action.nargs == 0:  # a switch
            if value.strip().lower() in ("1", "true", "yes", "on"):
                extra.append(flag)
            elif value.strip().lower() in ("0", "false", "no", "off"):
                if isinstance(action, argparse.BooleanOptionalAction):
                    extra.append(f"--no-{flag[2:]}")
            else:
                raise SettingsError(f"{name}={value!r}: use true or false.")
        elif action.dest in parser.lists:
            for item in value.split(","):
                if item.strip():
                    extra.extend([flag, item.strip()])
        else:
            extra.extend([flag, value])
    return extra


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Parse flags (and their environment twins) into validated Settings."""
    parser = build_parser()
    env = os.environ if environ is None else environ
    args_list = list(argv) if argv is not None else None
    if args_list is None:
        import sys

        args_list = sys.argv[1:]
    args = parser.parse_args([*apply_environment(parser, env), *args_list])
    return settings_from_args(args)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validate parsed arguments and freeze them into Settings."""
    models = tuple(ModelSpec.parse(m) for m in (args.model or [DEFAULT_MODEL]))
    voice: str | None = None
    language_voices: list[tuple[str, str]] = []
    for item in args.voice or []:
        lang, sep, name = item.partition("=")
        if sep:
            lang = lang.strip().lower()
            if lang not in CODES:
                raise SettingsError(
                    f"--voice {item!r}: unknown language {lang!r}; use one of "
                    f"{', '.join(sorted(CODES))}."
                )
            language_voices.append((lang, name.strip()))
        else:
            voice = item.strip()
    _check_uri(args.uri)
    _check_range("--threads", args.threads, 1, 64)
    _check_range("--max-queue", args.max_queue, 0, 1000)
    _check_range("--max-batch", args.max_batch, 1, 16)
    _check_range("--max-text-chars", args.max_text_chars, 1, 1_000_000)
    _check_range("--max-models", args.max_models, 1, 16)
    _check_range("--voice-cache-mb", args.voice_cache_mb, 16, 1_000_000)
    _check_range("--audio-cache-mb", args.audio_cache_mb, 0, 1_000_000)
    _check_range("--volume", args.volume, 0.1, 4.0)
    _check_range("--speed", args.speed, MIN_RATE, MAX_RATE)
    _check_range("--sentence-silence", args.sentence_silence, 0.0, 10.0)
    _check_range("--idle-timeout", args.idle_timeout, 1.0, 3600.0)
    if args.samples_per_chunk is not None:
        _check_range("--samples-per-chunk", args.samples_per_chunk, 64, 240_000)
    for folder in args.voices_dir or []:
        if not folder.is_dir():
            raise SettingsError(
                f"--voices-dir {folder} is not a folder; create it or fix the path."
            )
    web_token = _web_token(args.web_token, args.web_token_file)
    web_allow = tuple(a.strip() for a in args.web_allow or () if a.strip())
    if args.web_uri is not None:
        _check_web(args.web_uri, web_token, web_allow)
    return Settings(
        web_uri=args.web_uri,
        web_token=web_token,
        web_allow=web_allow,
        uri=args.uri,
        models=models,
        voice=voice,
        language_voices=tuple(language_voices),
        voices_dirs=tuple(args.voices_dir or ()),
        data_dir=args.data_dir,
        zeroconf=args.zeroconf,
        zeroconf_host=args.zeroconf_host,
        quantize=quantize_setting(args.quantize),
        threads=args.threads,
        samples_per_chunk=args.samples_per_chunk,
        max_queue=args.max_queue,
        max_batch=args.max_batch,
        max_text_chars=args.max_text_chars,
        volume=args.volume,
        speed=args.speed,
        loudness_match=not args.no_loudness_match,
        sentence_silence=args.sentence_silence,
        normalize=not args.no_normalize,
        preload=args.preload,
        max_models=args.max_models,
        voice_cache_mb=args.voice_cache_mb,
        audio_cache_mb=args.audio_cache_mb,
        idle_timeout=args.idle_timeout,
        debug=args.debug,
        log_format=args.log_format,
    )


def _check_uri(uri: str) -> None:
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        if parsed.hostname is None or parsed.port is None:
            raise SettingsError(f"--uri {uri!r} needs a host and a port: tcp://0.0.0.0:10200.")
    elif parsed.scheme != "unix":
        raise SettingsError(f"--uri {uri!r}: use tcp://HOST:PORT or unix://PATH.")


def _web_token(token: str | None, token_file: Path | None) -> str | None:
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise SettingsError(f"--web-token-file {token_file}: {err.strerror}.") from err
    if token is not None and len(token) < 16:
        raise SettingsError("--web-token must be at least 16 characters; make a long random one.")
    return token or None


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _check_web(uri: str, token: str | None, allow: tuple[str, ...]) -> None:
    parsed = urlparse(uri)
    if parsed.scheme != "tcp" or parsed.hostname is None or parsed.port is None:
        raise SettingsError(f"--web-uri {uri!r}: use tcp://HOST:PORT, e.g. tcp://127.0.0.1:8099.")
    if parsed.hostname not in LOOPBACK_HOSTS and token is None and not allow:
        raise SettingsError(
            f"--web-uri {uri} is reachable beyond this machine: set --web-token (or "
            "--web-token-file), or bind it to 127.0.0.1."
        )


def _check_range(flag: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise SettingsError(f"{flag} must be between {low:g} and {high:g}, not {value:g}.")
