"""The OpenAI-compatible speech API, health, and the guards of every HTTP door, tried with
real clients: the `openai` package, ffmpeg decoding what it got, plain HTTP requests."""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
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
from tests.test_web import _request, _web_port, call
from wyoming_tts.__main__ import App
from wyoming_tts.settings import Settings

TEXT = "The washing machine has finished. Please empty it soon."
FRAME = 1920  # one Pocket TTS frame at 24 kHz


@pytest.fixture(scope="module")
async def api_app(
    tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    from tests.conftest import tiny_server_settings

    settings = tiny_server_settings(
        tiny, tmp_path_factory.mktemp("api"), web_uri=f"tcp://127.0.0.1:{free_port()}"
    )
    async with running(settings) as app:
        yield app


def _url(app: App) -> str:
    return f"http://127.0.0.1:{_web_port(app)}"


def _decoded_samples(data: bytes) -> int:
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-f", "s16le",
         "-ac", "1", "-ar", "24000", "pipe:1"],
        input=data, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return len(result.stdout) // 2


def _openai_speech(app: App, fmt: str, voice: str = "hummer") -> tuple[bytes, int]:
    from openai import OpenAI

    api = OpenAI(base_url=f"{_url(app)}/v1", api_key="unused", max_retries=0, timeout=60)
    chunks = 0
    out = b""
    with api.audio.speech.with_streaming_response.create(
        model="tts-1",
        voice=voice,
        input=TEXT,
        response_format=fmt,  # type: ignore[arg-type]
    ) as response:
        for chunk in response.iter_bytes():
            chunks += 1
            out += chunk
    return out, chunks


async def _wyoming_samples(app: App) -> int:
    async with client(app) as conn:
        await conn.write_event(Synthesize(TEXT).event())
        return audio_bytes(await read_until(conn, "audio-stop")) // 2


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "aac", "flac"])
async def test_every_format_decodes_to_the_wyoming_duration(api_app: App, fmt: str) -> None:
    expected = await _wyoming_samples(api_app)
    data, _chunks = await asyncio.to_thread(_openai_speech, api_app, fmt)
    samples = await asyncio.to_thread(_decoded_samples, data)
    assert abs(samples - expected) <= FRAME, (fmt, samples, expected)


async def test_pcm_is_the_wyoming_audio_and_streams(api_app: App) -> None:
    expected = await _wyoming_samples(api_app)
    data, chunks = await asyncio.to_thread(_openai_speech, api_app, "pcm")
    assert len(data) // 2 == expected
    assert chunks > 1  # bytes left as frames were made, not in one piece


@pytest.mark.parametrize("speed", [0.8, 1.3, 2.0])
async def test_speed_scales_the_response(api_app: App, speed: float) -> None:
    expected = await _wyoming_samples(api_app) / speed
    status, data = await call(
        api_app, "POST", "/v1/audio/speech",
        {"model": "tts-1", "input": TEXT, "response_format": "pcm", "speed": speed},
    )  # fmt: skip
    assert status == 200 and isinstance(data, bytes)
    assert abs(len(data) // 2 - expected) <= 0.03 * expected


async def test_ssml_input_is_spoken_as_ssml(api_app: App) -> None:
    ssml = f'<speak>{TEXT} <break time="1s"/></speak>'
    status, data = await call(
        api_app, "POST", "/v1/audio/speech",
        {"model": "tts-1", "input": ssml, "response_format": "pcm"},
    )  # fmt: skip
    assert status == 200 and isinstance(data, bytes)
    plain = await _wyoming_samples(api_app)
    assert abs(len(data) // 2 - (plain + 24000)) <= FRAME  # the break, not the tag's text


async def test_models_and_voices_are_the_ones_describe_lists(api_app: App) -> None:
    status, models = await call(api_app, "GET", "/v1/models")
    assert status == 200 and "tts-1" in [m["id"] for m in models["data"]]  # type: ignore[index]
    status, voices = await call(api_app, "GET", "/v1/audio/voices")
    assert status == 200
    described = [(v.name, v.language) for v in await api_app.models.refresh_voices()]  # type: ignore[union-attr]
    listed = [(v["name"], v["languages"][0]) for v in voices["voices"]]  # type: ignore[index]
    assert listed == described


async def test_openai_voice_names_speak_with_the_default_voice(api_app: App) -> None:
    data, _ = await asyncio.to_thread(_openai_speech, api_app, "pcm", "alloy")
    assert len(data) // 2 == await _wyoming_samples(api_app)


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"input": TEXT, "voice": "nobody"}, "voice", "no voice named 'nobody'"),
        ({"input": TEXT, "speed": 4}, "speed", "from 0.5 to 2.0"),
        ({"input": TEXT, "speed": "fast"}, "speed", "must be a number"),
        ({"input": TEXT, "text_format": "html"}, "text_format", "'text_format'"),
        ({"input": TEXT, "response_format": "ogg-vorbis"}, "response_format", "must be one of"),
        ({"input": ""}, "input", "'input'"),
        ({"input": "x" * 10_001}, "input", "the limit is 10000"),
    ],
)
async def test_bad_requests_get_openais_error_shape(
    api_app: App, body: dict[str, object], param: str, words: str
) -> None:
    status, answer = await call(api_app, "POST", "/v1/audio/speech", {"model": "tts-1", **body})
    assert status == 400
    error = answer["error"]  # type: ignore[index]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert words in error["message"]


