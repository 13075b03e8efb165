"""PCM out: gain, per-voice loudness, speech rate (time-stretch) and the limiter, in one place.

An `Output` belongs to one request; the engine hands it each frame as it is made and sends
the 16-bit PCM it returns. The stretcher imports audiotsm only when a rate other than 1.0 is
asked for. Nothing here knows of requests, Wyoming, HTTP or torch.
"""

# The speech rates the server takes (1.0: as the model speaks). WSOLA keeps the pitch over the
# whole range; see the README's "Speech rate" for what was measured.
MIN_RATE = 0.5
MAX_RATE = 2.0


class RateError(ValueError):
    """A speech rate out of range; the message says what to send."""


def check_rate(value: object, name: str = "speed") -> float:
    """VALUE as a rate, or RateError with the one sentence every door sends."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RateError(f"'{name}' must be a number from {MIN_RATE} to {MAX_RATE}.")
    rate = float(value)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise RateError(
            f"'{name}' must be from {MIN_RATE} to {MAX_RATE} (1.0 is normal); got {rate:g}."
        )
    return rate
