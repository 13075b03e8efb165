"""The text prompts of rows that join a batch at the same frame, run through the FlowLM at once.

A row starts a chunk by running its prompt's tokens after its voice (pocket-tts's "prompting
text"), which costs about as much as two frames. Rows that join together share one call:
each row's voice is right-aligned before the new positions, its tokens right-aligned within
them, and a mask of our own lets each token see only its own voice and the tokens before it.
Rows with fewer tokens have leading filler positions, which nothing attends. The voice keys
are turned (RoPE) as if they ended just before the row's first token, so every distance a
token sees is the one it sees alone. Each row comes back as a state of its own, ready for
`RowState.rebuild`.
"""

from __future__ import annotations

import torch

from wyoming_tts.pocket.rows import rotate
from wyoming_tts.pocket.upstream import ModelState, StreamingMultiheadAttention, TTSModel


def _content(module_state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """The positions a voice state holds, as [2, T, H, D], and where they end."""
    end = int(module_state["offset"].view(-1)[0])
    pad = int(module_state["pad"].view(-1)[0]) if "pad" in module_state else 0
    return module_state["cache"][:, 0, pad:end], end


@torch.no_grad()
def prefill(
    model: TTSModel, voices: list[ModelState], tokens: list[torch.Tensor]
) -> list[ModelState]:
    """Run each voice's TOKENS ([1, t]) after it; return one batch-of-one state per row."""
    flow_lm = model.flow_lm
    attention = {
        name: module
        for name, module in flow_lm.named_modules()
        if isinstance(module, StreamingMultiheadAttention)
    }
    rows = len(voices)
    counts = [int(t.shape[1]) for t in tokens]
    width = max(counts)
    lengths = [_content(voice[next(iter(attention))])[0].shape[1] for voice in voices]
    before = max(lengths)
    total = before + width
    state: ModelState = {}
    for name, module in attention.items():
        first = voices[0][name]["cache"]
        cache = torch.zeros(
            (2, rows, total, *first.shape[3:]), dtype=first.dtype, device=first.device
        )
        for i, voice in enumerate(voices):
            content, end = _content(voice[name])
            own = content.shape[1]
            # Turned as if it ended right before this row's first token.
            shift = total - counts[i] - end
            cache[0, i, before - own : before] = rotate(
                content[0][None], shift, module.rope.max_period
            )[0]
            cache[1, i, before - own : before] = content[1]
        state[name] = dict(
            offset=torch.full((rows,), before, dtype=torch.long),
            pad=torch.zeros(rows, dtype=torch.long),
            cache=cache,
        )
    x = torch.zeros((rows, width, flow_lm.dim), dtype=flow_lm.dtype)
    mask = torch.zeros((rows, 1, width, total), dtype=torch.bool)
    for i, row_tokens in enumerate(tokens):
        filler = width - counts[i]
        x[i, filler:] = flow_lm.conditioner(row_tokens)[0]
        for j in range(width):
            if j < filler:
                mask[i, 0, j, before + j] = True  # filler sees itself only; no one sees it
            else:
                mask[i, 0, j, before - lengths[i] : before] = True
                mask[i, 0, j, before + filler : before + j + 1] = True
    for layer in flow_lm.transformer.layers:
        x = layer(x, state, attn_mask=mask)
    results: list[ModelState] = []
    for i in range(rows):
        own = lengths[i] + counts[i]
        row: ModelState = {}
        for name in attention:
            cache = state[name]["cache"]
            joined = torch.zeros((2, 1, total, *cache.shape[3:]), dtype=cache.dtype)
            joined[:, 0, total - own : total - counts[i]] = cache[
                :, i, before - lengths[i] : before
            ]
            joined[:, 0, total - counts[i] :] = cache[:, i, total - counts[i] :]
            row[name] = dict(
                offset=torch.full((1,), total, dtype=torch.long),
                pad=torch.full((1,), total - own, dtype=torch.long),
                cache=joined,
            )
        results.append(row)
    return results
