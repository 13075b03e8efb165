"""The Mimi decoder of a batch, in a thread of its own: latents in, audio out.

The FlowLM sends one `Step` per frame: the latents of the rows it carries. The decoder's rows
become those rows (a row it has not seen starts with a fresh decoder state, as pocket-tts
starts one for every chunk; a row missing from a step has ended or was dropped). When it is
behind, steps with the same rows are decoded together, several frames in one call, as
pocket-tts does. Audio goes out as soon as it is made, with pocket-tts's 5 ms fade-in at the
start of each row; a request whose text is all spoken is reported after its last audio.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from wyoming_tts.pocket.rows import RowState
from wyoming_tts.pocket.upstream import ModelState, TTSModel, init_states

_LOGGER = logging.getLogger(__name__)

# Frames decoded in one call at most when the decoder is behind (pocket-tts decodes all).
MAX_DECODE_FRAMES = 8
# Frames of room in the decoder's caches (its attention sees 250 positions back at most).
ROOM_FRAMES = 8

DecoderKey = tuple[int, int]  # (row, chunk): every chunk has a fresh decoder state
AudioSink = Callable[[int, np.ndarray], None]  # (row, float32 samples)
EndSink = Callable[[int, BaseException | None], None]  # (row, None: all spoken | its error)


@dataclass
class Step:
    """One FlowLM step: the latents of the rows in KEYS, and the rows then all spoken."""

    keys: list[DecoderKey]
    latents: torch.Tensor | None  # [len(keys), 1, ldim]
    last: set[int] = field(default_factory=set)
    # Rows whose listener has heard nothing yet: this step has their first frame.
    first: set[DecoderKey] = field(default_factory=set)
    # Rows whose first frame (this step's latent) was decoded ahead, with their state since.
    ahead: dict[DecoderKey, ModelState] = field(default_factory=dict)


class Decoder:
    """Decodes the steps sent to it, in order, in its own thread."""

    def __init__(
        self,
        model: TTSModel,
        on_audio: AudioSink,
        on_end: EndSink,
        on_progress: Callable[[], None] = lambda: None,
    ) -> None:
        self.mimi = model.mimi
        self.flow_lm = model.flow_lm
        self.sample_rate = int(model.config.mimi.sample_rate)
        self._steps_per_latent = int(self.mimi.encoder_frame_rate / self.mimi.frame_rate)
        self._on_audio = on_audio
        self._on_end = on_end
        self._on_progress = on_progress  # after each call: the FlowLM may be waiting for it
        self._inbox: queue.Queue[Step | None] = queue.Queue()
        self._lock = threading.Lock()
        self._behind = 0
        self._thread = threading.Thread(target=self._run, name="tts-decoder", daemon=True)
        self._thread.start()

    @property
    def behind(self) -> int:
        """Steps sent and not yet decoded."""
        with self._lock:
            return self._behind

    def send(self, step: Step) -> None:
        with self._lock:
            self._behind += 1
        self._inbox.put(step)

    def close(self) -> None:
        self._inbox.put(None)
        self._thread.join(5.0)

    @torch.no_grad()
    def _run(self) -> None:
        rows: RowState[DecoderKey] = RowState(self.mimi)
        pending: deque[Step] = deque()
        closing = False
        while True:
            if not pending:
                if closing:
                    return
                first = self._inbox.get()
                if first is None:
                    return
                pending.append(first)
            closing = self._collect(pending) or closing
            group: list[Step] = []
            try:
                self._first_frames(rows, pending)
                group = self._take_group(pending)
                self._decode(rows, group)
            except Exception as err:  # every row in here hears of it; the next ones start anew
                _LOGGER.exception("The decoder failed")
                group.extend(pending)
                pending.clear()
                keys = {key for step in group for key, _chunk in step.keys}
                for key in keys | {key for key, _chunk in rows.keys}:
                    self._on_end(key, err)
                rows = RowState(self.mimi)
            finally:
                with self._lock:
                    self._behind -= len(group)
                self._on_progress()

    def _collect(self, pending: deque[Step]) -> bool:
        """Move every step waiting in the inbox to PENDING; True when closing was asked."""
        while True:
            try:
                step = self._inbox.get_nowait()
            except queue.Empty:
                return False
            if step is None:
                return True
            pending.append(step)

    @staticmethod
    def _take_group(pending: deque[Step]) -> list[Step]:
        """The next steps with the same rows (fewer, larger calls when behind)."""
        group = [pending.popleft()]
        head = group[0]
        while pending and len(group) < MAX_DECODE_FRAMES and not group[-1].last:
            following = pending[0]
            if following.keys != head.keys or following.ahead or head.ahead:
                break
            group.append(pending.popleft())
        return group

    def _first_frames(self, rows: RowState[DecoderKey], pending: deque[Step]) -> None:
        """Decode the first frame of rows that joined, ahead of the steps still to decode.

        A row's first audio then waits for one small call, not for the queue or a call for
        all rows. Its state joins the others when its step's turn comes.
        """
        known = set(rows.keys)
        for step in pending:
            known.update(step.ahead)
        firsts: list[tuple[Step, int, DecoderKey]] = []
        earlier: set[int] = set()  # requests with audio in the steps before this one
        for position, step in enumerate(pending):
            new = [(index, key) for index, key in enumerate(step.keys) if key not in known]
            known.update(key for _index, key in new)
            # A request's next chunk must not overtake the end of its previous one.
            new = [(index, key) for index, key in new if key[0] not in earlier]
            earlier.update(request for request, _chunk in step.keys)
            # Alone at the head of the queue, new rows simply start; beside rows already
            # speaking (whose audio is ahead of their listeners), or behind steps still to
            # decode, their first frame goes first; at the head, the first frames of rows
            # whose listener waits go before those of rows already speaking.
            if new and step.latents is not None and position == 0:
                waited = [(index, key) for index, key in new if key in step.first]
                new = waited if 0 < len(waited) < len(step.keys) else new
            if new and step.latents is not None and (position > 0 or len(new) < len(step.keys)):
                firsts.extend((step, index, key) for index, key in new)
        if not firsts:
            return
        side: RowState[DecoderKey] = RowState(self.mimi)
        room = ROOM_FRAMES * self._steps_per_latent
        side.rebuild([], [(key, self._fresh_state()) for _s, _i, key in firsts], room)
        latents = torch.cat([s.latents[i : i + 1] for s, i, _k in firsts if s.latents is not None])
        for (step, _index, key), samples in zip(firsts, self._run_mimi(side, latents), strict=True):
            self._fade_in(samples)
            self._on_audio(key[0], samples)
            step.ahead[key] = side.take(key)

    def _decode(self, rows: RowState[DecoderKey], group: list[Step]) -> None:
        """Decode GROUP (steps with the same rows); the decoder's rows become those rows."""
        head = group[0]
        active = [key for key in head.keys if key not in head.ahead]
        room = ROOM_FRAMES * self._steps_per_latent
        fresh: list[DecoderKey] = []
        if set(active) != set(rows.keys):
            known = set(rows.keys)
            fresh = [key for key in active if key not in known]
            keep = [key for key in rows.keys if key in set(active)]
            rows.rebuild(keep, [(key, self._fresh_state()) for key in fresh], room)
        if active:
            order = {key: i for i, key in enumerate(head.keys)}
            index = torch.tensor([order[key] for key in rows.keys], dtype=torch.long)
            latents = torch.cat([s.latents for s in group if s.latents is not None], dim=1)
            audio = self._run_mimi(rows, latents.index_select(0, index))
            for key, samples in zip(rows.keys, audio, strict=True):
                if key in fresh:
                    self._fade_in(samples)
                self._on_audio(key[0], samples)
        if head.ahead:  # their first frame is done: they join for the next step
            rows.rebuild(rows.keys, list(head.ahead.items()), room)
        for request in set().union(*(s.last for s in group)):
            self._on_end(request, None)

    def _run_mimi(self, rows: RowState[DecoderKey], latents: torch.Tensor) -> list[np.ndarray]:
        """Decode LATENTS [rows, frames, ldim] with ROWS' state; each row's float32 audio."""
        frames = latents.shape[1]
        if rows.room < frames * self._steps_per_latent:
            rows.rebuild(rows.keys, [], ROOM_FRAMES * self._steps_per_latent)
        latents = latents * self.flow_lm.emb_std + self.flow_lm.emb_mean
        audio = self.mimi.decode_from_latent(latents, rows.state)
        rows.advance(self._steps_per_latent * frames)
        return [audio[i, 0].numpy() for i in range(audio.shape[0])]

    def _fade_in(self, samples: np.ndarray) -> None:
        """A fresh decoder state clicks: fade the first 5 ms in, as pocket-tts does."""
        fade = self.sample_rate // 200
        n = min(fade, samples.shape[-1])
        samples[:n] *= np.linspace(0, 1, fade, dtype=np.float32)[:n]

    def _fresh_state(self) -> ModelState:
        return init_states(self.mimi, batch_size=1, sequence_length=0)
