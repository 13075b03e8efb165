"""Batched generation: the frames of several requests made together, one row each.

A `BatchGenerator` does what pocket-tts's `generate_audio_stream` does for one text, for many
at once, and rows join and leave between two frames. Two threads share the work, as
pocket-tts's own two do for one text: the caller's thread runs the FlowLM (backbone and flow
head), one step for every row at a time, and prompts the rows that start a chunk, together;
a `Decoder` runs Mimi on the latents of all rows together. (Prompting in a third thread was
measured slower on two cores: it takes the CPU from the steps it runs beside.) Audio goes
out from the decoder the moment it exists (`on_audio`); the ends of rows and their errors
come back from `step()`. A row whose listener has heard nothing yet comes first: its prompt
runs whole and before the next prompts of rows already speaking (which run PROMPT_PIECE
tokens a call, and wait while a new listener's first frame is decoded). Each row follows
pocket-tts's own rules: its text cut into chunks of at most 50 tokens, the prompt prepared
the same way, the same end-of-speech rule and length limit, a fresh voice state and decoder
state for every chunk.

Built on pocket-tts 4.0's modules and a few of `TTSModel`'s private helpers (pinned in
pyproject.toml): the batch dimension of its states, and the `pad` of its attention caches.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from wyoming_tts.pocket.decoder import AudioSink, Decoder, DecoderKey, Step
from wyoming_tts.pocket.prefill import prefill
from wyoming_tts.pocket.rows import RowState
from wyoming_tts.pocket.upstream import (
    MAX_TOKEN_PER_CHUNK,
    ModelState,
    TTSModel,
    prepare_text_prompt,
    split_into_best_sentences,
)

_LOGGER = logging.getLogger(__name__)

# Frames of room made in the FlowLM caches at each rebuild (rows join and leave often, and
# each rebuild copies the caches: room for a typical sentence, grown when it runs out).
LM_ROOM = 48
# Steps the FlowLM may run ahead of the decoder. Three let the decoder take larger calls when
# it is behind (measured: two cost a single client 18 % of its speed); a row that joins waits
# behind at most these for its first audio.
MAX_LEAD = 3
# Tokens of a speaking row's next prompt run in one call (a call of about one 4-row step on
# the flagship): a request that arrives meanwhile is prompted after this piece, not after
# the whole prompt.
PROMPT_PIECE = 16
# pocket-tts ignores end of speech on the first frames (TTSModel._MIN_FRAMES_BEFORE_EOS).
MIN_FRAMES_BEFORE_EOS = TTSModel._MIN_FRAMES_BEFORE_EOS

Event = tuple[int, BaseException | None]  # (row, None): its text is all spoken; (row, error)


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
    in_lm: bool = False  # in the FlowLM's rows (not waiting for its chunk's prompt)
    first_chunk: int = -1  # the chunk that starts this row's audio

    @property
    def decoder_key(self) -> DecoderKey:
        return (self.key, self.chunk)

    @property
    def unheard(self) -> bool:
        """This chunk starts the request's audio: its listener has heard nothing yet."""
        return self.chunk == self.first_chunk


