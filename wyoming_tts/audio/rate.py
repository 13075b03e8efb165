"""Speech rate: a streaming time-stretch that keeps the pitch (WSOLA, from `audiotsm`).

Frames go in as the model makes them and come out stretched; `finish` drains the tail, and the
total length is exactly the input's divided by the rate, so a response's duration is what was
asked for. The choice of WSOLA over Rubber Band and Signalsmith Stretch is measured in the
README ("Speech rate").
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from audiotsm.io.base import Writer

# WSOLA's analysis frame: 1024 samples is 43 ms at 24 kHz, about two pitch periods of a low voice.
FRAME_LENGTH = 1024


class _Queue(Writer):  # type: ignore[misc]
    """Where the stretcher writes: blocks kept until taken (audiotsm's own writer joins all
    it has ever written on each read)."""

    def __init__(self) -> None:
        self._blocks: deque[np.ndarray] = deque()
        self.size = 0

    @property
    def channels(self) -> int:
        return 1

    def write(self, buffer: np.ndarray) -> int:
        if buffer.shape[1]:
            self._blocks.append(buffer[0].astype(np.float32))
            self.size += buffer.shape[1]
        return int(buffer.shape[1])

    def take(self, limit: int) -> np.ndarray:
        """Up to LIMIT samples, oldest first."""
        out: list[np.ndarray] = []
        while self._blocks and limit > 0:
            block = self._blocks.popleft()
            if block.size > limit:
                self._blocks.appendleft(block[limit:])
                block = block[:limit]
            out.append(block)
            limit -= block.size
            self.size -= block.size
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


class Stretcher:
    """One response's time-stretch: `feed` frames at any rate, then `finish`."""

    def __init__(self, rate: float) -> None:
        from audiotsm import wsola

        self._tsm = wsola(1, speed=rate, frame_length=FRAME_LENGTH)
        self._writer = _Queue()
        self.rate = rate
        self._expected = 0.0  # output samples owed: the input's length over its rate
        self._given = 0

    def set_rate(self, rate: float) -> None:
        if rate != self.rate:
            self.rate = rate
            self._tsm.set_speed(rate)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Stretch SAMPLES (float32); return what is ready (often a little less than owed)."""
        self._expected += samples.size / self.rate
        reader = _reader(samples.reshape(1, -1).astype(np.float64))
        while not reader.empty:
            self._tsm.read_from(reader)
            self._tsm.write_to(self._writer)
        self._tsm.write_to(self._writer)
        return self._take(round(self._expected) - self._given)

    def finish(self) -> np.ndarray:
        """The rest: exactly what is owed, the tail drained and padded or cut to length."""
        pad = _reader(np.zeros((1, 2 * FRAME_LENGTH)))
        while not pad.empty:
            self._tsm.read_from(pad)
            self._tsm.write_to(self._writer)
        done = False
        while not done:
            _written, done = self._tsm.flush_to(self._writer)
        owed = round(self._expected) - self._given
        out = self._take(owed)
        if out.size < owed:
            out = np.concatenate([out, np.zeros(owed - out.size, dtype=np.float32)])
        return out

    def _take(self, limit: int) -> np.ndarray:
        out = self._writer.take(limit)
        self._given += out.size
        return out


def _reader(samples: np.ndarray) -> Any:
    from audiotsm.io.array import ArrayReader

    return ArrayReader(samples)
