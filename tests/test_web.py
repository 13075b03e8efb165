"""The voice page's API against the real server on free ports, with the tiny real model."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
from wyoming.info import Describe
from wyoming.tts import Synthesize

from tests.conftest import (
    FakeModel,
    audio_bytes,
    client,
    fake_models,
    free_port,
    read_until,
    running,
)
from wyoming_tts.__main__ import App
from wyoming_tts.pocket.random_model import write_voice
from wyoming_tts.preferences import Preferences
from wyoming_tts.settings import ModelSpec, Settings, SettingsError, parse_settings


def _request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


async def call(
    app: App, method: str, path: str, body: object = None, **headers: str
) -> tuple[int, object]:
    """One request to the page's API; (status, JSON or bytes)."""
    url = f"http://127.0.0.1:{_web_port(app)}{path}"
    data = None
    send_headers = dict(headers)
    if isinstance(body, tuple):  # (fields, files) for a multipart form
        data, content_type = _multipart(*body)
        send_headers["Content-Type"] = content_type
    elif body is not None:
        data = json.dumps(body).encode()
        send_headers["Content-Type"] = "application/json"
    status, response_headers, raw = await asyncio.to_thread(
        _request, url, method, data, send_headers
    )
    if response_headers.get("content-type", "").startswith("application/json"):
        return status, json.loads(raw)
    return status, raw


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(f"{value}\r\n".encode())
    for name, (filename, content) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _web_port(app: App) -> int:
    assert app.settings.web_uri is not None
    return int(app.settings.web_uri.rsplit(":", 1)[1])


