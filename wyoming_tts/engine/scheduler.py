"""The worker of one model: the active requests speak together, a row each, in a fair turn.

The asyncio side submits a `Synthesis` (engine.synthesis) and feeds it segments. The worker
thread gives each request with a segment ready a row of the model's `Batch`, up to
`max_batch`: the rows share every frame, and join and leave between two frames. A request
gives its row back after each segment, so when more requests are active than rows, those that
waited longest get the next rows: a short request is never stuck behind a long one, and a
streamed request that waits for its LLM holds nothing (it has no segment ready). A request
whose client has not read its audio is skipped too. Requests sent at the same moment start
together (`Worker._gather`). Nothing here knows of Wyoming events or of torch: the model
sits behind the `Model` and `Batch` protocols.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from wyoming_tts import memory
from wyoming_tts.audio.output import Output
from wyoming_tts.engine.audio_cache import AudioCache
from wyoming_tts.engine.model import Batch, Model, OneAtATime
from wyoming_tts.engine.policy import Arrival, Candidate, choose, gather_until
from wyoming_tts.engine.replay import CachedSegments
from wyoming_tts.engine.synthesis import (
    _END,
    MAX_BUFFERED_SECONDS,
    MAX_COALESCED_BYTES,
    EngineBusy,
    Handover,
    Prosody,
    Silence,
    Synthesis,
    SynthesisError,
    VoiceSwitch,
    WorkerClosed,
)

_LOGGER = logging.getLogger(__name__)


class Worker:
    """Runs the requests of one model in a thread of its own: a row each, in a fair turn.

    Each active request with a segment ready gets a row of the model's batch, up to
    `max_batch`; the rows share every frame. A request whose segment is spoken gives its row
    back and queues for the next; rows go to those that waited longest since their last row,
    so a short request is never stuck behind a long one. Cancelled rows leave between two
    frames.
    """

    def __init__(
        self,
        name: str,
        model: Model,
        *,
        max_queue: int,
        max_batch: int = 1,
        samples_per_chunk: int | None = None,
        volume: float = 1.0,
        max_buffered_seconds: float | None = None,
        on_finish: Callable[[Synthesis], None] | None = None,
        cache: AudioCache | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.max_queue = max_queue
        self.samples_per_chunk = samples_per_chunk or model.frame_samples
        # A chunk size the user chose is kept; otherwise waiting frames may go out together.
        self.coalesce_bytes = 0 if samples_per_chunk else MAX_COALESCED_BYTES
        self.volume = volume
        self.on_finish = on_finish
        buffered = MAX_BUFFERED_SECONDS if max_buffered_seconds is None else max_buffered_seconds
        self.max_buffered_samples = round(buffered * model.sample_rate)
        self._rows: dict[int, Synthesis] = {}
        self._stats_lock = threading.Lock()
        # The audio cache: segments spoken before are replayed on a thread of their own, and
        # what the model speaks is kept (its frames gathered per row, written on that thread).
        render = str(getattr(model, "render_key", getattr(model, "id", name)))
        self._cached = CachedSegments(name, cache, render, model.frame_samples, self._send)
        self._batch = self._open_batch()
        self.max_batch = max(1, min(max_batch, getattr(self._batch, "capacity", max_batch)))
        self._active: deque[Synthesis] = deque()
        self._keys = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"tts-{name}", daemon=True)
        self._thread.start()

    def _open_batch(self) -> Batch:
        open_batch = getattr(self.model, "open_batch", None)
        if open_batch is None:
            return OneAtATime(self.model, self._on_audio)
        batch: Batch = open_batch(self._on_audio)
        return batch

    def _on_audio(self, key: int, frame: object) -> None:
        """A row's frame, from the model's thread: straight to its client."""
        synthesis = self._rows.get(key)
        if synthesis is not None and not synthesis.stop.is_set():
            self._cached.frame(key, frame)
            self._send(synthesis, frame)

    @property
    def queued(self) -> int:
        """Requests admitted and not finished (speaking, waiting for their turn or for text)."""
        with self._cond:
            return len(self._active)

    @property
    def rows(self) -> int:
        """Rows of the batch speaking now."""
        return len(self._rows)

    @property
    def busy(self) -> bool:
        return bool(self._rows)

    def has_room(self) -> bool:
        """True when one more request would be admitted now."""
        with self._cond:
            return not self._closed and len(self._active) <= self.max_queue

    def submit(self, synthesis: Synthesis, voice_state: object) -> None:
        """Admit SYNTHESIS, spoken with VOICE_STATE (already loaded: this thread only
        generates); raise EngineBusy at once when too many are active."""
        synthesis.voice_state = voice_state
        synthesis.output = Output(
            self.model.sample_rate, gain=self.volume * synthesis.volume, rate=synthesis.rate
        )
        synthesis.max_buffered_samples = self.max_buffered_samples
        synthesis.coalesce_bytes = self.coalesce_bytes
        with self._cond:
            if self._closed:
                raise WorkerClosed(self.name)
            if len(self._active) > self.max_queue:
                raise EngineBusy(
                    f"{len(self._active)} requests are already active on the {self.name} model"
                )
            self._active.append(synthesis)
            synthesis._wake = self._notify
            self._cond.notify()
        self._batch.wake()  # a step waiting for the decoder ends: this request gets its row now

    def close_if_idle(self) -> bool:
        """Close the worker if no request is active; atomic with `submit`."""
        with self._cond:
            if self._active or self._rows:
                return False
            self._closed = True
            self._cond.notify_all()
        self._thread.join(5.0)
        self._batch.close()
        self._cached.close()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything and end the thread."""
        with self._cond:
            self._closed = True
            pending = list(self._active)
            self._active.clear()
            self._cond.notify_all()
        for synthesis in pending:  # the rows being spoken stop between two frames
            synthesis.cancel()
            synthesis.emit(_END)
        self._thread.join(timeout)
        self._batch.close()
        self._cached.close()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify()
        self._batch.wake()

    # -- the worker thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._rows and not self._anything_ready():
                    if not self._batch.pending():
                        self._cond.wait()
                    else:
                        break
                if self._closed:
                    return
                turn = self._turn()
                wait = self._gather(turn)
                if wait > 0:  # requests sent together start together
                    self._cond.wait(wait)
                    continue
            for synthesis in turn:
                self._serve(synthesis)
            for key, synthesis in list(self._rows.items()):
                if synthesis.stop.is_set():  # its client left: free the row between two frames
                    self._batch.remove(key)
                    del self._rows[key]
                    self._cached.drop(key)
                    self._finish(synthesis)
            if self._rows or self._batch.pending():
                self._step()

    def _gather(self, turn: list[Synthesis]) -> float:
        """Seconds to wait for requests sent at the same moment as a new one in TURN (lock
        held); see `policy.gather_until`."""
        fresh = [_arrival(s) for s in turn if s.stats.started is None and s.has_segment()]
        others = [_arrival(s) for s in self._active if s.stats.started is None]
        until = gather_until(fresh, others)
        return 0.0 if until is None else until - time.monotonic()

    def _anything_ready(self) -> bool:
        return any(s.ready() for s in self._active if s.row is None)

    def _turn(self) -> list[Synthesis]:
        """The requests without a row served now (lock held); see `policy.choose`."""
        waiting = [s for s in self._active if s.row is None and s.ready()]
        candidates = [Candidate(s.turn, s.has_segment() and not s.stop.is_set()) for s in waiting]
        return [waiting[i] for i in choose(candidates, self.max_batch - len(self._rows))]

    def _serve(self, synthesis: Synthesis) -> None:
        """Give SYNTHESIS its next segment: a row of the batch, a pause, or its end."""
        stats = synthesis.stats
        if stats.started is None:
            stats.started = time.monotonic()
        while True:
            segment = synthesis.take()
            if segment is None:
                self._finish(synthesis)
                return
            try:
                if not isinstance(segment, str):
                    self._apply(synthesis, segment)
                    if synthesis.waiting is None and synthesis.has_segment():
                        continue
                    return
                synthesis.stats.segments += 1
                cache_key = self._cached.key(synthesis, segment)
                if self._cached.replay(synthesis, cache_key, segment):
                    return
                key = next(self._keys)
                first = synthesis.stats.samples == 0
                self._batch.add(key, synthesis.voice_state, segment, synthesis.stop, first)
                self._cached.record(key, cache_key, synthesis)
            except Exception as err:  # this request's voice or text: the others go on
                self._fail(synthesis, err)
                return
            synthesis.row = key
            synthesis.turn = time.monotonic()
            self._rows[key] = synthesis
            return

    @property
    def cache(self) -> AudioCache | None:
        """The audio cache this worker replays from and keeps to (None: off)."""
        return self._cached.cache

    @cache.setter
    def cache(self, cache: AudioCache | None) -> None:
        self._cached.cache = cache

    def _apply(self, synthesis: Synthesis, segment: object) -> None:
        """A pause, or a change of rate, volume or voice for what follows (all audio before
        it has been sent: a row's end comes after its last frame)."""
        output = synthesis.output
        assert output is not None
        if isinstance(segment, Silence):  # the pause lasts what it says, at any rate
            samples = round(segment.seconds * self.model.sample_rate * output.rate_now)
            self._send(synthesis, np.zeros(samples, dtype=np.float32))
        elif isinstance(segment, Prosody):
            output.set_part(segment.rate, segment.volume)
        elif isinstance(segment, VoiceSwitch):
            synthesis.voice_state = segment.state
            synthesis.voice_key = segment.voice_key
            output.gain = self.volume * segment.gain
        elif isinstance(segment, Handover):  # another model speaks a part; this one waits
            synthesis.waiting = segment.part
            try:
                segment.worker.submit(segment.part, segment.state)  # type: ignore[attr-defined]
            except (EngineBusy, WorkerClosed) as err:
                _LOGGER.warning("A part in another language was not spoken: %s", err)
                synthesis.waiting = None
        else:
            raise TypeError(f"{type(segment).__name__} reached the model unresolved")

    def _step(self) -> None:
        began = time.monotonic()
        try:
            events = self._batch.step()
        except Exception as err:  # the model failed for the whole batch: tell each, go on
            _LOGGER.exception("The %s model failed", self.name)
            rows, self._rows = self._rows, {}
            self._cached.drop()
            self._batch.close()
            self._batch = self._open_batch()
            for synthesis in rows.values():
                synthesis.row = None
                self._fail(synthesis, err)
            return
        spent = time.monotonic() - began
        for synthesis in self._rows.values():
            synthesis.stats.busy_seconds += spent
        for key, error in events:
            owner = self._rows.pop(key, None)
            if owner is None:
                continue  # a row that was dropped a moment ago
            synthesis = owner
            synthesis.row = None
            if error is None:  # its segment is spoken: the row goes back, the request queues
                synthesis.spoken = True
                self._cached.keep(key, synthesis)
            else:
                self._cached.drop(key)
                self._batch.remove(key)
                self._fail(synthesis, error)

    def _fail(self, synthesis: Synthesis, err: BaseException) -> None:
        _LOGGER.error("Synthesis failed (%s): %s", synthesis.label, err, exc_info=err)
        synthesis.emit(SynthesisError(f"Speech synthesis failed: {err}"))
        synthesis.failed = True
        synthesis.stop.set()
        self._finish(synthesis, failed=True)

    def _finish(self, synthesis: Synthesis, failed: bool = False) -> None:
        stats = synthesis.stats
        if (
            not failed
            and not synthesis.spoken
            and stats.samples == 0
            and not synthesis.stop.is_set()
        ):
            # Empty text still gets a valid response: one short frame of silence.
            self._send(synthesis, np.zeros(self.model.frame_samples, dtype=np.float32))
        if not failed and not synthesis.stop.is_set() and synthesis.output is not None:
            self._send_pcm(synthesis, synthesis.output.finish())  # the stretcher's tail
        stats.finished = time.monotonic()
        synthesis.voice_state = None
        _log_request(synthesis, self.model.sample_rate)
        if self.on_finish is not None:  # before the client hears the end, so it can ask
            self.on_finish(synthesis)
        with self._cond:  # free before the client hears the end: its next request may come
            if synthesis in self._active:
                self._active.remove(synthesis)
            idle = not self._active
        synthesis.emit(_END)
        if idle:  # give back what the generation freed (glibc keeps it otherwise)
            memory.trim()

    def _send(self, synthesis: Synthesis, frame: object) -> None:
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            return
        output = synthesis.output
        assert output is not None
        self._send_pcm(synthesis, output.process(samples))

    def _send_pcm(self, synthesis: Synthesis, pcm: np.ndarray) -> None:
        if pcm.size == 0:
            return
        with self._stats_lock:  # the model's thread and this one both send
            if synthesis.stats.first_audio is None:
                synthesis.stats.first_audio = time.monotonic()
            synthesis.stats.samples += pcm.size
        step = self.samples_per_chunk
        for start in range(0, pcm.size, step):
            synthesis.emit(pcm[start : start + step].tobytes())


def _arrival(synthesis: Synthesis) -> Arrival:
    stats = synthesis.stats
    return Arrival(stats.submitted, stats.text_ready, synthesis.stop.is_set())


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
        (f", {stats.cached} of {stats.segments} from the cache" if stats.cached else "")
        + (", cancelled" if stats.cancelled else ""),
    )