async def test_busy_is_503_with_retry_after(fake_settings: Settings, tmp_path: Path) -> None:
    settings = replace(
        fake_settings, web_uri=f"tcp://127.0.0.1:{free_port()}", voices_dirs=(tmp_path,)
    )
    model = FakeModel(frames=50)
    async with running(settings, fake_models(settings, model)) as app:
        model.gate = threading.Event()  # after the warm-up
        try:
            async with client(app) as one, client(app) as two:
                await one.write_event(Synthesize("Held by the gate.").event())
                await read_until(one, "audio-chunk")
                await two.write_event(Synthesize("Waiting for a row.").event())
                worker = app.models.worker("en")  # type: ignore[union-attr]
                async with asyncio.timeout(5):
                    while worker.queued < 2:  # both admitted: the queue (max 1 beside) is full
                        await asyncio.sleep(0.01)
                status, headers, raw = await asyncio.to_thread(
                    _request, f"{_url(app)}/v1/audio/speech", "POST",
                    json.dumps({"input": "One more.", "response_format": "pcm"}).encode(),
                    {"Content-Type": "application/json"},
                )  # fmt: skip
        finally:
            model.gate.set()
    assert status == 503 and headers.get("retry-after") == "1"
    assert json.loads(raw)["error"]["code"] == "server_busy"