class BatchGenerator:
    """Rows of one loaded TTSModel; `add`, `remove` and `step` are called by one thread."""

    def __init__(self, model: TTSModel, on_audio: AudioSink) -> None:
        self.model = model
        self.flow_lm = model.flow_lm
        self._lm: RowState[int] = RowState(self.flow_lm)
        self._rows: dict[int, _Row] = {}
        self._chunks = itertools.count()
        self.peak_rows = 0  # the most rows that shared a frame
        # Rows starting a chunk: (row, its state so far, the tokens still to prompt).
        self._to_prompt: list[tuple[_Row, ModelState, torch.Tensor]] = []
        self._ready: list[tuple[_Row, ModelState]] = []  # prompted, to join at the next step
        self._stale = False  # rows left: the decoder must hear of it
        # What the decoder hands back: the ends and errors of rows.
        self._inbox = threading.Condition()
        self._events: list[Event] = []
        self._woken = False  # the worker's thread is wanted: the next wait ends at once
        self._on_audio = on_audio
        self._unheard: set[int] = set()  # rows stepped whose first audio is not out yet
        self._decoder = Decoder(model, self._audio, self._post, self._wake)
        # Prompts many rows at once on the second core, when the decoder leaves it free.
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-prompt")

    # -- rows -------------------------------------------------------------------------------
    def add(
        self, key: int, voice_state: object, text: str, stop: threading.Event, first: bool = True
    ) -> None:
        """Speak TEXT in VOICE_STATE as row KEY, dropped between two frames once STOP is set.

        FIRST: its listener has heard nothing yet, so its first frame goes out before the
        FlowLM runs ahead again. Raise ValueError for a text with nothing to say."""
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
        if not isinstance(voice_state, dict):
            raise ValueError("This voice is not a Pocket TTS voice state.")
        row = _Row(key=key, voice=voice_state, chunks=prepared, stop=stop)
        self._rows[key] = row
        self._start_chunk(row)
        row.first_chunk = row.chunk if first else -1

    def remove(self, key: int) -> None:
        """Drop row KEY at once (its client left); nothing more comes for it."""
        if self._rows.pop(key, None) is not None:
            self._stale = True
        self._unheard.discard(key)

    @property
    def rows(self) -> int:
        return len(self._rows)

    def pending(self) -> bool:
        """True while any row is generating or any frame is still being decoded."""
        with self._inbox:
            waiting = bool(self._events)
        return bool(self._rows) or waiting or self._decoder.behind > 0

    def wake(self) -> None:
        """End a `step` that waits for the decoder, or the next one (a request needs the
        worker's thread)."""
        with self._inbox:
            self._woken = True
            self._inbox.notify()

    def close(self) -> None:
        self._decoder.close()
        self._helper.shutdown(wait=False)

    # -- the FlowLM step --------------------------------------------------------------------
    @torch.no_grad()
    def step(self, wait: float = 0.05) -> list[Event]:
        """One FlowLM step for every row that is ready; the ends and errors of rows since.

        When no row can step (none is in the FlowLM, or the decoder is MAX_LEAD steps behind),
        wait up to WAIT seconds for something to happen instead.
        """
        for key in [key for key, row in self._rows.items() if row.stop.is_set()]:
            self.remove(key)
        with self._inbox:
            events, self._events = self._events, []
        for key, _error in events:
            self._rows.pop(key, None)
            self._unheard.discard(key)
        if self._prompt(events):  # first let the caller add the rows that came meanwhile
            return events
        joining = [(row, state) for row, state in self._ready if self._rows.get(row.key) is row]
        self._ready = []
        keep = [key for key in self._lm.keys if key in self._rows and self._rows[key].in_lm]
        if joining or len(keep) != len(self._lm) or self._lm.room < 1:
            self._rebuild(keep, joining)
        if len(self._lm) and (self._decoder.behind < self._lead() or self._starting()):
            self._decoder.send(self._lm_step())
        elif not len(self._lm) and self._stale:
            self._stale = False
            self._decoder.send(Step(keys=[], latents=None))  # the decoder lets go of its rows
        elif not events:
            with self._inbox:
                if not self._events and not self._woken:
                    self._inbox.wait(wait)
                self._woken = False
        return events

    def _prompt(self, events: list[Event]) -> bool:
        """Prompt the rows that start a chunk, together; a row that cannot start fails alone.

        Rows whose listener has heard nothing yet go first, whole. Rows already speaking
        (their next chunk) are prompted PROMPT_PIECE tokens a call, so that a request that
        arrives meanwhile waits for one piece, not for a whole prompt. Rows whose prompt is
        done go to `_ready`; a failing row's error goes to EVENTS. False: nothing to prompt."""
        waiting = [entry for entry in self._to_prompt if self._rows.get(entry[0].key) is entry[0]]
        if not waiting:
            self._to_prompt = []
            return False

        first = [entry for entry in waiting if entry[0].unheard]
        if not first and (self._unheard or any(row.unheard for row, _state in self._ready)):
            return False  # a listener waits for its first frame: that goes first
        # (row, its state so far, the tokens of this call, the tokens after them)
        group: list[tuple[_Row, ModelState, torch.Tensor, torch.Tensor]]
        if first:
            group = [(row, s, t, t[:, :0]) for row, s, t in first]
            self._to_prompt = [entry for entry in waiting if not entry[0].unheard]
        else:
            group = [(r, s, t[:, :PROMPT_PIECE], t[:, PROMPT_PIECE:]) for r, s, t in waiting]
            self._to_prompt = []
        states: list[ModelState | None]
        try:
            states = list(
                self._prefill_split([g[1] for g in group], [g[2] for g in group], split=bool(first))
            )
        except Exception:  # one row's voice may be at fault: try each alone
            states = []
            for row, state, tokens, _rest in group:
                try:
                    states.append(prefill(self.model, [state], [tokens])[0])
                except Exception as err:
                    _LOGGER.error("Could not start row %s: %s", row.key, err, exc_info=err)
                    del self._rows[row.key]
                    events.append((row.key, err))
                    states.append(None)
        for (row, _state, _tokens, rest), state in zip(group, states, strict=True):
            if state is None:
                continue
            if rest.shape[1]:
                self._to_prompt.append((row, state, rest))
            else:
                self._ready.append((row, state))
        return True

    def _prefill_split(
        self, voices: list[ModelState], tokens: list[torch.Tensor], split: bool = True
    ) -> list[ModelState]:
        """Prompt each voice with its tokens; with SPLIT and the decoder idle, half of them
        on its core meanwhile (pieces are not split: a call of few tokens is bound by reading
        the weights, which two cores share)."""
        if not split or len(voices) < 2 or self._decoder.behind > 0:
            return prefill(self.model, voices, tokens)
        # Each side gets about half of the tokens (a prompt costs in proportion to them).
        sides: tuple[list[int], list[int]] = ([], [])
        weight = [0, 0]
        for i in sorted(range(len(tokens)), key=lambda i: -int(tokens[i].shape[1])):
            side = 0 if weight[0] <= weight[1] else 1
            sides[side].append(i)
            weight[side] += int(tokens[i].shape[1])
        mine, theirs = sides

        def run(rows: list[int]) -> list[ModelState]:
            return prefill(self.model, [voices[i] for i in rows], [tokens[i] for i in rows])

        other = self._helper.submit(run, theirs)
        try:
            mine_states = run(mine)
        finally:
            their_states = other.result()
        states = dict(zip(mine, mine_states, strict=True))
        states.update(zip(theirs, their_states, strict=True))
        return [states[i] for i in range(len(tokens))]

    def _lead(self) -> int:
        """Steps the FlowLM may run ahead: MAX_LEAD, or none while a row's first audio is being
        decoded (measured: the steps beside it took the decoder's CPU and held its first audio
        back by a third)."""
        return 1 if self._unheard else MAX_LEAD

    def _starting(self) -> bool:
        """True when a row has yet to make its first latent: it need not wait for the decoder,
        which decodes first frames ahead of the rest."""
        return any(self._rows[key].latent is None for key in self._lm.keys)

    def _rebuild(self, keep: list[int], joining: list[tuple[_Row, ModelState]]) -> None:
        rows = [self._rows[key] for key in keep] + [row for row, _state in joining]
        need = max((row.max_steps - row.step for row in rows), default=0)
        states = [(row.key, state) for row, state in joining]
        self._lm.rebuild(keep, states, room=max(1, min(need, LM_ROOM)))
        for row, _state in joining:
            row.in_lm = True
        self.peak_rows = max(self.peak_rows, len(self._lm))

    def _lm_step(self) -> Step:
        """One FlowLM step of every row; rows at their end leave (or start their next chunk)."""
        rows = [self._rows[key] for key in self._lm.keys]
        latents, eos = self._run_lm(rows)
        keys: list[DecoderKey] = []
        kept: list[torch.Tensor] = []
        last: set[int] = set()
        first: set[DecoderKey] = set()  # rows whose listener waits for this frame
        for i, row in enumerate(rows):
            if bool(eos[i]) and row.eos_step is None and row.step >= MIN_FRAMES_BEFORE_EOS:
                row.eos_step = row.step
            done = row.eos_step is not None and row.step >= row.eos_step + row.frames_after_eos
            if not done:  # pocket-tts drops the latent of the step that ends the chunk
                if row.latent is None and row.unheard:
                    self._unheard.add(row.key)
                    first.add(row.decoder_key)
                row.latent = latents[i : i + 1]
                keys.append(row.decoder_key)
                kept.append(row.latent)
            row.step += 1
            if done or row.step >= row.max_steps:
                self._stale = True
                if not done:
                    _LOGGER.debug("Row %s reached its length limit", row.key)
                if row.chunks:
                    self._start_chunk(row)
                else:
                    last.add(row.key)
                    del self._rows[row.key]
        joined = torch.cat(kept, dim=0) if kept else None
        return Step(keys=keys, latents=joined, last=last, first=first)

    def _start_chunk(self, row: _Row) -> None:
        """Send ROW's next chunk to be prompted; it leaves the FlowLM until then."""
        prompt, frames_after_eos = row.chunks.popleft()
        row.chunk = next(self._chunks)
        tokens: torch.Tensor = self.flow_lm.conditioner.prepare(prompt)
        row.step = 0
        row.eos_step = None
        row.latent = None
        row.frames_after_eos = frames_after_eos
        row.max_steps = self.model._estimate_max_gen_len(int(tokens.shape[1]))
        row.in_lm = False
        self._to_prompt.append((row, row.voice, tokens))

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

    # -- from the other threads -------------------------------------------------------------
    def _audio(self, key: int, samples: np.ndarray) -> None:
        self._unheard.discard(key)
        self._on_audio(key, samples)

    def _wake(self) -> None:
        with self._inbox:
            self._inbox.notify()

    def _post(self, key: int, error: BaseException | None) -> None:
        with self._inbox:
            self._events.append((key, error))
            self._inbox.notify()
