"""Voices matched in loudness: a fixed gain per voice, and a limiter so peaks never clip.

When a voice state is made, the engine speaks `CALIBRATION_TEXT` with it once; its integrated
loudness (ITU-R BS.1770, `pyloudnorm`) gives the gain that brings the voice to `TARGET_LUFS`.
The gain is kept with the voice state, so it is measured once per voice and model. The
limiter only acts on the samples that the gain would push past full scale.
"""

from __future__ import annotations

import math

import numpy as np

# The level every voice speaks at: -20 LUFS leaves speech's peaks (some 12-16 dB above its
# loudness) under full scale, and is near what Piper's voices measure.
TARGET_LUFS = -20.0
# A gain the calibration may give, at most: a voice that is nearly silent stays quiet rather
# than have its noise raised 30 dB.
MAX_GAIN_DB = 18.0
CALIBRATION_TEXT = (
    "The weather today is mild, with a light breeze in the afternoon. "
    "Your package was delivered to the front door."
)
# Where the limiter holds the peaks (-0.2 dBFS), and how fast it lets go after one.
CEILING = 0.977
RELEASE_SECONDS = 0.08
_BLOCK = 240  # the limiter's envelope step, 10 ms at 24 kHz


def measure_lufs(samples: np.ndarray, sample_rate: int) -> float:
    """The integrated loudness of SAMPLES in LUFS (-inf for silence or under 0.4 s)."""
    if samples.size < int(0.4 * sample_rate):
        return -math.inf
    import pyloudnorm  # scipy: only when a voice is calibrated

    meter = pyloudnorm.Meter(sample_rate)
    return float(meter.integrated_loudness(samples.astype(np.float64)))


def loudness_gain(samples: np.ndarray, sample_rate: int, target: float = TARGET_LUFS) -> float:
    """The gain that brings SAMPLES to TARGET LUFS (1.0 when they have no loudness to measure)."""
    lufs = measure_lufs(samples, sample_rate)
    if not math.isfinite(lufs):
        return 1.0
    db = max(-MAX_GAIN_DB, min(MAX_GAIN_DB, target - lufs))
    return float(10 ** (db / 20))


class Limiter:
    """A peak limiter without look-ahead: a sample over the ceiling is brought to it, and the
    gain comes back to 1 over RELEASE_SECONDS, so a loud syllable does not click."""

    def __init__(self, sample_rate: int) -> None:
        self._gain = 1.0
        blocks_per_release = max(1.0, RELEASE_SECONDS * sample_rate / _BLOCK)
        self._recover = 1.0 - math.exp(-1.0 / blocks_per_release)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """SAMPLES limited (a new array only when a sample is over the ceiling or releasing)."""
        if samples.size == 0:
            return samples
        magnitude = np.abs(samples)
        if self._gain >= 1.0 and float(magnitude.max()) <= CEILING:
            return samples
        needed = np.minimum(1.0, CEILING / np.maximum(magnitude, 1e-9))
        blocks = -(-samples.size // _BLOCK)
        envelope = np.empty(blocks + 1)
        envelope[0] = gain = self._gain
        for j in range(blocks):  # a few steps a frame: the envelope, not the samples
            floor = float(needed[j * _BLOCK : (j + 1) * _BLOCK].min())
            gain = min(floor, gain + (1.0 - gain) * self._recover)
            envelope[j + 1] = gain
        self._gain = gain if gain < 0.9999 else 1.0
        ends = np.minimum(np.arange(blocks + 1) * _BLOCK, samples.size)
        smooth = np.interp(np.arange(samples.size), ends, envelope)
        limited: np.ndarray = (samples * np.minimum(smooth, needed)).astype(np.float32)
        return limited
