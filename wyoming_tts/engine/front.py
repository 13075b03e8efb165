"""The one request door: every client's request is resolved here before it reaches a model.

A door (a Wyoming connection, the voice page, any later HTTP API) hands `Front.open` what the
client asked for and gets back a `Speech`: the voice, language and text path are decided once,
here. `Speech.start` then loads the model and the voice state off the event loop, and only
then gives the request to the model's worker, whose thread only generates: a voice that must
be encoded first delays its own request, never the rows already speaking. Text is fed through
the `Speech` (deltas, or a whole text cut in a thread), so every door has the same limit with
the same sentence. Nothing here knows of Wyoming events, HTTP or torch.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from functools import partial
from itertools import count

import numpy as np

from wyoming_tts.audio import MAX_RATE, MIN_RATE
from wyoming_tts.audio.loudness import CALIBRATION_TEXT
from wyoming_tts.engine.models import AudioFormat, Models
from wyoming_tts.engine.scheduler import Worker
from wyoming_tts.engine.synthesis import (
    EngineBusy,
    Handover,
    Prosody,
    Segment,
    Synthesis,
    SynthesisError,
    VoiceChange,
    VoiceSwitch,
    WorkerClosed,
)
from wyoming_tts.metrics import Metrics
from wyoming_tts.settings import Settings
from wyoming_tts.text import TextPipeline, check_length, feed_whole_text, text_path
from wyoming_tts.voices import Voice

_LOGGER = logging.getLogger(__name__)

# A streamed delta longer than this is cut and normalised in a thread, not on the event loop.
INLINE_TEXT_CHARS = 256
# A streamed request whose text stops this long after a finished sentence has it spoken now,
# not when the next delta comes (an assistant that says "Let me check." and calls a tool).
# LLM deltas come 15-60 ms apart (20-60 tokens a second, and the bench's 15 ms): 150 ms is
# well past a normal gap, and adds little to a stalled reply's first audio.
IDLE_FLUSH_SECONDS = 0.15
# Tries to reach a model that another language's load keeps unloading.
START_TRIES = 3


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


def voice_key(voice: Voice) -> str:
    """What names a voice's audio in the audio cache: its kind, file (or name) and stamp."""
    return f"{voice.kind}|{voice.source}|{voice.stamp[0]}:{voice.stamp[1]}"


