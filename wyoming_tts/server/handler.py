"""One Wyoming connection: events in, events out. No torch and no text work of its own here.

Responses on one connection are written in order by a chain of tasks, so the reader keeps
reading while audio is sent: it sees a client that leaves at once and cancels its request.
Text, plain or streamed, goes through the one text path (`text.TextPipeline`). Every buffer of
a connection is bounded: responses pending (MAX_PENDING_RESPONSES), audio not yet read by the
client (the engine pauses such a request), and writes (a client that stops reading for
--idle-timeout seconds is dropped and its work cancelled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.server import AsyncEventHandler
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)

from wyoming_tts.engine.front import Front
from wyoming_tts.engine.models import AudioFormat, VoiceError
from wyoming_tts.engine.speech import Speech, SpeechRequest
from wyoming_tts.engine.synthesis import EngineBusy, Synthesis, SynthesisError
from wyoming_tts.server.framing import BadEvent, read_event
from wyoming_tts.settings import Settings
from wyoming_tts.text import TextTooLong

_LOGGER = logging.getLogger(__name__)

# Responses one connection may have waiting (Home Assistant sends one request a connection).
MAX_PENDING_RESPONSES = 8

InfoBuilder = Callable[[], Awaitable[Info]]


@dataclass(frozen=True)
class VoiceRequest:
    """What the client asked for: a voice name, a language, or neither (the default)."""

    name: str | None = None
    language: str | None = None


class TtsHandler(AsyncEventHandler):
    """Answer Describe and speak synthesis requests, plain or streamed."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        settings: Settings,
        front: Front,
        build_info: InfoBuilder,
    ) -> None:
        super().__init__(reader, writer)
        self.settings = settings
        self.front = front
        self.build_info = build_info
        self._tail: asyncio.Task[None] | None = None
        self._pending = 0
        self._stream: Speech | None = None
        self._active: set[Synthesis] = set()
        self._closing = False

    # -- reading --------------------------------------------------------------------------
    async def run(self) -> None:
        """Read events until the client leaves; drop a client idle in mid-request."""
        read: asyncio.Task[Event | None] | None = None
        try:
            while not self._closing:
                if read is None:
                    read = asyncio.ensure_future(read_event(self.reader))
                done, _ = await asyncio.wait({read}, timeout=self.settings.idle_timeout)
                if not done:
                    if self._idle_in_request():
                        _LOGGER.info(
                            "Dropping a client idle for %.0f s", self.settings.idle_timeout
                        )
                        break
                    continue
                try:
                    event = read.result()
                    read = None
                    if event is None or not await self.handle_event(event):
                        break
                except BadEvent as err:
                    read = None
                    await self._fail("bad-event", f"Malformed request: {err}.")
                    break
        except ConnectionError as err:
            _LOGGER.debug("Closing connection: %s", err)
        finally:
            if read is not None and not read.done():
                read.cancel()
            await self.disconnect()
            self.writer.close()

    def _idle_in_request(self) -> bool:
        """True when the client owes us something: a half-sent event or a streamed request."""
        responding = self._tail is not None and not self._tail.done()
        return self._stream is not None or not responding

    async def handle_event(self, event: Event) -> bool:
        """Act on one event; raise BadEvent when its fields have the wrong types."""
        if Describe.is_type(event.type):
            await self._then(self._send_info)
        elif SynthesizeStart.is_type(event.type):
            await self._start_stream(_voice_of(event.data), _is_ssml(event.data))
        elif SynthesizeChunk.is_type(event.type):
            await self._stream_chunk(_text_of(event.data))
        elif SynthesizeStop.is_type(event.type):
            await self._stop_stream()
        elif Synthesize.is_type(event.type):
            text, voice = _text_of(event.data), _voice_of(event.data)
            if self._stream is not None:
                _LOGGER.debug("Ignoring the compatibility synthesize of a streamed request")
            else:
                ssml = _is_ssml(event.data)
                await self._then(partial(self._speak_text, text, voice, ssml))
        else:
            _LOGGER.debug("Ignoring event of type %r", event.type)
        return not self._closing

    async def disconnect(self) -> None:
        """The client left: cancel its requests between two frames."""
        self._closing = True
        for synthesis in list(self._active):
            synthesis.cancel()
        if self._stream is not None:
            self._stream.synthesis.cancel()
        if self._tail is not None and not self._tail.done():
            self._tail.cancel()

    # -- responses, in order ----------------------------------------------------------------
    async def _then(self, respond: Callable[[], Awaitable[None]]) -> None:
        """Run RESPOND after the responses before it, so that they never interleave."""
        if self._pending >= MAX_PENDING_RESPONSES:
            await self._fail(
                "busy",
                f"More than {MAX_PENDING_RESPONSES} requests are waiting on this connection; "
                "wait for the answers before sending more.",
            )
            return
        previous = self._tail
        self._pending += 1

        async def chained() -> None:
            try:
                if previous is not None:
                    await asyncio.wait({previous})
                if not self._closing:
                    await respond()
            except ConnectionError as err:
                _LOGGER.debug("Could not answer: %s", err)
                self._closing = True
            finally:
                self._pending -= 1

        self._tail = asyncio.create_task(chained())

    async def _send_info(self) -> None:
        info = await self.build_info()
        await self.write_event(info.event())

    def _request(self, voice: VoiceRequest, *, whole: bool, ssml: bool) -> SpeechRequest:
        return SpeechRequest("wyoming", voice.name, voice.language, whole=whole, ssml=ssml)

    async def _speak_text(self, text: str, voice: VoiceRequest, ssml: bool) -> None:
        try:
            speech = await self.front.open(self._request(voice, whole=True, ssml=ssml))
            speech.speak_whole(text)
        except VoiceError as err:
            await self._fail("voice", str(err))
            return
        except TextTooLong as err:
            await self._fail("text-too-long", str(err))
            return
        await self._respond(speech, streaming=False)

    async def _start_stream(self, voice: VoiceRequest, ssml: bool) -> None:
        if self._stream is not None:
            _LOGGER.warning("Ignoring a second synthesize-start in one streamed request")
            return
        try:
            speech = await self.front.open(self._request(voice, whole=False, ssml=ssml))
        except VoiceError as err:
            await self._fail("voice", str(err))
            return
        self._stream = speech
        await self._then(partial(self._respond, speech, streaming=True))

    async def _stream_chunk(self, delta: str) -> None:
        speech = self._stream
        if speech is None:
            _LOGGER.warning("Ignoring synthesize-chunk without synthesize-start")
            return
        try:
            await speech.feed(delta)
        except TextTooLong as err:
            self._stream = None
            await self._fail("text-too-long", str(err))

    async def _stop_stream(self) -> None:
        speech = self._stream
        if speech is None:
            # Nothing was started; answer anyway so that the client never waits forever.
            await self._then(partial(self.write_event, SynthesizeStopped().event()))
            return
        self._stream = None
        await speech.finish()

    async def _respond(self, speech: Speech, streaming: bool) -> None:
        synthesis = speech.synthesis
        self._active.add(synthesis)
        try:
            try:
                audio_format = await speech.start()
            except EngineBusy as err:
                await self._fail("busy", f"The server is busy ({err}); try again in a moment.")
                return
            except VoiceError as err:
                await self._fail("voice", str(err))
                return
            await self._play(synthesis, audio_format, streaming)
        except asyncio.CancelledError:
            synthesis.cancel()
            raise
        except ConnectionError:
            synthesis.cancel()
            self._closing = True
        finally:
            self._active.discard(synthesis)
            await speech.close()

    async def _play(self, synthesis: Synthesis, fmt: AudioFormat, streaming: bool) -> None:
        await self.write_event(AudioStart(fmt.rate, fmt.width, fmt.channels).event())
        try:
            async for pcm in synthesis.audio():
                await self.write_event(
                    AudioChunk(fmt.rate, fmt.width, fmt.channels, audio=pcm).event()
                )
        except (SynthesisError, VoiceError) as err:
            await self._fail("synthesis", str(err))
            return
        await self.write_event(AudioStop().event())
        if streaming:
            await self.write_event(SynthesizeStopped().event())

    async def write_event(self, event: Event) -> None:
        """Write EVENT; drop the client when it has not read for --idle-timeout seconds."""
        if self._closing and event.type != "error":
            raise ConnectionError("the connection is closing")
        try:
            async with asyncio.timeout(self.settings.idle_timeout):
                await super().write_event(event)
        except TimeoutError:
            _LOGGER.warning(
                "Dropping a client that read nothing for %.0f s", self.settings.idle_timeout
            )
            self._abort()
            raise ConnectionError("the client stopped reading") from None

    def _abort(self) -> None:
        self._closing = True
        for synthesis in list(self._active):
            synthesis.cancel()
        self.writer.transport.abort()
        self.reader.feed_eof()

    async def _fail(self, code: str, text: str) -> None:
        """Send an error, then close the connection."""
        _LOGGER.warning("Request failed (%s): %s", code, text)
        self.front.refused("wyoming", code)
        try:
            await self.write_event(Error(text=text, code=code).event())
        except ConnectionError:
            pass
        self._closing = True
        self.writer.close()
        self.reader.feed_eof()


def _text_of(data: dict[str, object]) -> str:
    text = data.get("text", "")
    if not isinstance(text, str):
        raise BadEvent("'text' must be a string")
    return text


def _is_ssml(data: dict[str, object]) -> bool:
    """True when the client says the text is SSML (`text_format`, wyoming 1.10)."""
    text_format = data.get("text_format")
    if text_format is not None and not isinstance(text_format, str):
        raise BadEvent("'text_format' must be a string")
    return text_format == "ssml"


def _voice_of(data: dict[str, object]) -> VoiceRequest:
    voice = data.get("voice")
    if voice is None:
        return VoiceRequest()
    if not isinstance(voice, dict):
        raise BadEvent('\'voice\' must be an object such as {"name": "alba"}')
    name = voice.get("name")
    if name is not None and not isinstance(name, str):
        raise BadEvent("'voice.name' must be a string")
    language = voice.get("language")
    if language is not None and not isinstance(language, str):
        raise BadEvent("'voice.language' must be a string such as \"de\"")
    return VoiceRequest(name or None, language or None)
