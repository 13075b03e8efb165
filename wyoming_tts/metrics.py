"""Prometheus metrics of the whole server, served at `GET /metrics` on the web port.

Counts and histograms are updated as requests finish (from the worker threads: the
prometheus_client objects are thread-safe); what is read at scrape time (rows speaking, the
voice-state cache, memory, model load time) comes from `snapshot`, a function given by the app.
One `Metrics` per server, with its own registry: no module-level state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FIRST_AUDIO_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
REAL_TIME_BUCKETS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Snapshot:
    """What is read when Prometheus scrapes."""

    rows: int  # rows speaking in every model's batch
    active: int  # requests admitted and not finished
    voice_hits: int
    voice_misses: int
    voice_encodings: int
    resident_bytes: float
    model_load_seconds: dict[str, float]


class _Live(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        now = self._snapshot()
        yield GaugeMetricFamily("wyoming_tts_batch_rows", "Rows speaking now", value=now.rows)
        yield GaugeMetricFamily(
            "wyoming_tts_active_requests", "Requests admitted, not finished", value=now.active
        )
        for name, value, text in (
            ("hits", now.voice_hits, "Voice states found in memory"),
            ("misses", now.voice_misses, "Voice states loaded from disk or encoded"),
            ("encodings", now.voice_encodings, "Audio files encoded into voice states"),
        ):
            yield CounterMetricFamily(f"wyoming_tts_voice_state_{name}", text, value=value)
        yield GaugeMetricFamily(
            "wyoming_tts_resident_memory_bytes", "Resident memory", value=now.resident_bytes
        )
        load = GaugeMetricFamily(
            "wyoming_tts_model_load_seconds", "Time to load each model", labels=["language"]
        )
        for language, seconds in now.model_load_seconds.items():
            load.add_metric([language], seconds)
        yield load


class Metrics:
    """The server's metrics; `exposition()` is the text Prometheus reads."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "wyoming_tts_requests",
            "Finished requests by door, voice and outcome (spoken, cancelled, failed)",
            ["door", "voice", "outcome"],
            registry=self.registry,
        )
        self._errors = Counter(
            "wyoming_tts_errors",
            "Requests refused or failed, by door and code",
            ["door", "code"],
            registry=self.registry,
        )
        self._first_audio = Histogram(
            "wyoming_tts_first_audio_seconds",
            "From the text being ready to the first audio",
            ["door"],
            buckets=FIRST_AUDIO_BUCKETS,
            registry=self.registry,
        )
        self._real_time = Histogram(
            "wyoming_tts_real_time_factor",
            "Seconds of audio per second of model time",
            buckets=REAL_TIME_BUCKETS,
            registry=self.registry,
        )
        self._queue = Histogram(
            "wyoming_tts_queue_wait_seconds",
            "From admission to the first row",
            buckets=QUEUE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Live(snapshot))

    def finished(
        self,
        door: str,
        voice: str,
        outcome: str,
        first_audio: float | None,
        real_time: float | None,
        queue_wait: float,
    ) -> None:
        """One request ended (any thread)."""
        self._requests.labels(door, voice, outcome).inc()
        if first_audio is not None:
            self._first_audio.labels(door).observe(first_audio)
        if real_time:
            self._real_time.observe(real_time)
        self._queue.observe(queue_wait)

    def error(self, door: str, code: str) -> None:
        self._errors.labels(door, code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
