"""One Wyoming connection: events in, events out. No torch here.

Responses on one connection are written in order by a chain of tasks, so the reader keeps
reading while audio is sent: it sees a client that leaves at once and cancels its request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import count

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

from wyoming_tts.engine import EngineBusy, Segment, Silence, Synthesis, SynthesisError
from wyoming_tts.framing import BadEvent, read_event
from wyoming_tts.models import AudioFormat, Models, VoiceError
from wyoming_tts.settings import Settings
from wyoming_tts.text import SegmentSplitter, split_text

_LOGGER = logging.getLogger(__name__)
_REQUEST_IDS = count(1)

InfoBuilder = Callable[[], Awaitable[Info]]


@dataclass
class _Stream:
    """A streamed request between synthesize-start and synthesize-stop."""

    synthesis: Synthesis
    language: str
    splitter: SegmentSplitter = field(default_factory=SegmentSplitter)
    spoken: list[bool] = field(default_factory=lambda: [False])


class TtsHandler(AsyncEventHandler):
    """Answer Describe and speak synthesis requests, plain or streamed."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        settings: Settings,
        models: Models,
        build_info: InfoBuilder,
        transform: Callable[[str, str], list[Segment]],
    ) -> None:
        super().__init__(reader, writer)
        self.settings = settings
        self.models = models
        self.build_info = build_info
        self.transform = transform
        self._tail: asyncio.Task[None] | None = None
        self._stream: _Stream | None = None
        self._active: set[Synthesis] = set()
        self._closing = False

    # -- reading --------------------------------------------------------------------------
    async def run(self) -> None:
        """Read events until the client leaves; drop a client idle in mid-request."""
        try:
            read: asyncio.Task[Event | None] | None = None
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
            self._then(self._send_info)
        elif SynthesizeStart.is_type(event.type):
            self._start_stream(_voice_of(event.data))
        elif SynthesizeChunk.is_type(event.type):
            self._stream_chunk(_text_of(event.data))
        elif SynthesizeStop.is_type(event.type):
            self._stop_stream()
        elif Synthesize.is_type(event.type):
            text, voice = _text_of(event.data), _voice_of(event.data)
            if self._stream is not None:
                _LOGGER.debug("Ignoring the compatibility synthesize of a streamed request")
            else:
                self._then(partial(self._speak_text, text, voice))
        else:
            _LOGGER.debug("Ignoring event of type %r", event.type)
        return not self._closing

    async def disconnect(self) -> None:
        """The client left: cancel its requests between two frames."""
        self._closing = True
        for synthesis in list(self._active):
            synthesis.cancel()
        if self._tail is not None and not self._tail.done():
            self._tail.cancel()

    # -- responses, in order ----------------------------------------------------------------
    def _then(self, respond: Callable[[], Awaitable[None]]) -> None:
        """Run RESPOND after the responses before it, so that they never interleave."""
        previous = self._tail

        async def chained() -> None:
            if previous is not None:
                await asyncio.wait({previous})
            if not self._closing:
                await respond()

        self._tail = asyncio.create_task(chained())

    async def _send_info(self) -> None:
        info = await self.build_info()
        await self.write_event(info.event())

    async def _speak_text(self, text: str, voice_name: str | None) -> None:
        if len(text) > self.settings.max_text_chars:
            await self._fail(
                "text-too-long",
                f"The text has {len(text)} characters; the limit is "
                f"{self.settings.max_text_chars} (--max-text-chars). Send a shorter text.",
            )
            return
        synthesis = Synthesis(f"#{next(_REQUEST_IDS)}", asyncio.get_running_loop())
        language = self.models.language_of(voice_name)
        # Cutting and normalising a long text takes tens of ms: do it off the event loop.
        await asyncio.to_thread(lambda: self._feed(synthesis, split_text(text), [False], language))
        synthesis.close()
        await self._respond(synthesis, voice_name, streaming=False)

    def _start_stream(self, voice: str | None) -> None:
        if self._stream is not None:
            _LOGGER.warning("Ignoring a second synthesize-start in one streamed request")
            return
        synthesis = Synthesis(f"#{next(_REQUEST_IDS)}", asyncio.get_running_loop())
        self._stream = _Stream(synthesis, self.models.language_of(voice))
        self._then(partial(self._respond, synthesis, voice, streaming=True))

    def _stream_chunk(self, text: str) -> None:
        stream = self._stream
        if stream is None:
            _LOGGER.warning("Ignoring synthesize-chunk without synthesize-start")
            return
        if stream.synthesis.stats.chars + len(text) > self.settings.max_text_chars:
            _LOGGER.warning(
                "Streamed text over %d characters; the rest is not spoken",
                self.settings.max_text_chars,
            )
            return
        self._feed(stream.synthesis, stream.splitter.feed(text), stream.spoken, stream.language)

    def _stop_stream(self) -> None:
        stream = self._stream
        if stream is None:
            # Nothing was started; answer anyway so that the client never waits forever.
            self._then(partial(self._write, SynthesizeStopped().event()))
            return
        self._stream = None
        self._feed(stream.synthesis, stream.splitter.finish(), stream.spoken, stream.language)
        stream.synthesis.close()

    def _feed(
        self, synthesis: Synthesis, segments: list[str], spoken: list[bool], language: str
    ) -> None:
        for segment in segments:
            for part in self.transform(segment, language):
                if isinstance(part, str) and spoken[0] and self.settings.sentence_silence > 0:
                    synthesis.feed(Silence(self.settings.sentence_silence))
                synthesis.feed(part)
                if isinstance(part, str):
                    spoken[0] = True

    async def _respond(self, synthesis: Synthesis, voice_name: str | None, streaming: bool) -> None:
        self._active.add(synthesis)
        try:
            try:
                voice = await self.models.resolve(voice_name)
                synthesis.label = f"{synthesis.label} voice={voice.name}"
                audio_format = await self.models.start(synthesis, voice)
            except EngineBusy as err:
                synthesis.cancel()
                await self._fail("busy", f"The server is busy ({err}); try again in a moment.")
                return
            except VoiceError as err:
                synthesis.cancel()
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

    async def _write(self, event: Event) -> None:
        await self.write_event(event)

    async def _fail(self, code: str, text: str) -> None:
        """Send an error, then close the connection."""
        _LOGGER.warning("Request failed (%s): %s", code, text)
        try:
            await self.write_event(Error(text=text, code=code).event())
        except ConnectionError:
            pass
        self._closing = True
        self.writer.close()
        self.reader.feed_eof()


def _text_of(data: dict) -> str:
    text = data.get("text", "")
    if not isinstance(text, str):
        raise BadEvent("'text' must be a string")
    return text


def _voice_of(data: dict) -> str | None:
    voice = data.get("voice")
    if voice is None:
        return None
    if not isinstance(voice, dict):
        raise BadEvent('\'voice\' must be an object such as {"name": "alba"}')
    name = voice.get("name")
    if name is not None and not isinstance(name, str):
        raise BadEvent("'voice.name' must be a string")
    return name or None
