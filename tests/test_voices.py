"""Voices and languages: the catalogue, custom voices, the voice-state cache, several models."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from tests.conftest import (
    FakeModel,
    audio_bytes,
    client,
    fake_models,
    free_port,
    read_until,
    running,
    with_settings,
)
from wyoming_tts.__main__ import App
from wyoming_tts.pocket.random_model import tiny_config, write_voice
from wyoming_tts.settings import ModelSpec, Settings


@pytest.fixture(scope="module")
def languages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three tiny models (en, de, fr) and a voice folder with a voice in each language."""
    folder = tmp_path_factory.mktemp("languages")
    configs = {lang: tiny_config(folder, name=f"tiny-{lang}") for lang in ("en", "de", "fr")}
    return {**configs, "folder": folder}


def _voices(tmp_path: Path) -> Path:
    voices = tmp_path / "voices"
    write_voice(voices / "hummer.wav")
    write_voice(voices / "de" / "anna.wav", pitch=300)
    write_voice(voices / "fr" / "amelie.wav", pitch=260)
    return voices


def _settings(languages: dict[str, Path], tmp_path: Path, **changes: object) -> Settings:
    settings = Settings(
        uri=f"tcp://127.0.0.1:{free_port()}",
        models=tuple(ModelSpec(str(languages[lang]), lang) for lang in ("en", "de", "fr")),
        voice="hummer",
        voices_dirs=(_voices(tmp_path),),
        data_dir=tmp_path / "data",
    )
    return with_settings(settings, **changes)


async def _info(app: App) -> Info:
    async with client(app) as conn:
        await conn.write_event(Describe().event())
        return Info.from_event((await read_until(conn, "info"))[-1])


async def _speak(app: App, text: str, voice: str | None = None) -> list:
    async with client(app) as conn:
        request = Synthesize(text, voice=SynthesizeVoice(name=voice) if voice else None)
        await conn.write_event(request.event())
        return await read_until(conn, "audio-stop")


def _voice_languages(info: Info) -> dict[str, list[str]]:
    return {voice.name: voice.languages for voice in info.tts[0].voices}


async def test_each_voice_has_its_own_language(languages: dict[str, Path], tmp_path: Path) -> None:
    async with running(_settings(languages, tmp_path)) as app:
        info = await _info(app)
    assert _voice_languages(info) == {"hummer": ["en"], "anna": ["de"], "amelie": ["fr"]}
    descriptions = {v.name: v.description for v in info.tts[0].voices}
    assert descriptions["anna"] == "anna (German, custom)"


async def test_models_load_lazily_and_the_least_recently_used_is_unloaded(
    languages: dict[str, Path], tmp_path: Path
) -> None:
    async with running(_settings(languages, tmp_path, max_models=2)) as app:
        assert app.models.loaded == ["en"]  # only the default model at start
        assert audio_bytes(await _speak(app, "Guten Morgen, wie geht es?", "anna")) > 0
        assert sorted(app.models.loaded) == ["de", "en"]
        assert audio_bytes(await _speak(app, "Bonjour tout le monde.", "amelie")) > 0
        assert sorted(app.models.loaded) == ["en", "fr"]  # de was the least recently used
        assert audio_bytes(await _speak(app, "Und wieder Deutsch hier.", "anna")) > 0
        assert sorted(app.models.loaded) == ["de", "en"]


async def test_preload_loads_every_model_at_start(
    languages: dict[str, Path], tmp_path: Path
) -> None:
    async with running(_settings(languages, tmp_path, preload=True, max_models=3)) as app:
        assert sorted(app.models.loaded) == ["de", "en", "fr"]


async def test_default_voice_per_language(languages: dict[str, Path], tmp_path: Path) -> None:
    voices = _voices(tmp_path)
    write_voice(voices / "de" / "bernd.wav", pitch=180)
    settings = _settings(languages, tmp_path, language_voices=(("de", "bernd"),))
    async with running(settings) as app:
        assert app.models.default_voice().name == "hummer"  # no voice: the first model's
        assert app.models.default_voice("de").name == "bernd"
        assert app.models.default_voice("fr").name == "amelie"  # no choice: its first voice


async def test_voice_added_and_removed_while_serving(
    languages: dict[str, Path], tmp_path: Path
) -> None:
    settings = _settings(languages, tmp_path)
    async with running(settings) as app:
        assert "newcomer" not in _voice_languages(await _info(app))
        write_voice(settings.voices_dirs[0] / "de" / "newcomer.flac")
        assert _voice_languages(await _info(app))["newcomer"] == ["de"]
        assert audio_bytes(await _speak(app, "Ich bin neu hier.", "newcomer")) > 0
        (settings.voices_dirs[0] / "de" / "newcomer.flac").unlink()
        assert "newcomer" not in _voice_languages(await _info(app))


