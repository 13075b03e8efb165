"""One request on its way through the engine: segments in from any thread, PCM out on the loop.

The asyncio side creates a `Synthesis`, feeds it segments as the text path yields them and
reads 16-bit PCM from it with `audio()`; the worker (engine.scheduler) takes its segments and
emits its audio. Unread audio is bounded: a request whose client has not read
`MAX_BUFFERED_SECONDS` of it is paused, so a client that stops reading costs memory that is
bounded and time that is none. Nothing here knows of Wyoming events or of torch.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from wyoming_tts.audio.output import Output

# Audio a client may leave unread before its request is paused (the worker serves the others).
MAX_BUFFERED_SECONDS = 20.0
# When the model is ahead of the client, frames already made go out together, up to this many
# bytes an event (0.16 s at 24 kHz): fewer events to frame and parse, the same audio.
MAX_COALESCED_BYTES = 7680


class EngineBusy(Exception):
    """The request queue is full."""


class WorkerClosed(Exception):
    """The worker was closed (its model unloaded) before the request reached it."""


class SynthesisError(Exception):
    """The model failed while speaking; the message is for the user."""


@dataclass(frozen=True)
class Silence:
    """A pause of SECONDS, sent as zero samples."""

    seconds: float


@dataclass(frozen=True)
class Prosody:
    """What follows is spoken at RATE and VOLUME, relative to the response's own (SSML)."""

    rate: float = 1.0
    volume: float = 1.0


@dataclass(frozen=True)
class VoiceChange:
    """What follows is spoken by another voice (SSML `voice`, `lang`): as the text path says
    it, by name or language; the request door turns it into a `VoiceSwitch`."""

    name: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class VoiceSwitch:
    """What follows is spoken with STATE at GAIN (its loudness gain and volume)."""

    state: object
    gain: float = 1.0
    voice_key: str = ""  # for the audio cache


@dataclass(frozen=True)
class Handover:
    """What follows is spoken by another model (SSML `lang`): PART, on WORKER with STATE. The
    request waits while PART speaks; PART's audio goes out as the request's own."""

    part: Synthesis
    worker: object  # engine.scheduler.Worker (no import cycle)
    state: object


Segment = str | Silence | Prosody | VoiceChange | VoiceSwitch | Handover


_END = object()


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
    segments: int = 0  # texts spoken
    cached: int = 0  # of which from the audio cache
    cancelled: bool = False


class Synthesis:
    """One request. Feed segments from any thread, read PCM on the event loop with `audio()`."""

    def __init__(self, label: str, loop: asyncio.AbstractEventLoop) -> None:
        self.label = label
        self.door = ""  # which door it came through, and its voice: for the metrics
        self.voice_name = ""
        self.internal = False  # the warm-up or a calibration: not in the figures
        self.failed = False  # worker side: the model failed on it
        self.stats = Stats()
        self.stop = threading.Event()
        self.max_buffered_samples = 0  # set by the worker; 0 = no bound
        self.volume = (
            1.0  # this request's gain (voice loudness x voice volume), on top of the worker's
        )
        self.rate = 1.0  # this request's speech rate (server x voice x request)
        self.output: Output | None = None  # set by the worker: gain, rate and limiter
        self.coalesce_bytes = 0  # set by the worker; 0 = one frame an event
        self._loop = loop
        self._lock = threading.Lock()
        self._segments: deque[Segment] = deque()
        self._closed = False
        self._buffered = 0  # samples made but not yet read by the client
        self._wake: Callable[[], None] = lambda: None
        self._audio: asyncio.Queue[object] = asyncio.Queue()
        self.voice_state: object = None  # set when the request is submitted
        self.spoken = False  # worker side
        self.row: int | None = None  # worker side: the batch row speaking its segment
        self.turn = 0.0  # worker side: when it last got a row (0: never)
        self.waiting: object = None  # a part another model speaks (Handover), or a replay
        self.voice_key = ""  # the voice's file and stamp (or built-in name): the audio cache's
        self.forward_to: Synthesis | None = None  # a part: whose audio this is

    # -- client side ------------------------------------------------------------------------
    def feed(self, segment: Segment) -> None:
        """Add a text segment (or a pause) to speak after the ones already fed."""
        if isinstance(segment, str):
            if not segment.strip():
                return
            self.stats.chars += len(segment)
        with self._lock:
            if self.stats.text_ready is None:
                self.stats.text_ready = time.monotonic()
            self._segments.append(segment)
        self._wake()

    def close(self) -> None:
        """Say that no more text will come."""
        with self._lock:
            self._closed = True
        self._wake()

    def cancel(self) -> None:
        """Stop as soon as possible: between two frames, or before starting."""
        if not self.stop.is_set():
            self.stats.cancelled = True
            self.stop.set()
            waiting = self.waiting
            if isinstance(waiting, Synthesis):
                waiting.cancel()
            self._wake()

    def resume(self) -> None:
        """The part another model spoke is done: this request goes on (any thread)."""
        with self._lock:
            self.waiting = None
        self._wake()

    async def audio(self) -> AsyncIterator[bytes]:
        """Yield 16-bit PCM until the request is done; raise SynthesisError on failure.

        The first chunk goes alone (first audio as soon as it exists); later, frames that are
        already waiting are joined, up to MAX_COALESCED_BYTES.
        """
        held: object = None
        first = True
        while True:
            item = held if held is not None else await self._audio.get()
            held = None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            chunk = item
            while not first and len(chunk) < self.coalesce_bytes and not self._audio.empty():
                following = self._audio.get_nowait()
                if not isinstance(following, bytes):
                    held = following
                    break
                chunk += following
            first = False
            with self._lock:
                was_full = self._full()
                self._buffered -= len(chunk) // 2
                wake = was_full and not self._full()
            if wake:
                self._wake()
            yield chunk

    # -- worker side (called with the worker's lock held, except emit) ----------------------
    def _full(self) -> bool:
        if self.forward_to is not None:  # its audio is read (and bounded) as the request's
            return False
        return 0 < self.max_buffered_samples <= self._buffered

    def full(self) -> bool:
        """True while the client has MAX_BUFFERED_SECONDS of audio unread."""
        with self._lock:
            return self._full()

    def ready(self) -> bool:
        """True when the worker has something to do for this request now."""
        with self._lock:
            if self.stop.is_set():
                return True
            if self.waiting is not None:
                return False
            if self._segments:
                return not self._full()
            return self._closed

    def has_segment(self) -> bool:
        with self._lock:
            return bool(self._segments)

    def push_back(self, segment: Segment) -> None:
        """SEGMENT goes first again (a cached segment that could not be read)."""
        with self._lock:
            self._segments.appendleft(segment)

    def take(self) -> Segment | None:
        """The next segment; None when the request is over (closed and spoken, or stopped)."""
        with self._lock:
            if self.stop.is_set() or not self._segments:
                return None
            return self._segments.popleft()

    def emit(self, item: object) -> None:
        outer = self.forward_to
        if outer is not None:  # a part: its audio is the request's; its end lets it go on
            if isinstance(item, bytes):
                outer.emit(item)
            elif item is _END:
                outer.resume()
            return
        if isinstance(item, bytes):
            with self._lock:
                self._buffered += len(item) // 2
        try:
            self._loop.call_soon_threadsafe(self._audio.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.stop.set()