def _wav(seconds: float = 3.0, amplitude: float = 0.3, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = amplitude * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    out = io.BytesIO()
    soundfile.write(out, samples.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


@pytest.fixture
def web_settings(tiny: dict[str, Path], tmp_path: Path) -> Settings:
    voices = tmp_path / "voices"
    write_voice(voices / "hummer.wav")
    return Settings(
        uri=f"tcp://127.0.0.1:{free_port()}",
        models=(ModelSpec(str(tiny["config"]), "en"),),
        voice="hummer",
        voices_dirs=(voices,),
        data_dir=tmp_path / "data",
        web_uri=f"tcp://127.0.0.1:{free_port()}",
    )


@pytest.fixture
async def web_app(web_settings: Settings) -> AsyncIterator[App]:
    async with running(web_settings) as app:
        yield app


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


async def _voice_names(app: App) -> list[str]:
    async with client(app) as conn:
        await conn.write_event(Describe().event())
        info = (await read_until(conn, "info"))[-1]
    return [v["name"] for program in info.data["tts"] for v in program["voices"]]


async def test_list_voices(web_app: App) -> None:
    status, body = await call(web_app, "GET", "/api/voices")
    assert status == 200
    assert body["voices"] == [  # type: ignore[index]
        {"name": "hummer", "description": "hummer (English, custom)", "languages": ["en"],
         "custom": True, "default": True, "volume": 1.0, "speed": 1.0}
    ]  # fmt: skip


async def test_upload_speak_over_wyoming_then_delete(web_app: App) -> None:
    voices = web_app.settings.voices_dirs[0]
    cache = web_app.settings.data_dir / "voice-states"
    cached_before = set(cache.glob("*.safetensors"))
    status, body = await call(
        web_app, "POST", "/api/voices", ({"name": "grandma"}, {"audio": ("g.wav", _wav())})
    )
    assert (status, body) == (201, {"name": "grandma"})
    assert "grandma" in await _voice_names(web_app)  # in Describe at once
    assert web_app.models is not None and web_app.models.states.encodings >= 1
    async with client(web_app) as conn:
        event = Synthesize("Hello from grandma.").event()
        event.data["voice"] = {"name": "grandma"}
        await conn.write_event(event)
        events = await read_until(conn, "audio-stop")
    assert audio_bytes(events) > 0
    assert len(set(cache.glob("*.safetensors")) - cached_before) == 1  # encoded once, cached

    status, _ = await call(web_app, "DELETE", "/api/voices/grandma")
    assert status == 204
    assert "grandma" not in await _voice_names(web_app)
    assert _files(voices) == ["hummer.wav"]
    assert set(cache.glob("*.safetensors")) == cached_before  # its cached state went too
    assert (await call(web_app, "DELETE", "/api/voices/grandma"))[0] == 404


@pytest.mark.parametrize(
    ("fields", "audio", "status", "message"),
    [
        ({"name": "../etc"}, _wav(), 400, "Name the voice"),
        ({"name": ""}, _wav(), 400, "Name the voice"),
        ({"name": "x" * 41}, _wav(), 400, "Name the voice"),
        ({"name": "noise"}, b"this is not audio at all" * 10, 400, "not audio"),
        ({"name": "quiet"}, _wav(amplitude=0.0), 400, "silent"),
        ({"name": "short"}, _wav(seconds=0.4), 400, "0.4 s"),
        ({"name": "long"}, _wav(seconds=40), 400, "30 s at most"),
        ({"name": "hummer"}, _wav(), 400, "exists already"),
        ({"name": "dutch", "language": "nl"}, _wav(), 400, "No model speaks"),
        ({"name": "huge"}, b"RIFF" + b"\0" * (11 * 1024 * 1024), 413, "over 10 MB"),
    ],
    ids=[
        "path",
        "empty-name",
        "long-name",
        "unreadable",
        "silent",
        "short",
        "long",
        "duplicate",
        "language",
        "too-big",
    ],
)
async def test_a_rejected_upload_says_why_and_leaves_nothing(
    web_app: App, fields: dict[str, str], audio: bytes, status: int, message: str
) -> None:
    voices = web_app.settings.voices_dirs[0]
    before = _files(voices)
    got, body = await call(web_app, "POST", "/api/voices", (fields, {"audio": ("a.wav", audio)}))
    assert got == status
    assert message in body["error"]  # type: ignore[index]
    assert _files(voices) == before
    assert "hummer" in await _voice_names(web_app)


async def test_upload_without_a_file(web_app: App) -> None:
    status, body = await call(web_app, "POST", "/api/voices", ({"name": "nofile"}, {}))
    assert status == 400 and "audio" in body["error"]  # type: ignore[index]


async def test_speak_returns_a_wav_as_it_is_made(web_app: App) -> None:
    status, body = await call(web_app, "POST", "/api/speak", {"text": "Hello there, friend."})
    assert status == 200 and isinstance(body, bytes)
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE" and len(body) > 44 + 1920 * 2
    status, body = await call(web_app, "POST", "/api/speak", {"text": "x" * 2000})
    assert status == 400
    status, body = await call(web_app, "POST", "/api/speak", {"text": 5})
    assert status == 400
    status, stats = await call(web_app, "GET", "/api/stats")
    assert status == 200 and stats["requests"][0]["first_audio_ms"] > 0  # type: ignore[index]


async def test_normalize_shows_the_spoken_text_and_segments(web_app: App) -> None:
    status, body = await call(
        web_app, "GET", "/api/normalize?text=It%20is%2021.5%20%C2%B0C.%20Call%20me%21&language=en"
    )
    assert status == 200
    assert body == {  # type: ignore[comparison-overlap]
        "language": "en",
        "text": "It is twenty-one point five degrees Celsius. Call me!",
        "segments": ["It is twenty-one point five degrees Celsius. Call me!"],
    }


async def test_default_voice_volume_and_rate_are_kept_across_restarts(
    web_settings: Settings,
) -> None:
    async with running(web_settings) as app:
        await call(app, "POST", "/api/voices", ({"name": "loud"}, {"audio": ("l.wav", _wav())}))
        status, body = await call(app, "PUT", "/api/voices/loud", {"volume": 0.5, "default": True})
        assert status == 200 and body["default"] is True and body["volume"] == 0.5  # type: ignore[index]
        status, body = await call(app, "PUT", "/api/voices/loud", {"speed": 1.2})
        assert status == 200 and body["speed"] == 1.2  # type: ignore[index]
        assert (await call(app, "PUT", "/api/voices/loud", {"volume": 9}))[0] == 400
        status, body = await call(app, "PUT", "/api/voices/loud", {"speed": 3})
        assert status == 400 and "from 0.5 to 2.0" in body["error"]  # type: ignore[index]
        assert (await call(app, "PUT", "/api/voices/nobody", {"volume": 1}))[0] == 404
    async with running(web_settings) as app:
        _, body = await call(app, "GET", "/api/voices")
        loud = next(v for v in body["voices"] if v["name"] == "loud")  # type: ignore[index]
        assert loud["default"] is True and loud["volume"] == 0.5 and loud["speed"] == 1.2
        assert app.models is not None and app.models.default_voice().name == "loud"


async def test_a_built_in_voice_cannot_be_deleted(fake_settings: Settings, tmp_path: Path) -> None:
    settings = replace(
        fake_settings, web_uri=f"tcp://127.0.0.1:{free_port()}", voices_dirs=(tmp_path,)
    )
    models = fake_models(settings, FakeModel())
    models.preferences = Preferences(tmp_path / "prefs.json")
    async with running(settings, models) as app:
        status, body = await call(app, "DELETE", "/api/voices/fake")
        assert status == 400 and "built-in" in body["error"]  # type: ignore[index]


async def test_a_token_guards_the_page(web_settings: Settings) -> None:
    token = "a-long-random-token-123"
    settings = replace(web_settings, web_token=token)
    async with running(settings) as app:
        status, body = await call(app, "GET", "/api/voices")
        assert status == 401 and "token" in body["error"]  # type: ignore[index]
        assert (await call(app, "GET", "/"))[0] == 401
        assert (await call(app, "GET", "/api/voices", Authorization=f"Bearer {token}"))[0] == 200
        assert (await call(app, "GET", f"/?token={token}"))[0] == 200
        assert (await call(app, "GET", "/api/voices?token=wrong-token-wrong"))[0] == 401


async def test_only_the_allowed_address_may_use_the_page(web_settings: Settings) -> None:
    async with running(replace(web_settings, web_allow=("172.30.32.2",))) as app:
        status, _ = await call(app, "GET", "/api/voices")
        assert status == 403
    async with running(replace(web_settings, web_allow=("127.0.0.0/8",))) as app:
        assert (await call(app, "GET", "/api/voices"))[0] == 200


async def test_with_a_token_other_addresses_may_come_and_allowed_ones_need_none(
    web_settings: Settings,
) -> None:
    """The app: its ingress proxy without a token; other hosts through its port, with one."""
    token = "a-long-random-token-for-the-api"
    elsewhere = replace(web_settings, web_allow=("172.30.32.2",), web_token=token)
    async with running(elsewhere) as app:  # the test's client is not the allowed address
        assert (await call(app, "GET", "/v1/models"))[0] == 401
        assert (await call(app, "GET", "/v1/models", Authorization=f"Bearer {token}"))[0] == 200
    trusted = replace(web_settings, web_allow=("127.0.0.0/8",), web_token=token)
    async with running(trusted) as app:
        assert (await call(app, "GET", "/api/voices"))[0] == 200


async def test_the_page_and_its_assets_are_served_and_nothing_else(web_app: App) -> None:
    status, html = await call(web_app, "GET", "/")
    assert status == 200 and b'src="static/app.js"' in html  # type: ignore[operator]
    assert b"http" not in html.replace(b"http-equiv", b"")  # type: ignore[union-attr]
    assert (await call(web_app, "GET", "/static/app.js"))[0] == 200
    assert (await call(web_app, "GET", "/static/..%2F..%2Fapi.py"))[0] == 404
    assert (await call(web_app, "GET", "/static/api.py"))[0] == 404


async def test_describe_is_answered_while_a_voice_is_encoded(
    web_app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = asyncio.create_task(
        call(web_app, "POST", "/api/voices", ({"name": "slow"}, {"audio": ("s.wav", _wav(25))}))
    )
    latencies = []
    while not upload.done() and len(latencies) < 200:
        started = time.monotonic()
        await _voice_names(web_app)
        latencies.append(time.monotonic() - started)
    status, _ = await upload
    assert status == 201 and latencies
    with capsys.disabled():
        print(f"\n[web] Describe while encoding: max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1.0


def test_the_page_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="--web-token"):
        parse_settings(["--web-uri", "tcp://0.0.0.0:8099"], {})
    with pytest.raises(SettingsError, match="16 characters"):
        parse_settings(["--web-uri", "tcp://0.0.0.0:8099", "--web-token", "short"], {})
    secret = tmp_path / "token"
    secret.write_text("a-long-random-token-123\n")
    settings = parse_settings([], {"WYOMING_TTS_WEB_URI": "tcp://0.0.0.0:8099",
                                   "WYOMING_TTS_WEB_TOKEN_FILE": str(secret)})  # fmt: skip
    assert settings.web_token == "a-long-random-token-123"
    allowed = parse_settings(["--web-uri", "tcp://0.0.0.0:8099", "--web-allow", "172.30.32.2"], {})
    assert allowed.web_allow == ("172.30.32.2",)
