"""The OpenAI-compatible speech API: `POST /v1/audio/speech`, `GET /v1/models`, the voices.

Open WebUI, agents and scripts that speak OpenAI's speech API use the same voices as Home
Assistant, through the same request door (`engine.front`) and the same scheduler: their
requests share the queue limit and the batch rows with the satellites, and stop when the HTTP
client leaves. Audio leaves as frames are made: `wav` (a header, then PCM) and `pcm` as they
are, mp3 in-process, the other formats through an ffmpeg process that encodes as it reads
(see `encoders`). Errors have OpenAI's error shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from wyoming_tts import __version__
from wyoming_tts.audio import RateError, check_rate, encoders
from wyoming_tts.engine.front import Front
from wyoming_tts.engine.models import VoiceError
from wyoming_tts.engine.speech import SpeechRequest
from wyoming_tts.engine.synthesis import EngineBusy, SynthesisError
from wyoming_tts.engine.voicebook import VoiceBook
from wyoming_tts.text import TextTooLong
from wyoming_tts.web.bodies import BodyError, json_body

_LOGGER = logging.getLogger(__name__)

MODEL_IDS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "pocket-tts")
# OpenAI's own voice names: each speaks with the server's default voice of the language.
OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
     "verse"}
)  # fmt: skip
MAX_SPEECH_BODY = 64 * 1024  # an `input` of 4096 characters (OpenAI's limit) fits with room
RETRY_AFTER_SECONDS = "1"


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code or ("server_busy" if status == 503 else "invalid_request")


def error_response(err: OpenAIError) -> JSONResponse:
    kind = "server_error" if err.status >= 500 else "invalid_request_error"
    body = {"error": {"message": str(err), "type": kind, "param": err.param, "code": err.code}}
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if err.status == 503 else None
    return JSONResponse(body, status_code=err.status, headers=headers)


def add_routes(app: FastAPI, front: Front, book: VoiceBook) -> None:
    """The speech API's routes on APP."""

    @app.exception_handler(OpenAIError)
    async def openai_error(_request: Request, err: OpenAIError) -> JSONResponse:
        front.refused("http", err.code)
        return error_response(err)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "owned_by": "wyoming-tts"} for m in MODEL_IDS],
        }

    @app.get("/v1/audio/voices")
    async def voices() -> dict[str, Any]:
        listed = await book.voices()
        return {
            "voices": [
                {"id": v.name, "name": v.name, "languages": [v.language],
                 "description": v.description}
                for v in listed
            ]
        }  # fmt: skip

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> StreamingResponse:
        try:
            body = await json_body(request, MAX_SPEECH_BODY)
        except BodyError as err:
            raise OpenAIError(err.status, str(err)) from err
        return await _speak(front, await _parse(body, book))


@dataclass(frozen=True)
class _Asked:
    text: str
    voice: str | None
    fmt: str
    speed: float
    ssml: bool


async def _parse(body: dict[str, Any], book: VoiceBook) -> _Asked:
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise OpenAIError(400, "Send the text to speak as 'input' (a non-empty string).", "input")
    model = body.get("model", "tts-1")
    if not isinstance(model, str):
        raise OpenAIError(400, "'model' must be a string such as \"tts-1\".", "model")
    fmt = body.get("response_format", "mp3")
    if fmt not in encoders.FORMATS:
        raise OpenAIError(
            400,
            f"'response_format' must be one of {', '.join(encoders.FORMATS)}.",
            "response_format",
        )
    if fmt not in encoders.served():
        raise OpenAIError(
            400, f"{fmt} needs ffmpeg, which this server lacks; ask for mp3, wav or pcm.",
            "response_format",
        )  # fmt: skip
    try:
        speed = check_rate(body.get("speed", 1.0))
    except RateError as err:
        raise OpenAIError(400, str(err), "speed") from err
    text_format = body.get("text_format", "text")
    if text_format not in ("text", "ssml"):
        raise OpenAIError(400, '\'text_format\' must be "text" or "ssml".', "text_format")
    # SSML when the client says so, or when the input is an SSML document.
    ssml = text_format == "ssml" or text.lstrip()[:6].lower() == "<speak"
    voice = body.get("voice")
    if isinstance(voice, dict):  # newer clients send {"id": "..."}
        voice = voice.get("id")
    if voice is not None and not isinstance(voice, str):
        raise OpenAIError(400, "'voice' must be a voice name.", "voice")
    if voice is None or voice.lower() in OPENAI_VOICES:
        return _Asked(text, None, str(fmt), speed, ssml)
    if await book.find(voice) is None:
        names = ", ".join(v.name for v in await book.voices())
        raise OpenAIError(
            400, f"There is no voice named {voice[:80]!r}; use one of: {names}.", "voice"
        )
    return _Asked(text, voice, str(fmt), speed, ssml)


async def _speak(front: Front, asked: _Asked) -> StreamingResponse:
    fmt = asked.fmt
    try:
        request = SpeechRequest("http", asked.voice, speed=asked.speed, ssml=asked.ssml)
        speech = await front.open(request)
        speech.speak_whole(asked.text)
        audio_format = await speech.start()
    except TextTooLong as err:
        raise OpenAIError(400, str(err), "input", "text_too_long") from err
    except EngineBusy as err:
        raise OpenAIError(503, f"The server is busy ({err}); try again in a moment.") from err
    except VoiceError as err:
        raise OpenAIError(400, str(err), "voice") from err

    async def pcm() -> AsyncIterator[bytes]:
        async for chunk in speech.synthesis.audio():
            yield chunk

    async def body() -> AsyncIterator[bytes]:
        try:
            async for data in encoders.encode(pcm(), fmt, audio_format.rate):
                yield data
        except SynthesisError as err:
            _LOGGER.warning("A speech API request failed: %s", err)
        finally:
            speech.synthesis.cancel()  # the client left, or all is sent: the row is freed
            await speech.close()

    return StreamingResponse(
        body(), media_type=encoders.MEDIA_TYPES[fmt], headers={"X-Wyoming-TTS": __version__}
    )
