"""`wyoming-tts bench --batch-sizes 1,2,4`: where more rows in a batch stop paying.

In this process, with the same model and voice the server would use, keeps N rows speaking
for a while (a row that ends is replaced at once, so N stay busy) and reports the audio made
per wall second, each row's own speed (below 1x real time its listener would hear gaps), and
how long a row that joins the others waits for its first audio.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time

import numpy as np

from wyoming_tts.pocket.batch import BatchGenerator
from wyoming_tts.pocket.model import PocketModel

TEXT = (
    "The living room is at twenty one degrees and the heating is off. "
    "All the windows are closed and the front door is locked."
)


def measure(model: PocketModel, voice: object, sizes: list[int], seconds: float) -> list[str]:
    """One markdown row per batch size."""
    rows = [
        "| Rows | Audio s per wall s | × one row | Each row's speed "
        "| First audio of a row that joins |",
        "| --- | --- | --- | --- | --- |",
    ]
    base = 0.0
    for size in sizes:
        made, joins = _run(model, voice, size, seconds)
        base = base or made
        rows.append(
            f"| {size} | {made:.2f} | {made / base:.2f}× | {made / size:.2f}× real time | "
            f"median {statistics.median(joins) * 1000:.0f} ms, max {max(joins) * 1000:.0f} ms |"
        )
    return rows


def _run(model: PocketModel, voice: object, size: int, seconds: float) -> tuple[float, list[float]]:
    samples = [0]
    added: dict[int, float] = {}
    first: dict[int, float] = {}
    lock = threading.Lock()

    def on_audio(key: int, audio: np.ndarray) -> None:
        with lock:
            samples[0] += audio.size
            first.setdefault(key, time.perf_counter())

    batch = BatchGenerator(model.model, on_audio)
    keys = itertools.count()

    def add() -> None:
        key = next(keys)
        added[key] = time.perf_counter()
        batch.add(key, voice, TEXT, threading.Event())

    try:
        for _ in range(size):
            add()
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _key, error in batch.step():
                if error is not None:
                    raise error
                add()  # keep SIZE rows speaking
        wall = time.perf_counter() - started
        for key in list(added):
            batch.remove(key)
    finally:
        batch.close()
    with lock:
        made = samples[0] / model.sample_rate / wall
        joins = [first[k] - added[k] for k in added if k in first and k >= size] or [
            first[k] - added[k] for k in added if k in first
        ]
    return made, joins
