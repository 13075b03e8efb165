"""The synthesis worker: a bounded queue of requests and one thread per model.

The asyncio side submits a `Synthesis`, feeds it text segments as they arrive and reads 16-bit
PCM from it. A worker thread runs the model, hands every frame to the event loop as soon as it
is made, and stops between two frames when the request is cancelled. Nothing here knows of
Wyoming events or of torch: the model sits behind the small `Model` protocol.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

_LOGGER = logging.getLogger(__name__)

SAMPLE_WIDTH = 2  # 16-bit PCM
CHANNELS = 1


class EngineBusy(Exception):
    """The request queue is full."""


class SynthesisError(Exception):
    """The model failed while speaking; the message is for the user."""


@dataclass(frozen=True)
class Silence:
    """A pause of SECONDS, sent as zero samples."""

    seconds: float


Segment = str | Silence


class Model(Protocol):
    """What the worker needs of a loaded model."""

    sample_rate: int
    frame_samples: int

    def generate(self, voice_state: object, text: str, stop: threading.Event) -> Iterator[object]:
        """Yield float32 frames (anything numpy can read) for TEXT, stopping when STOP is set."""
        ...


VoiceLoader = Callable[[], object]

_END = object()
_NO_MORE_TEXT = object()


@dataclass
class Stats:
    """What one request cost, for the log line and the benchmark."""

    chars: int = 0
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    first_audio: float | None = None
    text_ready: float | None = None
    finished: float | None = None
    busy_seconds: float = 0.0
    samples: int = 0
    cancelled: bool = False


class Synthesis:
    """One request. Feed text from the event loop, read PCM with `audio()`."""

    def __init__(self, label: str, loop: asyncio.AbstractEventLoop) -> None:
        self.label = label
        self.load_voice: VoiceLoader = lambda: None
        self.stats = Stats()
        self.stop = threading.Event()
        self._loop = loop
        self._segments: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._audio: asyncio.Queue[object] = asyncio.Queue()

    # -- event-loop side -------------------------------------------------------------------
    def feed(self, segment: Segment) -> None:
        """Add a text segment (or a pause) to speak after the ones already fed."""
        if isinstance(segment, str):
            if not segment.strip():
                return
            self.stats.chars += len(segment)
        if self.stats.text_ready is None:
            self.stats.text_ready = time.monotonic()
        self._segments.put(segment)

    def close(self) -> None:
        """Say that no more text will come."""
        self._segments.put(_NO_MORE_TEXT)

    def cancel(self) -> None:
        """Stop as soon as possible: between two frames, or before starting."""
        if not self.stop.is_set():
            self.stats.cancelled = True
            self.stop.set()
            self._segments.put(_NO_MORE_TEXT)

    async def audio(self) -> AsyncIterator[bytes]:
        """Yield 16-bit PCM chunks until the request is done; raise SynthesisError on failure."""
        while True:
            item = await self._audio.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item

    # -- worker side ------------------------------------------------------------------------
    def next_segment(self) -> Segment | None:
        """Block until the next segment, or None when the request has no more."""
        item = self._segments.get()
        if item is _NO_MORE_TEXT or self.stop.is_set():
            return None
        assert isinstance(item, (str, Silence))
        return item

    def emit(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._audio.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.stop.set()


class Worker:
    """Runs the requests of one model, one at a time, in a thread of its own."""

    def __init__(
        self,
        name: str,
        model: Model,
        *,
        max_queue: int,
        samples_per_chunk: int | None = None,
        volume: float = 1.0,
    ) -> None:
        self.name = name
        self.model = model
        self.max_queue = max_queue
        self.samples_per_chunk = samples_per_chunk or model.frame_samples
        self.volume = volume
        self._waiting: deque[Synthesis] = deque()
        self._cond = threading.Condition()
        self._current: Synthesis | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"tts-{name}", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        return self._current is not None

    def submit(self, synthesis: Synthesis, load_voice: VoiceLoader) -> None:
        """Queue SYNTHESIS; raise EngineBusy at once when the queue is full."""
        synthesis.load_voice = load_voice
        with self._cond:
            if self._closed:
                raise EngineBusy("the server is shutting down")
            running = 1 if self._current is not None else 0
            if running + len(self._waiting) > self.max_queue:
                raise EngineBusy(
                    f"{len(self._waiting)} requests are already waiting for the {self.name} model"
                )
            self._waiting.append(synthesis)
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything and end the thread."""
        with self._cond:
            self._closed = True
            pending = list(self._waiting)
            self._waiting.clear()
            current = self._current
            self._cond.notify_all()
        for synthesis in pending:
            synthesis.cancel()
            synthesis.emit(_END)
        if current is not None:
            current.cancel()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                synthesis = self._waiting.popleft()
                self._current = synthesis
            try:
                self._speak(synthesis)
            except Exception as err:  # the model failed: tell the client, keep serving
                _LOGGER.exception("Synthesis failed (%s)", synthesis.label)
                synthesis.emit(SynthesisError(f"Speech synthesis failed: {err}"))
            finally:
                with self._cond:
                    self._current = None
                synthesis.stats.finished = time.monotonic()
                synthesis.emit(_END)
                _log_request(synthesis, self.model.sample_rate)

    def _speak(self, synthesis: Synthesis) -> None:
        stats = synthesis.stats
        stats.started = time.monotonic()
        if synthesis.stop.is_set():
            return
        voice_state = synthesis.load_voice()
        spoken = False
        while (segment := synthesis.next_segment()) is not None:
            began = time.monotonic()
            if isinstance(segment, Silence):
                self._send(synthesis, np.zeros(round(segment.seconds * self.model.sample_rate)))
            else:
                for frame in self.model.generate(voice_state, segment, synthesis.stop):
                    if synthesis.stop.is_set():
                        break
                    self._send(synthesis, frame)
                spoken = True
            stats.busy_seconds += time.monotonic() - began
        if not spoken and stats.samples == 0 and not synthesis.stop.is_set():
            # Empty text still gets a valid response: one short frame of silence.
            self._send(synthesis, np.zeros(self.model.frame_samples, dtype=np.float32))

    def _send(self, synthesis: Synthesis, frame: object) -> None:
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            return
        if self.volume != 1.0:
            samples = samples * self.volume
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
        if synthesis.stats.first_audio is None:
            synthesis.stats.first_audio = time.monotonic()
        synthesis.stats.samples += pcm.size
        step = self.samples_per_chunk
        for start in range(0, pcm.size, step):
            synthesis.emit(pcm[start : start + step].tobytes())


def _log_request(synthesis: Synthesis, sample_rate: int) -> None:
    stats = synthesis.stats
    audio_seconds = stats.samples / sample_rate
    ttfa_ms = -1.0
    if stats.first_audio is not None:
        ready = stats.text_ready or stats.submitted
        ttfa_ms = (stats.first_audio - max(ready, stats.submitted)) * 1000
    queue_ms = ((stats.started or stats.submitted) - stats.submitted) * 1000
    rtf = audio_seconds / stats.busy_seconds if stats.busy_seconds > 0 else 0.0
    _LOGGER.info(
        "Spoke %s: %d chars, first audio %.0f ms, %.2f s audio, %.1fx real time, queued %.0f ms%s",
        synthesis.label,
        stats.chars,
        ttfa_ms,
        audio_seconds,
        rtf,
        queue_ms,
        ", cancelled" if stats.cancelled else "",
    )
