"""One response's PCM: gain (voice loudness x volumes), then speech rate, then the limiter.

Rate 1.0 puts no stretcher in the path. A rate set for part of a response (SSML `prosody`)
changes the one stretcher's rate between two frames, so its audio stays continuous.
"""

from __future__ import annotations

import numpy as np

from wyoming_tts.audio import MAX_RATE, MIN_RATE
from wyoming_tts.audio.loudness import Limiter
from wyoming_tts.audio.rate import Stretcher


class Output:
    """Float frames in (any thread, one at a time), 16-bit PCM out."""

    def __init__(self, sample_rate: int, *, gain: float = 1.0, rate: float = 1.0) -> None:
        self.sample_rate = sample_rate
        self.gain = gain  # the voice's loudness gain x the server's and the voice's volume
        self.rate = rate  # the response's base rate
        self._scale = 1.0  # a part's own volume (SSML prosody), on top of the gain
        self._part_rate = 1.0  # a part's own rate, times the base rate
        self._stretcher: Stretcher | None = None
        self._limiter = Limiter(sample_rate)

    def set_part(self, rate: float = 1.0, volume: float = 1.0) -> None:
        """The rate and volume of what follows, relative to the response's own."""
        self._part_rate, self._scale = rate, volume

    @property
    def rate_now(self) -> float:
        """The rate of what is spoken now (the base rate x the part's, within range)."""
        return max(MIN_RATE, min(MAX_RATE, self.rate * self._part_rate))

    def process(self, samples: np.ndarray) -> np.ndarray:
        """One frame (float32, any length) to int16 PCM; may return fewer samples (stretching)."""
        rate = self.rate_now
        if self._stretcher is None and rate != 1.0:
            self._stretcher = Stretcher(rate)
        if self._stretcher is not None:
            self._stretcher.set_rate(rate)
            samples = self._stretcher.feed(samples)
        return self._pcm(samples)

    def finish(self) -> np.ndarray:
        """What the stretcher still holds (nothing without one)."""
        if self._stretcher is None:
            return np.zeros(0, dtype="<i2")
        return self._pcm(self._stretcher.finish())

    def _pcm(self, samples: np.ndarray) -> np.ndarray:
        gain = self.gain * self._scale
        if gain != 1.0:
            samples = samples * np.float32(gain)
        samples = self._limiter.process(samples)
        pcm: np.ndarray = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
        return pcm
