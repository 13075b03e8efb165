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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from pocket_tts import TTSModel
from pocket_tts.modules.stateful_module import ModelState, init_states

from wyoming_tts.pocket.rows import RowState

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
        fresh: set[DecoderKey] = set()  # rows whose first audio gets the fade-in
        held: Step | None = None
        while True:
            step = held if held is not None else self._inbox.get()
            held = None
            if step is None:
                return
            group = [step]
            while step.latents is not None and not step.last and len(group) < MAX_DECODE_FRAMES:
                try:
                    following = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if following is None or following.keys != step.keys:
                    held = following
                    break
                group.append(following)
                if following.last:
                    break
            try:
                self._decode(rows, fresh, group)
            except Exception as err:
                _LOGGER.exception("The decoder failed")
                for key in {key for key, _chunk in (*step.keys, *rows.keys)}:
                    self._on_end(key, err)
                rows = RowState(self.mimi)
                fresh.clear()
            finally:
                with self._lock:
                    self._behind -= len(group)
                self._on_progress()

    def _decode(
        self, rows: RowState[DecoderKey], fresh: set[DecoderKey], group: list[Step]
    ) -> None:
        keys = group[0].keys
        room = ROOM_FRAMES * self._steps_per_latent
        if keys != rows.keys:
            known = set(rows.keys)
            present = set(keys)
            joining = [key for key in keys if key not in known]
            fresh.intersection_update(present)
            fresh.update(joining)
            keep = [key for key in rows.keys if key in present]
            rows.rebuild(keep, [(key, self._fresh_state()) for key in joining], room)
        if keys:
            if rows.room < len(group) * self._steps_per_latent:
                rows.rebuild(rows.keys, [], room)
            order = {key: i for i, key in enumerate(keys)}
            index = torch.tensor([order[key] for key in rows.keys], dtype=torch.long)
            latents = torch.cat([s.latents for s in group if s.latents is not None], dim=1)
            latents = latents.index_select(0, index) * self.flow_lm.emb_std + self.flow_lm.emb_mean
            audio = self.mimi.decode_from_latent(latents, rows.state)
            rows.advance(self._steps_per_latent * len(group))
            fade = self.sample_rate // 200
            for i, key in enumerate(rows.keys):
                samples = audio[i, 0]
                if key in fresh:  # a fresh decoder state clicks: fade the first 5 ms in
                    fresh.discard(key)
                    n = min(fade, samples.shape[-1])
                    samples[:n] *= torch.linspace(0, 1, fade)[:n]
                self._on_audio(key[0], samples.numpy())
        for request in set().union(*(s.last for s in group)):
            self._on_end(request, None)

    def _fresh_state(self) -> ModelState:
        return init_states(self.mimi, batch_size=1, sequence_length=0)
