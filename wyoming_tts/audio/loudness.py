"""Voices matched in loudness: a fixed gain per voice, and a limiter so peaks never clip.

When a voice state is made, the engine speaks `CALIBRATION_TEXT` with it once; its integrated
loudness (ITU-R BS.1770: K-weighting, 400 ms blocks, the -70 LUFS and -10 LU gates) gives the
gain that brings the voice to `TARGET_LUFS`. It is measured here with numpy alone: pyloudnorm
(which the tests compare it with, within 0.1 LU) brings scipy.signal, 64 MB resident and a
second to import, measured on this server's process — too much for a Pi, for one number.
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
# One sentence of some three seconds: the integrated loudness of speech settles within that,
# and a voice's first request (or a fresh start) waits for it only once.
CALIBRATION_TEXT = "Your package was delivered to the front door, and the lights are on."
# Where the limiter holds the peaks (-0.2 dBFS), and how fast it lets go after one.
CEILING = 0.977
RELEASE_SECONDS = 0.08
_Biquad = tuple[tuple[float, float, float], tuple[float, float, float]]  # (b, a)


def measure_lufs(samples: np.ndarray, sample_rate: int) -> float:
    """The integrated loudness of mono SAMPLES in LUFS (-inf for silence or under 0.4 s)."""
    block = int(0.4 * sample_rate)
    if samples.size < block:
        return -math.inf
    weighted = _k_weighted(samples.astype(np.float64), sample_rate)
    hop = block // 4  # 75 % overlap
    power = np.cumsum(np.concatenate([[0.0], weighted * weighted]))
    starts = np.arange(0, samples.size - block + 1, hop)
    energy = (power[starts + block] - power[starts]) / block
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(energy)
    kept = energy[loudness > -70.0]  # the absolute gate
    if kept.size == 0:
        return -math.inf
    relative = -0.691 + 10 * np.log10(kept.mean()) - 10.0
    with np.errstate(divide="ignore"):
        kept = kept[-0.691 + 10 * np.log10(kept) > relative]  # the relative gate
    return float(-0.691 + 10 * np.log10(kept.mean())) if kept.size else -math.inf


def _k_weighted(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """BS.1770's K-weighting (a +4 dB shelf above 1.5 kHz, a high-pass at 38 Hz), applied in
    the frequency domain: the two biquads' response over a padded FFT (their tails fit)."""
    size = 1 << int(np.ceil(np.log2(samples.size + sample_rate // 2)))
    w = 2 * np.pi * np.fft.rfftfreq(size)  # radians per sample
    z1, z2 = np.exp(-1j * w), np.exp(-2j * w)
    response = np.ones_like(z1)
    for b, a in (_shelf(sample_rate), _high_pass(sample_rate)):
        response *= (b[0] + b[1] * z1 + b[2] * z2) / (a[0] + a[1] * z1 + a[2] * z2)
    return np.fft.irfft(np.fft.rfft(samples, size) * response, size)[: samples.size]


def _shelf(rate: int, gain_db: float = 4.0, fc: float = 1500.0, q: float = 0.5**0.5) -> _Biquad:
    """A high shelf (the Audio EQ Cookbook's biquad)."""
    big_a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * fc / rate
    cos, alpha = np.cos(w0), np.sin(w0) / (2 * q)
    root = 2 * np.sqrt(big_a) * alpha
    b = (
        big_a * ((big_a + 1) + (big_a - 1) * cos + root),
        -2 * big_a * ((big_a - 1) + (big_a + 1) * cos),
        big_a * ((big_a + 1) + (big_a - 1) * cos - root),
    )
    a = ((big_a + 1) - (big_a - 1) * cos + root, 2 * ((big_a - 1) - (big_a + 1) * cos),
         (big_a + 1) - (big_a - 1) * cos - root)  # fmt: skip
    return b, a


def _high_pass(rate: int, fc: float = 38.0, q: float = 0.5) -> _Biquad:
    """A second-order high-pass (the Audio EQ Cookbook's biquad)."""
    w0 = 2 * np.pi * fc / rate
    cos, alpha = np.cos(w0), np.sin(w0) / (2 * q)
    return ((1 + cos) / 2, -(1 + cos), (1 + cos) / 2), (1 + alpha, -2 * cos, 1 - alpha)


def loudness_gain(samples: np.ndarray, sample_rate: int, target: float = TARGET_LUFS) -> float:
    """The gain that brings SAMPLES to TARGET LUFS (1.0 when they have no loudness to measure)."""
    lufs = measure_lufs(samples, sample_rate)
    if not math.isfinite(lufs):
        return 1.0
    db = max(-MAX_GAIN_DB, min(MAX_GAIN_DB, target - lufs))
    return float(10 ** (db / 20))


class Limiter:
    """A peak limiter without look-ahead: a sample over the ceiling is brought to it, and the
    gain comes back to 1 with a time constant of RELEASE_SECONDS, so a loud syllable does not
    click. Sample by sample, so the result does not depend on how the audio is cut in frames
    (a replay from the audio cache is the same samples as the model's frames)."""

    def __init__(self, sample_rate: int) -> None:
        self._depth = 0.0  # 1 - gain after the last sample
        self._log_decay = -1.0 / (RELEASE_SECONDS * sample_rate)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """SAMPLES limited (a new array only when a sample is over the ceiling or releasing)."""
        if samples.size == 0:
            return samples
        magnitude = np.abs(samples).astype(np.float64)
        if self._depth < 1e-7 and float(magnitude.max()) <= CEILING:
            self._depth = 0.0
            return samples
        # depth[n] = max over m <= n of needed[m] * decay^(n - m): instant attack, exponential
        # release, computed in the log domain as one running maximum (no loop over samples).
        needed = 1.0 - np.minimum(1.0, CEILING / np.maximum(magnitude, 1e-12))
        steps = np.arange(samples.size) * self._log_decay
        with np.errstate(divide="ignore"):
            log_needed = np.log(needed)
            carried = np.log(self._depth) + steps + self._log_decay if self._depth else None
        log_depth = steps + np.maximum.accumulate(log_needed - steps)
        if carried is not None:
            log_depth = np.maximum(log_depth, carried)
        depth = np.exp(log_depth)
        self._depth = float(depth[-1])
        limited: np.ndarray = (samples * (1.0 - depth)).astype(np.float32)
        return limited