class Front:
    """The request door of the engine, shared by every door of the server."""

    def __init__(self, models: Models, settings: Settings, metrics: Metrics | None = None) -> None:
        self.models = models
        self.settings = settings
        self.metrics = metrics or Metrics(models.snapshot)
        models.metrics = self.metrics
        self._ids = count(1)

    async def open(self, request: SpeechRequest) -> Speech:
        """Resolve REQUEST's voice and build its text path (cheap: the catalogue is cached)."""
        voice = await self.models.resolve(request.voice, request.language)
        label = f"#{next(self._ids)} {request.door} voice={voice.name}"
        synthesis = Synthesis(label, asyncio.get_running_loop())
        synthesis.door, synthesis.voice_name = request.door, voice.name
        options = self.settings.text_options
        if request.max_chars is not None and request.max_chars < options.max_chars:
            options = replace(options, max_chars=request.max_chars)
        path = text_path(voice.language, options, whole=request.whole, ssml=request.ssml)
        return Speech(self, synthesis, voice, path, request.speed)

    async def start(self, speech: Speech) -> AudioFormat:
        """Queue SPEECH on its model, its voice state ready (see `Speech.start`).

        A model unloaded between finding its worker and submitting (another language's load
        made room) refuses the request; it is then loaded again and the request goes there.
        """
        language = speech.voice.language
        for attempt in range(START_TRIES):
            # After a refusal, ask under the registry's lock: an unload may be under way.
            worker = None if attempt else self.models.loaded_worker(language)
            if worker is None:  # loading blocks: in a thread
                worker = await asyncio.to_thread(self.models.worker, language)
            self.models.touch(language)
            if not worker.has_room():
                raise EngineBusy(
                    f"{worker.queued} requests are already active on the {language} model"
                )
            voice, state, gain = await self._ready(speech.voice, worker)
            speech.voice = voice
            speech.synthesis.voice_name = voice.name
            speech.synthesis.volume = gain
            speech.synthesis.rate = self._rate(voice, speech.speed)
            speech.synthesis.voice_key = voice_key(voice)
            try:
                worker.submit(speech.synthesis, state)
            except WorkerClosed:
                _LOGGER.debug("The %s model was unloaded as a request started", language)
                continue
            speech.worker = worker
            speech.own = VoiceSwitch(state, gain, voice_key(voice))
            return self.models.format_of(worker)
        raise EngineBusy(f"the {language} model keeps being unloaded")

    async def _ready(self, voice: Voice, worker: Worker) -> tuple[Voice, object, float]:
        """VOICE (or the default, if VOICE is broken), its state for WORKER's model, and its
        gain: loudness x the user's volume. A disk load or an encoding runs in a thread, never
        on the loop or the model's thread; a voice never measured is measured first."""
        state = self.models.cached_state(voice, worker)
        if state is None:
            voice, state = await asyncio.to_thread(self.models.voice_state, voice, worker)
        try:
            loudness = await self.models.loudness.gain(
                voice,
                getattr(worker.model, "id", worker.name),
                worker.model.sample_rate,
                partial(self._calibrate, worker, state),
            )
        except (EngineBusy, WorkerClosed, SynthesisError) as err:  # measured another time
            _LOGGER.info("Voice %s not measured for loudness now (%s)", voice.name, err)
            loudness = 1.0
        return voice, state, loudness * self.models.volume(voice)

    async def _calibrate(self, worker: Worker, state: object) -> np.ndarray:
        """The calibration sentence, spoken by STATE with no gain (for its loudness)."""
        synthesis = Synthesis("calibration", asyncio.get_running_loop())
        synthesis.internal = True
        synthesis.volume = 1.0 / worker.volume
        worker.submit(synthesis, state)
        synthesis.feed(CALIBRATION_TEXT)
        synthesis.close()
        pcm = b"".join([chunk async for chunk in synthesis.audio()])
        return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0

    def _rate(self, voice: Voice, speed: float) -> float:
        rate = self.settings.speed * self.models.speed(voice) * speed
        return max(MIN_RATE, min(MAX_RATE, rate))

    async def switch(self, speech: Speech, change: VoiceChange) -> VoiceSwitch | Handover | None:
        """A change of voice inside a request (SSML), made ready: a `VoiceSwitch`, or None
        when no voice of the request's model fits (the text goes on in the voice speaking).

        A voice by name must be one of the request's model. The request's language is the
        request's own voice. Another language that a model of this server speaks is a
        `Handover` to that language's default voice on that model (loaded now if it is not);
        a language no model speaks keeps the current voice (with that language's text rules,
        from the text path)."""
        worker, own = speech.worker, speech.own
        assert worker is not None and own is not None  # segments are queued after start
        language = speech.voice.language
        if change.name is not None:
            voice = self.models.catalog.get(change.name)
            if voice is None or voice.language != language:
                _LOGGER.debug("SSML voice %r is not a voice of this model", change.name[:80])
                return None
        elif (change.language or language) == language:
            return own
        elif self.models.served_language(change.language) is not None:
            return await self._handover(speech, str(change.language))
        else:
            _LOGGER.debug("SSML language %r: no model of this server speaks it", change.language)
            return None
        if voice == speech.voice:
            return own
        voice, state, gain = await self._ready(voice, worker)
        return VoiceSwitch(state, gain, voice_key(voice))

    async def _handover(self, speech: Speech, language: str) -> Handover | None:
        """A part of SPEECH for LANGUAGE's model, with that language's default voice."""
        try:
            worker = self.models.loaded_worker(language)
            if worker is None:
                worker = await asyncio.to_thread(self.models.worker, language)
            voice, state, gain = await self._ready(self.models.default_voice(language), worker)
        except Exception as err:  # no memory for the model, a broken voice: the text goes on
            _LOGGER.warning("SSML lang %s: %s; the current voice goes on", language, err)
            return None
        self.models.touch(language)
        outer = speech.synthesis
        part = Synthesis(f"{outer.label} lang={language}", asyncio.get_running_loop())
        part.internal = True  # its audio is counted in the request's own figures
        part.forward_to = outer
        part.volume = gain
        part.rate = self._rate(voice, speech.speed)
        part.voice_key = voice_key(voice)
        return Handover(part, worker, state)

    def refused(self, door: str, code: str) -> None:
        """A door refused or failed a request with CODE (counted in the metrics)."""
        self.metrics.error(door, code)

    async def warm_up(self, language: str | None = None) -> None:
        """Load LANGUAGE's model and default voice, and speak one short sentence."""
        language = language or self.models.primary
        await asyncio.to_thread(self.models.worker, language)  # a model that fails says so first
        voice = self.models.default_voice(language)
        synthesis = Synthesis("warm-up", asyncio.get_running_loop())
        synthesis.internal = True
        speech = Speech(
            self, synthesis, voice, text_path(language, self.settings.text_options, whole=True)
        )
        calibrations = self.models.loudness.calibrations
        await speech.start()
        if self.models.loudness.calibrations == calibrations:  # else the voice just spoke
            synthesis.feed("Hello.")
        synthesis.close()
        async for _chunk in synthesis.audio():
            pass
