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
from dataclasses import replace
from functools import partial
from itertools import count

import numpy as np

from wyoming_tts.audio import MAX_RATE, MIN_RATE
from wyoming_tts.audio.loudness import CALIBRATION_TEXT
from wyoming_tts.engine.models import AudioFormat, Models
from wyoming_tts.engine.scheduler import Worker
from wyoming_tts.engine.speech import Speech, SpeechRequest
from wyoming_tts.engine.synthesis import (
    EngineBusy,
    Handover,
    Synthesis,
    SynthesisError,
    VoiceChange,
    VoiceSwitch,
    WorkerClosed,
)
from wyoming_tts.metrics import Metrics
from wyoming_tts.settings import Settings
from wyoming_tts.text import text_path
from wyoming_tts.voices import Voice

_LOGGER = logging.getLogger(__name__)

# Tries to reach a model that another language's load keeps unloading.
START_TRIES = 3


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
