"""The scheduler's rules, alone: who gets a row next, and how long new requests gather."""

from __future__ import annotations

import pytest

from wyoming_tts.engine.policy import (
    GATHER_MAX_SECONDS,
    GATHER_SECONDS,
    Arrival,
    Candidate,
    choose,
    gather_until,
)


def test_rows_go_to_who_waited_longest_new_requests_first() -> None:
    candidates = [Candidate(5.0, True), Candidate(0.0, True), Candidate(3.0, True)]
    assert choose(candidates, free_rows=2) == [1, 2]  # new (never had a row), then waited longest


def test_a_request_that_only_needs_to_finish_always_goes() -> None:
    candidates = [Candidate(1.0, True), Candidate(9.0, False), Candidate(2.0, True)]
    assert choose(candidates, free_rows=1) == [0, 1]
    assert choose(candidates, free_rows=0) == [1]


def test_equal_waits_keep_the_order_they_came_in() -> None:
    assert choose([Candidate(0.0, True)] * 3, free_rows=3) == [0, 1, 2]


def test_nothing_to_gather_without_a_fresh_request() -> None:
    assert gather_until([], [Arrival(1.0, None)]) is None


def test_a_new_request_waits_a_moment_for_others() -> None:
    fresh = [Arrival(submitted=10.0, text_ready=10.001)]
    assert gather_until(fresh, fresh) == pytest.approx(10.001 + GATHER_SECONDS)


def test_longer_while_one_sent_with_it_is_still_being_cut() -> None:
    fresh = [Arrival(10.0, 10.001)]
    cutting = Arrival(10.0005, None)
    assert gather_until(fresh, [*fresh, cutting]) == pytest.approx(10.001 + GATHER_MAX_SECONDS)
    late = Arrival(10.0 - 2 * GATHER_SECONDS, None)  # sent well before: not "with it"
    assert gather_until(fresh, [*fresh, late]) == pytest.approx(10.001 + GATHER_SECONDS)
    gone = Arrival(10.0005, None, stopped=True)  # its client left: nothing to wait for
    assert gather_until(fresh, [*fresh, gone]) == pytest.approx(10.001 + GATHER_SECONDS)
