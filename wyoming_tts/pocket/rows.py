"""A batched Pocket TTS state whose rows join and leave between two frames.

Pocket TTS keeps every stateful module's state in one dict (a `ModelState`) with a batch
dimension, and its attention writes every row's new key at one shared offset. Rows of a batch
therefore end their content at the same position: a row with less behind it is right-aligned,
and its attention state's `pad` says how many leading positions are not its own (pocket-tts's
`_LinearKVCacheBackend` masks them). When a row joins, leaves, or the cache runs out of room,
`RowState.rebuild` lays the rows out again: the shortest useful layout (positions that no query
can see any more, beyond an attention's `context`, are dropped), with room for the frames to
come. Keys are stored rotated (RoPE) at their position, so a key that moves by D positions is
rotated by D: attention depends only on the distance between query and key, which is kept, so
every row computes what it would compute alone (within float rounding).

Convolution states have no time axis to align: their rows are simply taken or joined.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

import torch
from torch import nn

from wyoming_tts.pocket.upstream import ModelState, StatefulModule, StreamingMultiheadAttention


def rotate(keys: torch.Tensor, delta: int, max_period: float) -> torch.Tensor:
    """KEYS [B, T, H, D], stored rotated at their positions, rotated DELTA positions further.

    The same turn as pocket-tts's `apply_rope` (pairs of channels as complex numbers, the same
    frequencies and float32 angles), by one angle for every key: rotations add up, so a key
    computed at position P and turned by DELTA is the key of position P + DELTA. One complex
    product (measured: 52 µs for 111 positions of 16 heads, ten times the real arithmetic).
    """
    if delta == 0:
        return keys
    d = keys.shape[-1]
    freqs = torch.exp(torch.arange(d // 2, dtype=torch.float32) * (-math.log(max_period) * 2 / d))
    rotor = torch.polar(torch.ones_like(freqs), freqs * delta)
    pairs = torch.view_as_complex(keys.float().reshape(*keys.shape[:-1], d // 2, 2))
    return torch.view_as_real(pairs * rotor).reshape(keys.shape).to(keys.dtype)


K = TypeVar("K", bound=Hashable)


class RowState(Generic[K]):
    """The batched state of one pocket-tts model part (FlowLM or Mimi), one row per key."""

    def __init__(self, part: nn.Module) -> None:
        self.part = part
        self.attention: dict[str, StreamingMultiheadAttention] = {}
        self.others: list[str] = []
        for name, module in part.named_modules():
            if isinstance(module, StreamingMultiheadAttention):
                self.attention[name] = module
            elif isinstance(module, StatefulModule):
                self.others.append(name)
        self.keys: list[K] = []
        self.state: ModelState = {}
        self.room = 0  # positions left in the caches before a rebuild is needed

    def __len__(self) -> int:
        return len(self.keys)

    def rebuild(
        self,
        keep: Sequence[K],
        joining: Sequence[tuple[K, ModelState]] = (),
        room: int = 64,
    ) -> None:
        """Keep the rows KEEP (in that order), add JOINING rows (batch-1 states) after them.

        The caches get at least ROOM free positions after the new shared offset.
        """
        if not keep and not joining:
            self.keys, self.state, self.room = [], {}, 0
            return
        index = {key: i for i, key in enumerate(self.keys)}
        kept = [index[key] for key in keep]
        kept_index = torch.tensor(kept, dtype=torch.long)
        new_state: ModelState = {}
        for name, module in self.attention.items():
            new_state[name] = self._align(name, module, kept, kept_index, joining, room)
        for name in self.others:
            parts: list[dict[str, torch.Tensor]] = []
            if kept:
                parts.append(
                    {k: v.index_select(0, kept_index) for k, v in self.state[name].items()}
                )
            parts.extend(state[name] for _key, state in joining)
            new_state[name] = {k: torch.cat([p[k] for p in parts], dim=0) for k in parts[0]}
        self.state = new_state
        self.keys = [*keep, *(key for key, _state in joining)]

    def _align(
        self,
        name: str,
        module: StreamingMultiheadAttention,
        kept: list[int],
        kept_index: torch.Tensor,
        joining: Sequence[tuple[K, ModelState]],
        room: int,
    ) -> dict[str, torch.Tensor]:
        context = module.context
        max_period = module.rope.max_period

        def useful(length: int) -> int:
            return length if context is None else min(length, context)

        old = self.state.get(name)
        offset = int(old["offset"].view(-1)[0]) if old is not None and kept else 0
        kept_lengths = []
        if old is not None and kept:
            pads = old["pad"].index_select(0, kept_index)
            kept_lengths = [useful(offset - int(p)) for p in pads]
        joining_lengths = []
        for _key, state in joining:
            row = state[name]
            own = int(row["offset"].view(-1)[0]) - int(row.get("pad", torch.zeros(1))[0])
            joining_lengths.append(useful(own))
        length = max([*kept_lengths, *joining_lengths, 0])
        sample = old["cache"] if old is not None else joining[0][1][name]["cache"]
        _two, _b, _t, heads, dim = sample.shape
        rows = len(kept) + len(joining)
        cache = torch.zeros(
            (2, rows, length + room, heads, dim), dtype=sample.dtype, device=sample.device
        )
        pad = torch.zeros(rows, dtype=torch.long)
        if old is not None and kept:
            take = min(length, offset)  # the last TAKE positions of every kept row move
            moved = old["cache"][:, :, offset - take : offset]
            if len(kept) != old["cache"].shape[1] or kept != sorted(kept):
                moved = moved.index_select(1, kept_index)
            shift = length - offset
            cache[0, : len(kept), length - take : length] = rotate(moved[0], shift, max_period)
            cache[1, : len(kept), length - take : length] = moved[1]
            pad[: len(kept)] = torch.tensor([length - n for n in kept_lengths], dtype=torch.long)
        for j, ((_key, state), own) in enumerate(zip(joining, joining_lengths, strict=True)):
            row = state[name]
            end = int(row["offset"].view(-1)[0])
            content = row["cache"][:, 0, end - own : end]
            i = len(kept) + j
            cache[0, i, length - own : length] = rotate(content[0][None], length - end, max_period)[
                0
            ]
            cache[1, i, length - own : length] = content[1]
            pad[i] = length - own
        self.room = room
        return dict(
            offset=torch.full((rows,), length, dtype=torch.long),
            pad=pad,
            cache=cache,
        )

    def take(self, key: K) -> ModelState:
        """Row KEY's state as a batch of one (a copy), as `rebuild` takes joining rows."""
        i = self.keys.index(key)
        state: ModelState = {}
        for name in self.attention:
            module_state = self.state[name]
            end = int(module_state["offset"].view(-1)[0])
            state[name] = dict(
                offset=module_state["offset"][i : i + 1].clone(),
                pad=module_state["pad"][i : i + 1].clone(),
                cache=module_state["cache"][:, i : i + 1, :end].clone(),
            )
        for name in self.others:
            state[name] = {k: v[i : i + 1].clone() for k, v in self.state[name].items()}
        return state

    def advance(self, steps: int) -> None:
        """Count STEPS positions written by the last call (pocket-tts's increment_steps)."""
        for name, module in self.attention.items():
            module.increment_step(self.state[name], steps)
        self.room -= steps
