"""What the engine needs of a model: frames for a text (`Model`), and rows that share each
frame (`Batch`, from `BatchModel.open_batch`); `OneAtATime` makes a Batch of any Model.

No torch here: pocket.model provides the real ones, the tests fakes with exact timing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Protocol


class Batch(Protocol):
    """Rows of one model speaking together; used by the worker's thread only."""

    def add(
        self, key: int, voice_state: object, text: str, stop: threading.Event, first: bool = True
    ) -> None:
        """Start speaking TEXT as row KEY, until STOP is set; raise if this text or voice
        cannot be spoken. FIRST: nothing of this request has been heard yet (its first audio
        is worth a little of the others' speed)."""
        ...

    def remove(self, key: int) -> None:
        """Drop row KEY now; nothing more comes for it."""
        ...

    def step(self) -> list[tuple[int, BaseException | None]]:
        """Advance every row one frame; its audio goes to the batch's sink as it is made.

        Returns (key, None) when a row's text is all spoken (after its last audio), and
        (key, exception) when it failed. Returns soon when there is nothing to do."""
        ...

    def pending(self) -> bool:
        """True while any row has audio still to come."""
        ...

    def wake(self) -> None:
        """End a `step` that is waiting, soon (from any thread): a request needs the worker."""
        ...

    def close(self) -> None: ...


class Model(Protocol):
    """What the worker needs of a loaded model."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def frame_samples(self) -> int: ...

    def generate(self, voice_state: object, text: str, stop: threading.Event) -> Iterator[object]:
        """Yield float32 frames (anything numpy can read) for TEXT, stopping when STOP is set."""
        ...


AudioSink = Callable[[int, object], None]  # (row key, float32 frame), from any thread


class BatchModel(Model, Protocol):
    """A model whose rows can share each frame (pocket-tts's batch dimension)."""

    def open_batch(self, on_audio: AudioSink) -> Batch: ...


class OneAtATime:
    """The Batch of a model that speaks one text at a time (its `generate`), one row at most."""

    capacity = 1

    def __init__(self, model: Model, on_audio: AudioSink) -> None:
        self.model = model
        self._on_audio = on_audio
        self._key: int | None = None
        self._frames: Iterator[object] | None = None
        self._stop = threading.Event()

    def add(
        self, key: int, voice_state: object, text: str, stop: threading.Event, first: bool = True
    ) -> None:
        assert self._key is None, "one row at a time"
        self._stop = stop
        self._frames = iter(self.model.generate(voice_state, text, stop))
        self._key = key

    def remove(self, key: int) -> None:
        if key == self._key:
            self._drop()

    def step(self) -> list[tuple[int, BaseException | None]]:
        if self._key is None or self._frames is None:
            return []
        key = self._key
        try:
            frame = next(self._frames)
        except StopIteration:
            self._drop()
            return [(key, None)]
        except Exception as err:
            self._drop()
            return [(key, err)]
        self._on_audio(key, frame)
        return []

    def pending(self) -> bool:
        return self._key is not None

    def wake(self) -> None:
        """Its step never waits."""

    def close(self) -> None:
        self._stop.set()
        self._drop()

    def _drop(self) -> None:
        frames, self._frames, self._key = self._frames, None, None
        close = getattr(frames, "close", None)
        if close is not None:
            with contextlib.suppress(ValueError):  # still running in the worker's thread
                close()
