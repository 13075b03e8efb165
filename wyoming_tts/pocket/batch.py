"""Batched generation: the frames of several requests made together, one row each.

A `BatchGenerator` does what pocket-tts's `generate_audio_stream` does for one text, for many
at once. Rows join and leave between two frames. The FlowLM (backbone and flow head) runs in
the caller's thread, one step for every row at a time; a decoder thread of its own runs the
Mimi decoder on the latents of all rows together, and when it falls behind, on several frames
at once, as pocket-tts does. Audio goes out from the decoder thread the moment it exists
(`on_audio`); the ends of rows and their errors come back from `step()`. Each row follows
pocket-tts's own rules: its text cut into chunks of at most 50 tokens, the prompt prepared the
same way, the same end-of-speech rule and length limit, a fresh voice state and decoder state
for every chunk, the 5 ms fade-in.

Built on pocket-tts 4.0's modules and a few of `TTSModel`'s private helpers (pinned in
pyproject.toml): the batch dimension of its states, and the `pad` of its attention caches.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from pocket_tts import TTSModel
from pocket_tts.default_parameters import MAX_TOKEN_PER_CHUNK
from pocket_tts.models.text_chunking import prepare_text_prompt, split_into_best_sentences
from pocket_tts.modules.stateful_module import ModelState, init_states

from wyoming_tts.pocket.prefill import prefill
from wyoming_tts.pocket.rows import RowState

_LOGGER = logging.getLogger(__name__)

# Frames of room made in the FlowLM caches at each rebuild (rows join and leave often, and
# each rebuild copies the caches: room for a typical sentence, grown when it runs out).
LM_ROOM = 48
# Frames of room in the decoder's caches (its attention sees 250 positions back at most).
DECODER_ROOM_FRAMES = 8
# Frames decoded in one call at most when the decoder is behind (pocket-tts decodes all).
MAX_DECODE_FRAMES = 8
# Steps the FlowLM may run ahead of the decoder. More lets the decoder take larger calls; fewer
# keeps the first audio of a row that joins from waiting behind the others' frames.
MAX_LEAD = 3
# pocket-tts ignores end of speech on the first frames (TTSModel._MIN_FRAMES_BEFORE_EOS).
MIN_FRAMES_BEFORE_EOS = TTSModel._MIN_FRAMES_BEFORE_EOS

Event = tuple[int, BaseException | None]  # (row, None): its text is all spoken; (row, error)
AudioSink = Callable[[int, np.ndarray], None]  # (row, float32 samples), from the decoder thread
DecoderKey = tuple[int, int]  # (row, chunk): every chunk has a fresh decoder state


@dataclass
class _Row:
    """One request's text on its way through the FlowLM."""

    key: int
    voice: ModelState
    chunks: deque[tuple[str, int]]  # (prepared prompt, frames after end of speech)
    stop: threading.Event
    chunk: int = 0  # the chunk being spoken (unique): a row of its own in the decoder
    step: int = 0
    max_steps: int = 0
    frames_after_eos: int = 0
    eos_step: int | None = None
    latent: torch.Tensor | None = None  # the last latent, input of the next step

    @property
    def decoder_key(self) -> DecoderKey:
        return (self.key, self.chunk)


@dataclass
class _Message:
    """One FlowLM step, for the decoder: the latents of the rows in KEYS (the decoder's rows
    become these), and the requests whose text is then all spoken."""

    keys: list[DecoderKey]
    latents: torch.Tensor | None  # [len(keys), 1, ldim]
    last: set[int] = field(default_factory=set)


