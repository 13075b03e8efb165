"""Flags, their WYOMING_TTS_* twins, and the messages for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from wyoming_tts.settings import ModelSpec, Settings, SettingsError, build_parser, parse_settings


def test_defaults() -> None:
    settings = parse_settings([], {})
    assert settings.uri == "tcp://0.0.0.0:10200"
    assert settings.models == (ModelSpec("auto", "en"),)
    assert settings.voice is None
    assert settings == Settings(models=settings.models)


def test_every_flag_has_an_environment_twin(tmp_path: Path) -> None:
    env = {
        "WYOMING_TTS_URI": "tcp://127.0.0.1:10300",
        "WYOMING_TTS_MODEL": "english_18m_2026-10,german",
        "WYOMING_TTS_VOICE": "alba,de=juergen",
        "WYOMING_TTS_VOICES_DIR": str(tmp_path),
        "WYOMING_TTS_DATA_DIR": str(tmp_path / "data"),
        "WYOMING_TTS_ZEROCONF": "kitchen",
        "WYOMING_TTS_ZEROCONF_HOST": "192.168.1.5",
        "WYOMING_TTS_QUANTIZE": "true",
        "WYOMING_TTS_THREADS": "2",
        "WYOMING_TTS_SAMPLES_PER_CHUNK": "960",
        "WYOMING_TTS_MAX_QUEUE": "7",
        "WYOMING_TTS_MAX_BATCH": "3",
        "WYOMING_TTS_MAX_TEXT_CHARS": "500",
        "WYOMING_TTS_VOLUME": "1.5",
        "WYOMING_TTS_SPEED": "0.9",
        "WYOMING_TTS_NO_LOUDNESS_MATCH": "1",
        "WYOMING_TTS_SENTENCE_SILENCE": "0.3",
        "WYOMING_TTS_NO_NORMALIZE": "1",
        "WYOMING_TTS_PRELOAD": "yes",
        "WYOMING_TTS_MAX_MODELS": "3",
        "WYOMING_TTS_VOICE_CACHE_MB": "64",
        "WYOMING_TTS_AUDIO_CACHE_MB": "0",
        "WYOMING_TTS_IDLE_TIMEOUT": "5",
        "WYOMING_TTS_DEBUG": "on",
        "WYOMING_TTS_LOG_FORMAT": "%(message)s",
        "WYOMING_TTS_WEB_URI": "tcp://0.0.0.0:8099",
        "WYOMING_TTS_WEB_TOKEN": "token-from-the-variable",
        "WYOMING_TTS_WEB_TOKEN_FILE": str(tmp_path / "token"),
        "WYOMING_TTS_WEB_ALLOW": "172.30.32.2,10.0.0.0/8",
    }
    (tmp_path / "token").write_text("token-from-the-file\n")
    flags = set(build_parser().twins())
    assert {"--" + k.removeprefix("WYOMING_TTS_").lower().replace("_", "-") for k in env} == flags
    s = parse_settings([], env)
    assert s.uri == "tcp://127.0.0.1:10300"
    assert s.models == (ModelSpec("english_18m_2026-10", "en"), ModelSpec("german", "de"))
    assert s.voice == "alba" and s.language_voices == (("de", "juergen"),)
    assert s.voices_dirs == (tmp_path,) and s.data_dir == tmp_path / "data"
    assert (s.zeroconf, s.zeroconf_host) == ("kitchen", "192.168.1.5")
    assert s.quantize and s.preload and s.debug and not s.normalize
    assert (s.threads, s.samples_per_chunk, s.max_queue, s.max_text_chars) == (2, 960, 7, 500)
    assert (s.volume, s.sentence_silence, s.max_models, s.voice_cache_mb) == (1.5, 0.3, 3, 64)
    assert s.speed == 0.9 and not s.loudness_match and s.audio_cache_mb == 0
    assert s.idle_timeout == 5.0 and s.log_format == "%(message)s" and s.max_batch == 3
    assert s.web_uri == "tcp://0.0.0.0:8099" and s.web_token == "token-from-the-file"
    assert s.web_allow == ("172.30.32.2", "10.0.0.0/8")


def test_flags_win_over_environment() -> None:
    s = parse_settings(["--voice", "marius", "--max-queue", "2"], {"WYOMING_TTS_MAX_QUEUE": "9"})
    assert s.voice == "marius" and s.max_queue == 2


def test_quantize_is_on_for_x86_by_default_and_can_be_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert parse_settings([], {}).quantize is True
    assert parse_settings(["--no-quantize"], {}).quantize is False
    assert parse_settings([], {"WYOMING_TTS_QUANTIZE": "false"}).quantize is False
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert parse_settings([], {}).quantize is False
    assert parse_settings(["--quantize"], {}).quantize is True


def test_zeroconf_without_name() -> None:
    assert parse_settings(["--zeroconf"], {}).zeroconf == ""
    assert parse_settings([], {}).zeroconf is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("english", ModelSpec("english", "en")),
        ("german_24l", ModelSpec("german_24l", "de")),
        ("/models/mine.yaml", ModelSpec("/models/mine.yaml", "en")),
        ("fr=/models/mine.yaml", ModelSpec("/models/mine.yaml", "fr")),
        ("https://example.org/m.yaml", ModelSpec("https://example.org/m.yaml", "en")),
        ("nl=hf://someone/model/config.yaml", ModelSpec("hf://someone/model/config.yaml", "nl")),
    ],
)
def test_model_spec(value: str, expected: ModelSpec) -> None:
    assert ModelSpec.parse(value) == expected


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--threads", "0"], {}, "--threads must be between 1 and 64"),
        (["--max-batch", "0"], {}, "--max-batch must be between 1 and 16"),
        (["--volume", "9"], {}, "--volume must be between"),
        (["--uri", "http://x"], {}, "use tcp://HOST:PORT"),
        (["--uri", "tcp://host"], {}, "needs a host and a port"),
        (["--model", "xx=/m.yaml"], {}, "Unknown language 'xx'"),
        (["--voice", "zz=bob"], {}, "unknown language 'zz'"),
        (["--voices-dir", "/no/such/folder"], {}, "is not a folder"),
        ([], {"WYOMING_TTS_QUANTIZE": "maybe"}, "use true or false"),
    ],
)
def test_bad_values_say_what_to_do(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings(argv, env)