async def test_an_http_client_that_leaves_frees_its_row(
    fake_settings: Settings, tmp_path: Path
) -> None:
    settings = replace(
        fake_settings, web_uri=f"tcp://127.0.0.1:{free_port()}", voices_dirs=(tmp_path,)
    )
    model = FakeModel(frames=500, delay=0.01)
    async with running(settings, fake_models(settings, model)) as app:

        def leave_after_first_bytes() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", _web_port(app), timeout=10)
            body = json.dumps({"input": "A long answer.", "response_format": "pcm"})
            conn.request("POST", "/v1/audio/speech", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200
            assert response.read(1000)
            conn.close()

        await asyncio.to_thread(leave_after_first_bytes)
        assert await asyncio.to_thread(model.stopped.wait, 5)


# -- the guards, on every door ------------------------------------------------------------------


def _raw(app: App, method: str, path: str, body: bytes | None = None, **headers: str):
    return _request(f"{_url(app)}{path}", method, body, headers)


async def test_a_rebound_host_name_is_refused(api_app: App) -> None:
    body = json.dumps({"input": TEXT, "response_format": "pcm"}).encode()
    for path, method, data in (("/v1/audio/speech", "POST", body), ("/api/voices", "GET", None)):
        status, _, raw = await asyncio.to_thread(
            _raw, api_app, method, path, data, Host="evil.example:8099",
            **{"Content-Type": "application/json"},
        )  # fmt: skip
        assert status == 403, path
        assert b"IP address or as localhost" in raw
    assert (await asyncio.to_thread(_raw, api_app, "GET", "/api/voices", None, Host="localhost"))[
        0
    ] == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
async def test_a_cross_site_request_is_refused(api_app: App, origin: str) -> None:
    body = json.dumps({"input": TEXT, "response_format": "pcm"}).encode()
    for path in ("/v1/audio/speech", "/api/speak"):
        status, _, _ = await asyncio.to_thread(
            _raw, api_app, "POST", path, body, Origin=origin, **{"Content-Type": "application/json"}
        )
        assert status == 403, path
    status, _, _ = await asyncio.to_thread(
        _raw, api_app, "DELETE", "/api/voices/hummer", None, Origin=origin
    )
    assert status == 403


async def test_the_servers_own_origin_may_speak_and_frames_are_refused(api_app: App) -> None:
    own = f"http://127.0.0.1:{_web_port(api_app)}"
    body = json.dumps({"text": "Hello."}).encode()
    status, headers, _ = await asyncio.to_thread(
        _raw,
        api_app,
        "POST",
        "/api/speak",
        body,
        Origin=own,
        **{"Content-Type": "application/json"},
    )
    assert status == 200
    assert headers.get("x-frame-options") == "SAMEORIGIN"


async def test_a_text_plain_body_is_not_taken_as_json(api_app: App) -> None:
    body = json.dumps({"text": "Hello."}).encode()
    status, _, raw = await asyncio.to_thread(
        _raw, api_app, "POST", "/api/speak", body, **{"Content-Type": "text/plain"}
    )
    assert status == 415 and b"application/json" in raw


async def test_json_bodies_are_bounded_and_nesting_is_a_400(api_app: App) -> None:
    big = json.dumps({"text": "x" * 200_000}).encode()
    status, _, _ = await asyncio.to_thread(
        _raw, api_app, "PUT", "/api/voices/hummer", big, **{"Content-Type": "application/json"}
    )
    assert status == 413

    def chunked() -> int:  # no Content-Length: the bound holds all the same
        conn = http.client.HTTPConnection("127.0.0.1", _web_port(api_app), timeout=30)
        parts = (b"[" * 1 + b"1," * 50_000 for _ in range(1))
        conn.request("POST", "/api/speak", body=(p for part in parts for p in (part,) * 4),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)  # fmt: skip
        status = conn.getresponse().status
        conn.close()
        return status

    assert await asyncio.to_thread(chunked) == 413
    nested = b"[" * 100_000 + b"]" * 100_000
    status, _, _ = await asyncio.to_thread(
        _raw, api_app, "POST", "/api/speak", nested, **{"Content-Type": "application/json"}
    )
    assert status in (400, 413)


async def test_health_and_readiness(api_app: App) -> None:
    assert await call(api_app, "GET", "/healthz") == (200, {"status": "ok"})
    assert await call(api_app, "GET", "/readyz") == (200, {"status": "ready"})


async def test_a_non_ascii_token_is_a_401(fake_settings: Settings, tmp_path: Path) -> None:
    settings = replace(
        fake_settings, web_uri=f"tcp://127.0.0.1:{free_port()}", voices_dirs=(tmp_path,),
        web_token="a-long-random-token-123",
    )  # fmt: skip
    async with running(settings, fake_models(settings, FakeModel())) as app:
        url = f"{_url(app)}/api/voices?token=%C3%A9t%C3%A9-long-token-1234"
        assert (await asyncio.to_thread(_request, url))[0] == 401
        assert (await asyncio.to_thread(_request, f"{_url(app)}/healthz"))[0] == 200


# -- uploads: bounded before anything is decoded ------------------------------------------------


def _audio(seconds: float, rate: int, channels: int, fmt: str = "WAV") -> bytes:
    import io

    import numpy as np
    import soundfile

    out = io.BytesIO()
    block = np.zeros((rate * 60, channels), dtype="int16")
    with soundfile.SoundFile(out, "w", rate, channels, format=fmt) as file:
        left = round(seconds * rate)
        while left > 0:
            file.write(block[: min(left, len(block))])
            left -= len(block)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_audio(3600, 8000, 1, "FLAC"), "3600 s; 30 s at most"),  # 0.09 MB declaring an hour
        (_audio(2, 96000, 1), "sample rate is 96000 Hz"),
        (_audio(2, 16000, 8), "8 channels"),
        (_audio(40, 8000, 1), "40 s; 30 s at most"),
    ],
)
async def test_an_upload_is_checked_by_its_header_first(
    api_app: App, data: bytes, words: str
) -> None:
    from tests.test_web import _multipart

    body, kind = _multipart({"name": "probe"}, {"audio": ("probe.flac", data)})
    status, _, raw = await asyncio.to_thread(
        _raw, api_app, "POST", "/api/voices", body, **{"Content-Type": kind}
    )
    assert status == 400 and words in json.loads(raw)["error"]
    assert "probe" not in [v.name for v in await api_app.models.refresh_voices()]  # type: ignore[union-attr]


