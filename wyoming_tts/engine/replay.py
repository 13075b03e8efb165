"""One worker's use of the audio cache: segments spoken before are replayed, new ones kept.

The worker asks `replay` before it gives a segment a row. On a hit the request waits while
the kept frames go out on this helper's own thread, through the request's output, as the
model would send them (within the request's unread bound); a torn entry goes back to the
model. A segment the model speaks is gathered frame by frame (`record`, `frame`) and kept
when its row ends (`keep`): in memory at once, on disk on the same thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from wyoming_tts.engine.audio_cache import AudioCache, segment_key
from wyoming_tts.engine.synthesis import Synthesis

_LOGGER = logging.getLogger(__name__)

# What a request waits on while its segment is replayed.
REPLAYING = object()


class CachedSegments:
    """The cache side of one worker (its thread, and the rows being recorded)."""

    def __init__(
        self,
        name: str,
        cache: AudioCache | None,
        render: str,
        frame_samples: int,
        send: Callable[[Synthesis, np.ndarray], None],
    ) -> None:
        self.cache = cache if cache is not None and cache.enabled else None
        self.render = render
        self._frame_samples = frame_samples
        self._send = send
        self._recording: dict[int, tuple[str, str, list[np.ndarray]]] = {}
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"cache-{name}")

    def key(self, synthesis: Synthesis, text: str) -> str | None:
        if self.cache is None or not synthesis.voice_key:
            return None
        return segment_key(self.render, synthesis.voice_key, text)

    def replay(self, synthesis: Synthesis, cache_key: str | None, segment: str) -> bool:
        """True when SEGMENT is kept: SYNTHESIS then waits while it is replayed."""
        if cache_key is None or self.cache is None or not self.cache.has(cache_key):
            return False
        synthesis.waiting = REPLAYING  # ready again once replayed
        self._thread.submit(self._replay, synthesis, cache_key, segment)
        return True

    def record(self, row: int, cache_key: str | None, synthesis: Synthesis) -> None:
        if cache_key is not None:
            self._recording[row] = (cache_key, synthesis.voice_key, [])

    def frame(self, row: int, frame: object) -> None:
        """A row's frame, from the decoder thread (only that row's entry is touched)."""
        recording = self._recording.get(row)
        if recording is not None:
            recording[2].append(np.array(frame, dtype=np.float32).reshape(-1))

    def keep(self, row: int, synthesis: Synthesis) -> None:
        """ROW's segment is spoken: keep its audio for next time."""
        recording = self._recording.pop(row, None)
        if recording is None or synthesis.stop.is_set() or self.cache is None:
            return
        cache_key, voice_key, frames = recording
        if frames:
            samples = np.concatenate(frames)
            if self.cache.remember(cache_key, samples):  # the next request may hit it now
                self._thread.submit(self.cache.store, cache_key, voice_key, samples)

    def drop(self, row: int | None = None) -> None:
        """Forget ROW's frames (its request left or failed), or every row's."""
        if row is None:
            self._recording.clear()
        else:
            self._recording.pop(row, None)

    def close(self) -> None:
        self._thread.shutdown(wait=False)

    def _replay(self, synthesis: Synthesis, cache_key: str, segment: str) -> None:
        try:
            samples = self.cache.get(cache_key) if self.cache is not None else None
            if samples is None:
                synthesis.stats.segments -= 1
                synthesis.push_back(segment)
                return
            synthesis.stats.cached += 1
            step = self._frame_samples
            for start in range(0, samples.size, step):
                while synthesis.full() and not synthesis.stop.is_set():
                    time.sleep(0.01)  # the client reads slowly: as bounded as the model's rows
                if synthesis.stop.is_set():
                    break
                self._send(synthesis, samples[start : start + step])
            synthesis.spoken = True
        except Exception:  # never leave the request waiting
            _LOGGER.exception("Replaying cached audio failed")
        finally:
            synthesis.resume()