class BatchGenerator:
    """Rows of one loaded TTSModel; `step()` is called by one thread only."""

    def __init__(self, model: TTSModel, on_audio: AudioSink) -> None:
        self.model = model
        self._on_audio = on_audio
        self.flow_lm = model.flow_lm
        self.mimi = model.mimi
        self.sample_rate = int(model.config.mimi.sample_rate)
        self._steps_per_latent = int(self.mimi.encoder_frame_rate / self.mimi.frame_rate)
        self._lm: RowState[int] = RowState(self.flow_lm)
        self._rows: dict[int, _Row] = {}
        self._chunks = itertools.count()
        self.peak_rows = 0  # the most rows that shared a frame
        self._joining: list[_Row] = []  # rows about to start a chunk
        self._prefilled: list[tuple[_Row, ModelState]] = []
        self._keep: list[int] = []
        self._stale = False  # rows left: the decoder must hear of it
        self._to_decoder: queue.Queue[_Message | None] = queue.Queue()
        self._events: queue.Queue[Event] = queue.Queue()
        self._in_decoder = 0  # messages sent and not yet decoded
        self._lock = threading.Lock()
        self._decoder = threading.Thread(target=self._decode_loop, name="tts-decoder", daemon=True)
        self._decoder.start()

    # -- rows -------------------------------------------------------------------------------
    def add(self, key: int, voice_state: object, text: str, stop: threading.Event) -> None:
        """Speak TEXT in VOICE_STATE as row KEY, dropped between two frames once STOP is set.

        Raise ValueError for a text with nothing to say."""
        model = self.model
        chunks = split_into_best_sentences(
            self.flow_lm.conditioner.tokenizer,
            text,
            MAX_TOKEN_PER_CHUNK,
            model.pad_with_spaces_for_short_inputs,
            remove_semicolons=model.remove_semicolons,
            append_terminal_punctuation=model.append_terminal_punctuation,
            capitalize_first_letter=model.capitalize_first_letter,
            replace_characters=model.replace_characters,
        )
        prepared: deque[tuple[str, int]] = deque()
        for chunk in chunks:
            prompt, guess = prepare_text_prompt(
                chunk,
                model.pad_with_spaces_for_short_inputs,
                model.remove_semicolons,
                model.append_terminal_punctuation,
                model.capitalize_first_letter,
                model.replace_characters,
            )
            after = model.model_recommended_frames_after_eos
            prepared.append((prompt, after if after is not None else guess + 2))
        if not prepared:
            raise ValueError("There is nothing to say in this text.")
        assert isinstance(voice_state, dict)
        row = _Row(key=key, voice=voice_state, chunks=prepared, stop=stop)
        self._joining.append(row)
        self._rows[key] = row

    def remove(self, key: int) -> None:
        """Drop row KEY at once (its client left); nothing more comes for it."""
        row = self._rows.pop(key, None)
        if row is None:
            return
        if row in self._joining:
            self._joining.remove(row)
        self._prefilled = [(r, state) for r, state in self._prefilled if r is not row]
        self._stale = True

    @property
    def rows(self) -> int:
        return len(self._rows)

    def pending(self) -> bool:
        """True while any row is generating or any frame is still being decoded."""
        with self._lock:
            return bool(self._rows) or self._in_decoder > 0 or not self._events.empty()

    # -- the FlowLM step --------------------------------------------------------------------
    @torch.no_grad()
    def step(self, wait: float = 0.05) -> list[Event]:
        """One FlowLM step for every row, then the decoded audio that is ready.

        When no row is in the FlowLM, or the decoder is MAX_LEAD steps behind (a row that joins
        now would wait behind them for its first audio), wait up to WAIT seconds for audio.
        """
        for key in [key for key, row in self._rows.items() if row.stop.is_set()]:
            self.remove(key)
        events = self._start_rows()
        if self._lm_rows_changed():
            self._rebuild()
        with self._lock:
            behind = self._in_decoder
        if len(self._lm) and behind < MAX_LEAD:
            self._send(self._lm_step())
        elif not len(self._lm) and self._stale:
            self._stale = False
            self._send(_Message(keys=[], latents=None))  # the decoder lets go of its rows
        else:
            return events + self._drain(block=not events and behind > 0, wait=wait)
        return events + self._drain(block=False, wait=0.0)

    def _start_rows(self) -> list[Event]:
        """Prompt the rows that start a chunk, together; a row that cannot start fails alone."""
        events: list[Event] = []
        joining, self._joining = self._joining, []
        ready: list[tuple[_Row, torch.Tensor]] = []
        for row in joining:
            try:
                ready.append((row, self._next_chunk(row)))
            except Exception as err:  # this row's text: the others go on
                events.append(self._fail(row, err))
        if not ready:
            return events
        try:
            states = prefill(self.model, [row.voice for row, _t in ready], [t for _r, t in ready])
            self._prefilled.extend(
                (row, state) for (row, _t), state in zip(ready, states, strict=True)
            )
        except Exception:  # one row's voice may be at fault: try each alone
            for row, tokens in ready:
                try:
                    self._prefilled.append((row, prefill(self.model, [row.voice], [tokens])[0]))
                except Exception as err:
                    events.append(self._fail(row, err))
        return events

    def _fail(self, row: _Row, err: Exception) -> Event:
        _LOGGER.error("Could not start row %s: %s", row.key, err, exc_info=err)
        self._rows.pop(row.key, None)
        return (row.key, err)

    def _lm_rows_changed(self) -> bool:
        restarting = {row.key for row, _state in self._prefilled}
        self._keep = [k for k in self._lm.keys if k in self._rows and k not in restarting]
        return bool(self._prefilled) or len(self._keep) != len(self._lm) or self._lm.room < 1

    def _rebuild(self) -> None:
        prefilled, self._prefilled = self._prefilled, []
        rows = [self._rows[key] for key in self._keep] + [row for row, _state in prefilled]
        need = max((row.max_steps - row.step for row in rows), default=0)
        joining = [(row.key, state) for row, state in prefilled]
        self._lm.rebuild(self._keep, joining, room=max(1, min(need, LM_ROOM)))
        self.peak_rows = max(self.peak_rows, len(self._lm))

    def _lm_step(self) -> _Message:
        """One FlowLM step of every row; rows at their end leave (or start their next chunk)."""
        rows = [self._rows[key] for key in self._lm.keys]
        latents, eos = self._run_lm(rows)
        keys: list[DecoderKey] = []
        kept: list[torch.Tensor] = []
        last: set[int] = set()
        for i, row in enumerate(rows):
            if bool(eos[i]) and row.eos_step is None and row.step >= MIN_FRAMES_BEFORE_EOS:
                row.eos_step = row.step
            done = row.eos_step is not None and row.step >= row.eos_step + row.frames_after_eos
            if not done:  # pocket-tts drops the latent of the step that ends the chunk
                row.latent = latents[i : i + 1]
                keys.append(row.decoder_key)
                kept.append(row.latent)
            row.step += 1
            if done or row.step >= row.max_steps:
                self._stale = True
                if not done:
                    _LOGGER.debug("Row %s reached its length limit", row.key)
                if row.chunks:
                    self._joining.append(row)
                else:
                    last.add(row.key)
                    del self._rows[row.key]
        latents_kept = torch.cat(kept, dim=0) if kept else None
        return _Message(keys=keys, latents=latents_kept, last=last)

    def _next_chunk(self, row: _Row) -> torch.Tensor:
        """The tokens of ROW's next chunk; the row's counters start again."""
        prompt, frames_after_eos = row.chunks.popleft()
        row.chunk = next(self._chunks)
        tokens: torch.Tensor = self.flow_lm.conditioner.prepare(prompt)
        row.step = 0
        row.eos_step = None
        row.latent = None
        row.frames_after_eos = frames_after_eos
        row.max_steps = self.model._estimate_max_gen_len(int(tokens.shape[1]))
        return tokens

    def _run_lm(self, rows: list[_Row]) -> tuple[torch.Tensor, torch.Tensor]:
        flow_lm = self.flow_lm
        bos = torch.full((1, 1, flow_lm.ldim), float("nan"), dtype=flow_lm.dtype)
        inputs = torch.cat([bos if row.latent is None else row.latent for row in rows], dim=0)
        text = torch.empty((len(rows), 0, flow_lm.dim), dtype=flow_lm.dtype)
        latent, eos = flow_lm._sample_next_latent(
            inputs,
            text,
            model_state=self._lm.state,
            sampler_decode_steps=self.model.sampler_decode_steps,
            temp=self.model.temp,
            noise_clamp=self.model.noise_clamp,
            eos_threshold=self.model.eos_threshold,
        )
        self._lm.advance(1)
        return latent[:, None, :], eos.view(-1)

    # -- the decoder thread -----------------------------------------------------------------
    def _send(self, message: _Message) -> None:
        with self._lock:
            self._in_decoder += 1
        self._to_decoder.put(message)

    def _drain(self, block: bool, wait: float) -> list[Event]:
        events: list[Event] = []
        if block:
            try:
                events.append(self._events.get(timeout=wait))
            except queue.Empty:
                return events
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def close(self) -> None:
        self._to_decoder.put(None)
        self._decoder.join(5.0)

    @torch.no_grad()
    def _decode_loop(self) -> None:
        decoder: RowState[DecoderKey] = RowState(self.mimi)
        fresh: set[DecoderKey] = set()  # rows whose first audio gets the fade-in
        held: _Message | None = None
        while True:
            message = held if held is not None else self._to_decoder.get()
            held = None
            if message is None:
                return
            group = [message]
            # Join the following steps while the rows stay the same (fewer, larger calls).
            while (
                message.latents is not None and not message.last and len(group) < MAX_DECODE_FRAMES
            ):
                try:
                    following = self._to_decoder.get_nowait()
                except queue.Empty:
                    break
                if following is None or following.keys != message.keys:
                    held = following
                    break
                group.append(following)
                if following.last:
                    break
            try:
                self._decode(decoder, fresh, group)
            except Exception as err:
                _LOGGER.exception("The decoder failed")
                for key in {key for key, _serial in (*message.keys, *decoder.keys)}:
                    self._events.put((key, err))
                decoder = RowState(self.mimi)
                fresh.clear()
            finally:
                with self._lock:
                    self._in_decoder -= len(group)

    def _decode(
        self, decoder: RowState[DecoderKey], fresh: set[DecoderKey], group: list[_Message]
    ) -> None:
        """Decode GROUP (steps with the same rows); the decoder's rows become those rows."""
        keys = group[0].keys
        room = DECODER_ROOM_FRAMES * self._steps_per_latent
        if keys != decoder.keys:  # rows that a step does not carry have ended or were dropped
            known = set(decoder.keys)
            present = set(keys)
            keep = [key for key in decoder.keys if key in present]
            joining = [key for key in keys if key not in known]
            fresh.intersection_update(present)
            fresh.update(joining)
            decoder.rebuild(keep, [(key, self._fresh_decoder_state()) for key in joining], room)
        if keys:
            if decoder.room < len(group) * self._steps_per_latent:
                decoder.rebuild(decoder.keys, [], room)
            order = {key: i for i, key in enumerate(keys)}
            index = torch.tensor([order[key] for key in decoder.keys], dtype=torch.long)
            latents = torch.cat([m.latents for m in group if m.latents is not None], dim=1)
            latents = latents.index_select(0, index) * self.flow_lm.emb_std + self.flow_lm.emb_mean
            audio = self.mimi.decode_from_latent(latents, decoder.state)
            decoder.advance(self._steps_per_latent * len(group))
            fade = self.sample_rate // 200
            for i, key in enumerate(decoder.keys):
                samples = audio[i, 0]
                if key in fresh:  # a fresh decoder state clicks: fade the first 5 ms in
                    fresh.discard(key)
                    n = min(fade, samples.shape[-1])
                    samples[:n] *= torch.linspace(0, 1, fade)[:n]
                self._on_audio(key[0], samples.numpy())
        for request in set().union(*(m.last for m in group)):
            self._events.put((request, None))

    def _fresh_decoder_state(self) -> ModelState:
        return init_states(self.mimi, batch_size=1, sequence_length=0)
