"""The scheduler's rules as pure functions: who gets a batch row next, and how long a new
request waits for others sent with it. No threads, no clocks of their own: the worker
(`engine.scheduler`) gives them plain data and acts on the answer, and the unit tests in
tests/test_policy.py check each rule alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A new request waits this long for others sent at the same moment, so that they start
# together; up to the longer time for one whose text is still being cut.
GATHER_SECONDS = 0.002
GATHER_MAX_SECONDS = 0.008


@dataclass(frozen=True)
class Candidate:
    """A request without a row that has something to do now."""

    last_row: float  # when it last had a row (0.0: never, so a new request comes first)
    wants_row: bool  # it has a segment to speak (else it only needs to finish)


def choose(candidates: Sequence[Candidate], free_rows: int) -> list[int]:
    """The indexes of CANDIDATES served now, in order.

    One that only needs to finish always goes; rows go to those that waited longest since
    their last row, while rows are free."""
    chosen: list[int] = []
    order = sorted(range(len(candidates)), key=lambda i: candidates[i].last_row)
    for index in order:
        if candidates[index].wants_row:
            if free_rows <= 0:
                continue
            free_rows -= 1
        chosen.append(index)
    return chosen


@dataclass(frozen=True)
class Arrival:
    """An admitted request that has not started yet."""

    submitted: float
    text_ready: float | None  # when its first segment was ready (None: still being cut)
    stopped: bool = False


def gather_until(fresh: Sequence[Arrival], others: Sequence[Arrival]) -> float | None:
    """When to start FRESH (new requests with a segment ready), so that requests sent at the
    same moment start together; None when there is nothing to wait for.

    Satellites that announce together send within a millisecond or two: a request prompted
    alone would make the others wait for its prompt before theirs (measured on the flagship:
    of four at once, the last three waited 50 ms more). So a new request waits GATHER_SECONDS,
    and up to GATHER_MAX_SECONDS while one sent with it (in OTHERS) is still being cut."""
    if not fresh:
        return None
    first = min(max(a.text_ready or a.submitted, a.submitted) for a in fresh)
    cutting = any(
        a.text_ready is None and not a.stopped and a.submitted >= first - GATHER_SECONDS
        for a in others
    )
    return first + (GATHER_MAX_SECONDS if cutting else GATHER_SECONDS)