async def test_encoded_voices_are_cached_on_disk_and_reused_after_restart(
    tiny_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = tiny_settings
    async with running(settings) as app:
        assert app.models.states.encodings == 1  # the default voice, at start
        await _speak(app, "Hello again, hummer.", "hummer")
        assert app.models.states.encodings == 1  # memory
    cached = list((settings.data_dir / "voice-states").glob("*.safetensors"))
    assert len(cached) == 1
    digest, model_id, version = cached[0].stem.split("-", 2)
    assert len(digest) == 64 and model_id.startswith("tiny.") and version == "4.0.1"

    async with running(settings) as app:
        assert app.models.states.encodings == 0  # disk: no re-encoding after a restart
        assert audio_bytes(await _speak(app, "Hello from the cache.")) > 0

    cached[0].write_bytes(b"not a safetensors file")
    with caplog.at_level(logging.WARNING):
        async with running(settings) as app:
            assert app.models.states.encodings == 1  # a corrupt cached state is rebuilt
            assert audio_bytes(await _speak(app, "Hello after repair.")) > 0
    assert "unreadable" in caplog.text
    assert cached[0].read_bytes()[:8] != b"not a sa"


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "https://example.com/voice.wav",
        "hf://kyutai/tts-voices/alba-mackenna/casual.wav",
        "voices/hummer.wav",
        "hummer.wav",
        "alba\x00",
        "x" * 5000,
    ],
)
async def test_a_voice_name_never_becomes_a_path_or_url(
    tiny_server: App, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    encodings = tiny_server.models.states.encodings
    default = await _speak(tiny_server, "Hello there my friend.")
    with caplog.at_level(logging.WARNING):
        events = await _speak(tiny_server, "Hello there my friend.", name)
    assert events[-1].type == "audio-stop"
    assert audio_bytes(events) == audio_bytes(default)  # the default voice spoke
    assert tiny_server.models.states.encodings == encodings  # nothing new was read or encoded
    assert tiny_server.models.catalog.get(name) is None
    assert "using the default voice" in caplog.text


async def test_a_broken_voice_file_is_logged_once_and_not_listed(
    tiny_server: App, tiny: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    broken = tiny["voices"] / "broken.wav"
    short = tiny["voices"] / "short.wav"
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    write_voice(short, seconds=0.3)
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                voices = _voice_languages(await _info(tiny_server))
                assert "broken" not in voices and "short" not in voices
        assert caplog.text.count("broken.wav is not usable") == 1
        assert "only 0.3 s" in caplog.text
        events = await _speak(tiny_server, "Still serving normally.", "broken")
        assert events[-1].type == "audio-stop"
    finally:
        broken.unlink()
        short.unlink()


async def test_audio_voices_hidden_without_cloning_weights(
    fake_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    voices = tmp_path / "voices"
    write_voice(voices / "cloned.wav")
    save_file({"transformer.layers.0/cache": np.zeros((2, 1, 4, 1, 2), np.float32)},
              str(voices / "exported.safetensors"))  # fmt: skip
    settings = with_settings(fake_settings, voices_dirs=(voices,))
    model = FakeModel()
    model.can_clone = False
    with caplog.at_level(logging.WARNING):
        async with running(settings, fake_models(settings, model)) as app:
            names = set(_voice_languages(await _info(app)))
    assert "exported" in names and "fake" in names
    assert "cloned" not in names
    assert caplog.text.count("has no voice-cloning weights") == 1


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wyoming_tts", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


async def test_export_voice_then_serve_it(tiny: dict[str, Path], tmp_path: Path) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    out = voices / "exported.safetensors"
    result = _cli(
        "export-voice", str(tiny["voices"] / "hummer.wav"), str(out),
        "--model", str(tiny["config"]), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    shutil.copy(tiny["voices"] / "hummer.wav", voices / "hummer.wav")
    settings = Settings(
        uri=f"tcp://127.0.0.1:{free_port()}",
        models=(ModelSpec(str(tiny["config"]), "en"),),
        voice="exported",
        voices_dirs=(voices,),
        data_dir=tmp_path / "data",
    )
    async with running(settings) as app:
        assert app.models.states.encodings == 0  # a state file is loaded, not encoded
        exported = await _speak(app, "Hello from the exported voice.", "exported")
        original = await _speak(app, "Hello from the exported voice.", "hummer")
    assert audio_bytes(exported) == audio_bytes(original) > 0


def test_export_voice_refuses_bad_arguments(tmp_path: Path) -> None:
    missing = _cli("export-voice", str(tmp_path / "none.wav"), str(tmp_path / "x.safetensors"))
    assert missing.returncode == 1 and "is not a file" in missing.stderr
    (tmp_path / "a.wav").write_bytes(b"x")
    wrong = _cli("export-voice", str(tmp_path / "a.wav"), str(tmp_path / "x.pt"))
    assert wrong.returncode == 1 and "must end in .safetensors" in wrong.stderr


def test_download(tiny: dict[str, Path], tmp_path: Path) -> None:
    ok = _cli("download", "--model", str(tiny["config"]), "--data-dir", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    offline = _cli("download", "--model", "english", "--data-dir", str(tmp_path))
    assert offline.returncode == 1
    last = offline.stderr.strip().splitlines()[-1]
    assert last.startswith("wyoming-tts: error:") and "Traceback" not in offline.stderr
