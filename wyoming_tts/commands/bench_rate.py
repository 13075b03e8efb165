"""`wyoming-tts bench --rates`: what a speech rate other than 1.0 costs, through the speech API.

Requests at each rate alternate (so drift of a shared machine lands on all alike): first byte
of PCM for a short text, and for a long one the audio per wall second, both as heard and as the
model made it (heard x rate: the model's own pace, which the stretcher must not slow).
"""

from __future__ import annotations

import statistics

from wyoming_tts.commands.bench_http import _http

RATES = (1.0, 0.8, 1.3)
FRAME_SECONDS = 0.08  # one Pocket TTS frame


async def measure(
    web_port: int, voice: str, short: str, long: str, runs: int
) -> list[tuple[str, str, str, bool | str]]:
    """The rows of the bench table: (measure, value, target, met)."""
    firsts: dict[float, list[float]] = {rate: [] for rate in RATES}
    speeds: dict[float, list[float]] = {rate: [] for rate in RATES}
    for _ in range(runs):
        for rate in RATES:
            firsts[rate].append((await _http(web_port, short, voice, rate))[0])
    for _ in range(max(3, runs // 2)):
        for rate in RATES:
            speeds[rate].append((await _http(web_port, long, voice, rate))[1])
    first = {rate: statistics.median(values) for rate, values in firsts.items()}
    heard = {rate: statistics.median(values) for rate, values in speeds.items()}
    made = {rate: heard[rate] * rate for rate in RATES}  # the model's audio per wall second
    rows: list[tuple[str, str, str, bool | str]] = []
    for rate in RATES:
        extra = first[rate] - first[1.0]
        share = made[rate] / made[1.0]
        rows.append(
            (
                f"Rate {rate:g}: first audio",
                f"{first[rate] * 1000:.0f} ms ({extra * 1000:+.0f} ms)",
                "≤ +1 frame (80 ms)" if rate != 1.0 else "",
                extra <= FRAME_SECONDS if rate != 1.0 else "",
            )
        )
        rows.append(
            (
                f"Rate {rate:g}: audio per wall second, heard / as the model made it",
                f"{heard[rate]:.2f}× / {made[rate]:.2f}× ({share:.2f} of rate 1.0)",
                "≥ 0.90 of rate 1.0" if rate != 1.0 else "",
                share >= 0.90 if rate != 1.0 else "",
            )
        )
    return rows