async def test_a_chunked_upload_over_the_cap_is_refused_as_it_arrives(api_app: App) -> None:
    def send() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", _web_port(api_app), timeout=30)
        block = b"x" * (1 << 20)
        conn.request("POST", "/api/voices", body=(block for _ in range(12)),
                     headers={"Content-Type": "multipart/form-data; boundary=b"},
                     encode_chunked=True)  # fmt: skip
        status = conn.getresponse().status
        conn.close()
        return status

    assert await asyncio.to_thread(send) == 413


async def test_metrics_parse_and_count_every_door(api_app: App) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    await asyncio.to_thread(_openai_speech, api_app, "pcm")
    await _wyoming_samples(api_app)
    await call(api_app, "POST", "/v1/audio/speech", {"input": TEXT, "voice": "nobody"})
    status, raw = await call(api_app, "GET", "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(raw.decode())}  # type: ignore[union-attr]
    spoken = {
        s.labels["door"]: s.value
        for s in families["wyoming_tts_requests"].samples
        if s.name == "wyoming_tts_requests_total" and s.labels["outcome"] == "spoken"
    }
    assert spoken.get("http", 0) >= 1 and spoken.get("wyoming", 0) >= 1
    errors = [s for s in families["wyoming_tts_errors"].samples if s.name.endswith("_total")]
    assert any(s.labels == {"door": "http", "code": "invalid_request"} for s in errors)
    expected = ("first_audio_seconds", "real_time_factor", "queue_wait_seconds", "batch_rows",
                "voice_state_hits", "voice_state_encodings", "resident_memory_bytes",
                "model_load_seconds")  # fmt: skip
    for name in expected:
        assert f"wyoming_tts_{name}" in families, name
    hits = families["wyoming_tts_voice_state_hits"].samples[0].value
    assert hits >= 2
    assert families["wyoming_tts_resident_memory_bytes"].samples[0].value > 50e6


async def test_a_satellite_is_not_queued_behind_http_clients(api_app: App) -> None:
    """Two HTTP clients speak long texts; a satellite's short request joins their batch and is
    spoken to the end while both are still speaking (the same turn it gets beside two other
    satellites)."""
    long_text = " ".join([TEXT] * 12)
    body = json.dumps({"input": long_text, "response_format": "pcm"}).encode()
    first_bytes = [asyncio.Event(), asyncio.Event()]
    done: list[str] = []

    def speak(started: asyncio.Event, loop: asyncio.AbstractEventLoop) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", _web_port(api_app), timeout=60)
        conn.request("POST", "/v1/audio/speech", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.read(2)
        loop.call_soon_threadsafe(started.set)
        response.read()
        conn.close()
        done.append("http")

    loop = asyncio.get_running_loop()
    speaking = [asyncio.create_task(asyncio.to_thread(speak, e, loop)) for e in first_bytes]
    async with asyncio.timeout(30):
        for started in first_bytes:
            await started.wait()
    assert await _wyoming_samples(api_app) > 0
    done.append("satellite")
    await asyncio.gather(*speaking)
    assert done[0] == "satellite", done


async def test_mp3_needs_no_ffmpeg_and_the_others_say_what_is_served(
    api_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The images carry no ffmpeg: mp3, the API's default, is encoded in-process (LAME)."""
    from wyoming_tts.audio import encoders

    expected = await _wyoming_samples(api_app)
    monkeypatch.setattr(encoders, "have_ffmpeg", lambda: False)
    status, data = await call(
        api_app, "POST", "/v1/audio/speech", {"model": "tts-1", "input": TEXT}
    )
    assert status == 200 and isinstance(data, bytes) and data[:3] != b"RIF"
    samples = await asyncio.to_thread(_decoded_samples, data)  # the test machine's ffmpeg
    assert abs(samples - expected) <= FRAME, (samples, expected)
    status, error = await call(
        api_app, "POST", "/v1/audio/speech",
        {"model": "tts-1", "input": TEXT, "response_format": "opus"},
    )  # fmt: skip
    assert status == 400
    assert error["error"]["message"] == (  # type: ignore[index]
        "opus needs ffmpeg, which this server lacks; ask for mp3, wav or pcm."
    )
