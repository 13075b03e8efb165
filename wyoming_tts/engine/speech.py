"""One request past the door: its text fed in (whole, or delta by delta), its audio out.

`Front.open` (engine.front) makes a `Speech`; the door feeds it text and reads
`speech.synthesis.audio()`. Markers the text path yields that need the engine (a change of
voice, a part in another language) are resolved through the `Front`, in order. Nothing here
knows of Wyoming events, HTTP or torch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wyoming_tts.engine.models import AudioFormat
from wyoming_tts.engine.synthesis import (
    Handover,
    Prosody,
    Segment,
    Synthesis,
    VoiceChange,
    VoiceSwitch,
)
from wyoming_tts.text import TextPipeline, check_length, feed_whole_text
from wyoming_tts.voices import Voice

if TYPE_CHECKING:
    from wyoming_tts.engine.front import Front
    from wyoming_tts.engine.scheduler import Worker

# A streamed delta longer than this is cut and normalised in a thread, not on the event loop.
INLINE_TEXT_CHARS = 256
# A streamed request whose text stops this long after a finished sentence has it spoken now,
# not when the next delta comes (an assistant that says "Let me check." and calls a tool).
# LLM deltas come 15-60 ms apart (20-60 tokens a second, and the bench's 15 ms): 150 ms is
# well past a normal gap, and adds little to a stalled reply's first audio.
IDLE_FLUSH_SECONDS = 0.15


@dataclass(frozen=True)
class SpeechRequest:
    """What a client asked for: a voice name, a language, or neither (the default voice)."""

    door: str  # "wyoming", "page", ...: for the log line
    voice: str | None = None
    language: str | None = None
    whole: bool = True  # the whole text comes at once (else in deltas)
    max_chars: int | None = None  # a door's own limit, below --max-text-chars
    speed: float = 1.0  # the client's rate, times the server's and the voice's
    ssml: bool = False  # the text is SSML


class Speech:
    """One request past the door: voice and text path known; its audio comes from `synthesis`."""

    def __init__(
        self,
        front: Front,
        synthesis: Synthesis,
        voice: Voice,
        text: TextPipeline,
        speed: float = 1.0,
    ):
        self._front = front
        self.synthesis = synthesis
        self.voice = voice
        self.text = text
        self.speed = speed
        self.worker: Worker | None = None  # set by start
        self.own: VoiceSwitch | None = None  # back to the request's voice (set by start)
        self._part: Synthesis | None = None  # a part another model speaks (SSML lang)
        self._idle: asyncio.TimerHandle | None = None  # speaks a held sentence (streamed)
        self._flushing: asyncio.Task[None] | None = None
        self._feeding: asyncio.Future[None] | None = None
        self._started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def start(self) -> AudioFormat:
        """Load the model and the voice state, then queue the request; raise EngineBusy or
        VoiceError (the request is cancelled then)."""
        try:
            audio_format = await self._front.start(self)
        except BaseException as err:
            self.synthesis.cancel()
            if not self._started.done():
                self._started.set_exception(err)
                self._started.exception()  # retrieved: a text still feeding sees the cancel
            raise
        if not self._started.done():
            self._started.set_result(None)
        return audio_format

    def speak_whole(self, text: str) -> None:
        """Cut and normalise a whole TEXT in a thread, each segment queued as soon as it is ready.

        Raise TextTooLong (the one sentence every door sends) before anything is queued."""
        check_length(len(text), self.text.max_chars)
        if not self.text.changes_voice:
            self._feeding = asyncio.ensure_future(
                asyncio.to_thread(feed_whole_text, self.synthesis, self.text, text)
            )
            return
        self._feeding = asyncio.ensure_future(self._feed_with_voices(text))

    async def _feed_with_voices(self, text: str) -> None:
        """A whole text that may change voice (SSML): cut in a thread, its voices made ready
        here, in order."""
        segments = await asyncio.to_thread(lambda: list(self.text.segments(text)))
        try:
            await self._queue(segments)
        except BaseException:
            self.synthesis.cancel()
            raise
        self._close()

    async def _queue(self, segments: list[Segment]) -> None:
        for segment in segments:
            if self.synthesis.stop.is_set():
                return
            if isinstance(segment, VoiceChange):
                await self._started  # the request's model and voice are known once started
                if self._part is not None:  # the part in another language ends here
                    self._part.close()
                    self._part = None
                switch = await self._front.switch(self, segment)
                if switch is None:
                    continue
                if isinstance(switch, Handover):
                    self._part = switch.part
                segment = switch
            elif self._part is not None:
                self._part.feed(segment)  # its own model speaks it
                if not isinstance(segment, Prosody):  # a rate holds for what follows, both
                    continue
            self.synthesis.feed(segment)

    async def feed(self, delta: str) -> None:
        """Add a streamed DELTA; raise TextTooLong past the limit (the request is cancelled).

        If no delta follows within IDLE_FLUSH_SECONDS, a finished sentence held is spoken."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._flushing is not None:
            await self._flushing  # its segments go before this delta's
            self._flushing = None
        try:
            if len(delta) > INLINE_TEXT_CHARS:
                segments = await asyncio.to_thread(self.text.feed, delta)
            else:
                segments = self.text.feed(delta)
            await self._queue(segments)
        except BaseException:
            self.synthesis.cancel()
            raise
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(IDLE_FLUSH_SECONDS, self._flush_idle)

    def _flush_idle(self) -> None:
        self._idle = None
        segments = self.text.flush_idle()  # one sentence at most: cheap on the loop
        if segments and not self.synthesis.stop.is_set():
            self._flushing = asyncio.ensure_future(self._queue(segments))

    async def finish(self) -> None:
        """No more deltas: speak what is left, then end."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._flushing is not None:
            await self._flushing
            self._flushing = None
        try:
            await self._queue(self.text.finish())  # at most one segment's worth is left
        except BaseException:
            self.synthesis.cancel()
            raise
        self._close()

    def _close(self) -> None:
        if self._part is not None:
            self._part.close()
            self._part = None
        self.synthesis.close()

    async def close(self) -> None:
        """The door is done with this request: a text still being cut stops (the thread sees
        the cancel between two slices), and its thread is waited for."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._flushing is not None:
            await self._flushing
        if self._feeding is not None:
            if not self._feeding.done():
                self.synthesis.cancel()
            await self._feeding
