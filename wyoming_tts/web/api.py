"""The voice page's JSON API: list, add, delete and tune voices, speak, show the spoken text.

It enters the server at the same doors as a Wyoming request: the voices' owner
(`engine.voicebook`) and the one request door (`engine.front`), whose text path is the one
every door uses. Everything that blocks (decoding an
upload, encoding a voice, scanning folders) runs in a thread. Nothing in a request names a path:
an upload is stored under a validated name in the custom voices folder, decoded and checked in
memory first, so a rejected upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.datastructures import UploadFile

from wyoming_tts.audio import RateError, check_rate
from wyoming_tts.audio.encoders import wav_header
from wyoming_tts.engine.front import Front
from wyoming_tts.engine.models import VoiceError
from wyoming_tts.engine.speech import SpeechRequest
from wyoming_tts.engine.synthesis import EngineBusy, SynthesisError
from wyoming_tts.engine.voicebook import VoiceBook, VoiceRejected
from wyoming_tts.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from wyoming_tts.preferences import MAX_VOLUME, MIN_VOLUME
from wyoming_tts.settings import Settings
from wyoming_tts.text import TextTooLong, whole_text_segments
from wyoming_tts.voices import Voice
from wyoming_tts.web.bodies import BodyError, json_body, read_bounded
from wyoming_tts.web.guard import HEADERS, TOKEN_COOKIE, refusal, token_ok
from wyoming_tts.web.speech_api import OpenAIError, add_routes, error_response

_LOGGER = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # 10 s of 48 kHz stereo WAV is under 2 MB
MIN_UPLOAD_SECONDS = 1.0
MAX_UPLOAD_SECONDS = 30.0  # Pocket TTS uses a few seconds; more only costs encoding time
MIN_UPLOAD_RATE = 8000
MAX_UPLOAD_RATE = 48000  # a microphone's; Pocket TTS resamples to 24 kHz anyway
MAX_UPLOAD_CHANNELS = 2
SILENCE_RMS = 1e-3  # below this the recording holds no speech
MAX_SPEAK_CHARS = 1000
SAMPLE_TEXT = "Hello! This is how I sound. It is twenty one degrees in the living room."
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
MAX_JSON_BYTES = 64 * 1024  # a voice's settings, or a test sentence


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(front: Front, settings: Settings, voices_dir: Path) -> FastAPI:
    """The page and its API, through FRONT; uploads go to VOICES_DIR."""
    book = VoiceBook(front.models)
    app = FastAPI(title="wyoming-tts voices", docs_url=None, redoc_url=None, openapi_url=None)
    static = files("wyoming_tts.web").joinpath("static")
    # Read once: a fixed list, so no path from a request is ever opened, and no file I/O on
    # the event loop per request.
    assets = {
        name: static.joinpath(name).read_text(encoding="utf-8")
        for name in ("index.html", "app.js", "style.css")
    }

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, err: ApiError) -> JSONResponse:
        front.refused("page", str(err.status))
        return JSONResponse({"error": str(err)}, status_code=err.status)

    @app.exception_handler(VoiceRejected)
    async def voice_rejected(_request: Request, err: VoiceRejected) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=400)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        refused = refusal(request, settings.web_token, settings.web_allow)
        if refused is not None:
            status, message = refused
            if request.url.path.startswith("/v1/"):
                response: Response = error_response(OpenAIError(status, message))
            else:
                response = JSONResponse({"error": message}, status)
        else:
            response = await call_next(request)
            token = request.query_params.get("token")
            if settings.web_token and token and token_ok(request, settings.web_token):
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        response.headers.update(HEADERS)
        return response

    @app.exception_handler(BodyError)
    async def body_error(_request: Request, err: BodyError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=err.status)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(front.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if book.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "loading"}, status_code=503)

    add_routes(app, front, book)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(assets["index.html"])

    @app.get("/static/{name}")
    async def asset(name: str) -> Response:
        types = {"app.js": "text/javascript", "style.css": "text/css"}
        if name not in types:
            raise ApiError(404, "No such file.")
        return Response(assets[name], media_type=types[name])

    @app.get("/api/voices")
    async def list_voices() -> dict[str, Any]:
        voices = await book.voices()
        return {"voices": [_voice_json(book, v) for v in voices], "languages": book.languages()}

    @app.post("/api/voices", status_code=201)
    async def add_voice(request: Request) -> dict[str, str]:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 65536:
            # Read (and drop) a bounded part of it first, so that the client, still sending,
            # gets the answer rather than a reset connection.
            drained = 0
            async for chunk in request.stream():
                drained += len(chunk)
                if drained > 4 * MAX_UPLOAD_BYTES:
                    break
            raise ApiError(413, f"The file is over {MAX_UPLOAD_BYTES // 1048576} MB; send less.")
        try:  # the whole form within the cap, however it is sent (chunked too)
            raw = await read_bounded(request, MAX_UPLOAD_BYTES + 65536)
        except BodyError as err:
            raise ApiError(
                413, f"The file is over {MAX_UPLOAD_BYTES // 1048576} MB; send less."
            ) from err

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
        name = str(form.get("name") or "").strip()
        language = str(form.get("language") or book.primary).strip()
        audio = form.get("audio")
        if not isinstance(audio, UploadFile):
            raise ApiError(400, "Send the recording as the form field 'audio'.")
        data = await audio.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(413, f"The file is over {MAX_UPLOAD_BYTES // 1048576} MB; send less.")
        if language not in book.languages():
            raise ApiError(400, f"No model speaks {language!r}; use one of {book.languages()}.")
        _check_name(name)
        if await book.find(name) is not None:
            raise ApiError(400, f"A voice named {name!r} exists already; pick another name.")
        wav = await asyncio.to_thread(_checked_wav, data)
        await book.add(voices_dir, name, language, wav)
        return {"name": name}

    @app.delete("/api/voices/{name}", status_code=204)
    async def delete_voice(name: str) -> Response:
        voice = await book.find(name)
        if voice is None:
            raise ApiError(404, f"There is no voice named {name!r}.")
        await book.delete(voice)
        return Response(status_code=204)

    @app.put("/api/voices/{name}")
    async def tune_voice(name: str, request: Request) -> dict[str, Any]:
        body = await json_body(request, MAX_JSON_BYTES)
        voice = await book.find(name)
        if voice is None:
            raise ApiError(404, f"There is no voice named {name!r}.")
        if "volume" in body:
            volume = body["volume"]
            if isinstance(volume, bool) or not isinstance(volume, (int, float)):
                raise ApiError(400, "'volume' must be a number.")
            if not MIN_VOLUME <= volume <= MAX_VOLUME:
                raise ApiError(400, f"'volume' must be between {MIN_VOLUME} and {MAX_VOLUME}.")
            await book.set_volume(voice, float(volume))
        if "speed" in body:
            try:
                speed = check_rate(body["speed"])
            except RateError as err:
                raise ApiError(400, str(err)) from err
            await book.set_speed(voice, speed)
        if body.get("default") is True:
            await book.make_default(voice)
        return _voice_json(book, voice)

    @app.get("/api/normalize")
    async def normalize(text: str = "", language: str = "") -> dict[str, Any]:
        language = book.served_language(language)
        try:
            parts = await asyncio.to_thread(
                whole_text_segments, text, language, settings.text_options
            )
        except TextTooLong as err:
            raise ApiError(400, str(err)) from err
        segments = [p for p in parts if isinstance(p, str)]
        return {"language": language, "text": " ".join(segments), "segments": segments}

    @app.get("/api/stats")
    async def stats() -> dict[str, Any]:
        return {"requests": [asdict(r) for r in book.recent()]}

    @app.post("/api/speak")
    async def speak(request: Request) -> StreamingResponse:
        body = await json_body(request, MAX_JSON_BYTES)
        text = body.get("text") or SAMPLE_TEXT
        name = body.get("voice")
        if not isinstance(text, str) or (name is not None and not isinstance(name, str)):
            raise ApiError(400, "Send {'text': '...', 'voice': 'name'}.")
        return await _speak(front, text, name or None)

    return app


def _voice_json(book: VoiceBook, voice: Voice) -> dict[str, Any]:
    return {
        "name": voice.name,
        "description": voice.description,
        "languages": [voice.language],
        "custom": voice.kind != "builtin",
        "default": book.is_default(voice),
        "volume": book.volume(voice),
        "speed": book.speed(voice),
    }


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise ApiError(
            400,
            "Name the voice with 1 to 40 letters, digits, '-' or '_', starting with a letter "
            "or a digit.",
        )


def _checked_wav(data: bytes) -> bytes:
    """The upload as a 16-bit mono WAV, after checking it is audio of a usable length.

    The header is checked first (rate, channels, declared length), and at most
    MAX_UPLOAD_SECONDS are decoded, so a small file that declares hours of audio, or many
    channels at a huge rate, costs no memory: decoded, an upload is at most
    MAX_UPLOAD_SECONDS x MAX_UPLOAD_RATE x MAX_UPLOAD_CHANNELS x 4 bytes (11.5 MB).
    """
    unreadable = "The file is not audio this server can read; send a WAV, FLAC, OGG or MP3."
    try:
        info = soundfile.info(io.BytesIO(data))
    except Exception as err:
        raise ApiError(400, unreadable) from err
    if not MIN_UPLOAD_RATE <= info.samplerate <= MAX_UPLOAD_RATE:
        raise ApiError(
            400, f"The recording's sample rate is {info.samplerate} Hz; use 8 to 48 kHz."
        )
    if not 1 <= info.channels <= MAX_UPLOAD_CHANNELS:
        raise ApiError(400, f"The recording has {info.channels} channels; use mono or stereo.")
    if info.frames > MAX_UPLOAD_SECONDS * info.samplerate * 1.01:
        raise ApiError(
            400, f"The recording is {info.duration:.0f} s; {MAX_UPLOAD_SECONDS:.0f} s at most."
        )
    try:
        samples, rate = soundfile.read(
            io.BytesIO(data),
            dtype="float32",
            always_2d=True,
            frames=int(MAX_UPLOAD_SECONDS * info.samplerate) + 1,
        )
    except Exception as err:
        raise ApiError(400, unreadable) from err
    seconds = len(samples) / rate if rate else 0.0
    if seconds < MIN_UPLOAD_SECONDS:
        raise ApiError(400, f"The recording is {seconds:.1f} s; record 5 to 10 s of speech.")
    if seconds > MAX_UPLOAD_SECONDS:
        raise ApiError(
            400, f"The recording is {seconds:.0f} s; {MAX_UPLOAD_SECONDS:.0f} s at most."
        )
    mono = samples.mean(axis=1)
    if float(np.sqrt(np.mean(np.square(mono)))) < SILENCE_RMS:
        raise ApiError(400, "The recording is silent; check the microphone and try again.")
    out = io.BytesIO()
    soundfile.write(out, mono, rate, subtype="PCM_16", format="WAV")
    return out.getvalue()


async def _speak(front: Front, text: str, name: str | None) -> StreamingResponse:
    try:
        speech = await front.open(SpeechRequest("page", name, max_chars=MAX_SPEAK_CHARS))
        speech.speak_whole(text)
        fmt = await speech.start()
    except TextTooLong as err:
        raise ApiError(400, str(err)) from err
    except EngineBusy as err:
        raise ApiError(429, f"The server is busy ({err}); try again in a moment.") from err
    except VoiceError as err:
        raise ApiError(400, str(err)) from err

    async def body() -> AsyncIterator[bytes]:
        try:
            yield wav_header(fmt.rate)
            async for pcm in speech.synthesis.audio():
                yield pcm
        except SynthesisError as err:
            _LOGGER.warning("The page's test sentence failed: %s", err)
        finally:
            speech.synthesis.cancel()
            await speech.close()

    return StreamingResponse(body(), media_type="audio/wav")
