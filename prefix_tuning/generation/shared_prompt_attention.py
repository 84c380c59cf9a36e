"""Attention for a decoding step whose beams share their input's prompt cache.

The beam engine keeps one copy of each input's prefix + prompt keys/values (not one per beam) and, per beam
row, only the keys/values of the tokens generated so far. A step's attention then reads the prompt part once
per input for all its beams (one batched matmul, queries of all beams and grouped heads together) and the
generated part per row, under one softmax over both. That is the same attention as over the concatenated
cache, without copying the prompt into every beam or reordering it with the beams.

It plugs into any `transformers` model whose attention layers call `ALL_ATTENTION_FUNCTIONS` (Llama,
GPT-2, ...): `shared_prompt(lm, prompt)` switches the model's attention implementation to this one for the
duration of one forward, and the layers' cache returns the generated part as `key`/`value`.
"""

import contextlib
import contextvars
from dataclasses import dataclass

import torch
from transformers import AttentionInterface

NAME = "prefix_tuning_shared_prompt"


@dataclass
class SharedPrompt:
    """Per layer: prompt keys/values [inputs, kv_heads, P, head_dim] (left-padded); `bias` [rows, P + G]: 0 where a
    row may attend (its input's prompt columns, its own generated columns), -inf elsewhere; rows are input-major,
    `beams` per input."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    bias: torch.Tensor
    beams: int


_CURRENT: contextvars.ContextVar[SharedPrompt | None] = contextvars.ContextVar("shared_prompt", default=None)


@contextlib.contextmanager
def shared_prompt(lm, prompt: SharedPrompt):
    """Run `lm`'s forwards inside with this attention over `prompt` (and the cache's generated part)."""
    previous = lm.config._attn_implementation
    token = _CURRENT.set(prompt)
    lm.config._attn_implementation = NAME
    try:
        yield
    finally:
        lm.config._attn_implementation = previous
        _CURRENT.reset(token)


def shared_prompt_attention(module, query, key, value, attention_mask=None, dropout=0.0, scaling=None, **kwargs):
    """`query` [rows, heads, 1, d]; `key`/`value` [rows, kv_heads, G, d], the generated part (this step's column
    included). Returns [rows, 1, heads, d] as the `transformers` attention functions do."""
    prompt = _CURRENT.get()
    if prompt is None or query.shape[2] != 1:
        raise RuntimeError("shared-prompt attention runs only inside `shared_prompt`, one query token per row")
    unsupported = [name for name in ("sliding_window", "softcap", "position_bias") if kwargs.get(name) is not None]
    if unsupported:
        raise NotImplementedError(f"shared-prompt attention does not implement {', '.join(unsupported)}")
    prompt_keys, prompt_values = prompt.keys[module.layer_idx], prompt.values[module.layer_idx]
    inputs, kv_heads, width, dim = prompt_keys.shape
    rows, heads = query.shape[:2]
    beams, group = prompt.beams, heads // kv_heads
    scale = dim**-0.5 if scaling is None else scaling

    def by_input(x):  # [rows, kv, group, n] -> [inputs, kv, beams x group, n]
        return (
            x.reshape(inputs, beams, kv_heads, group, -1).transpose(1, 2).reshape(inputs, kv_heads, beams * group, -1)
        )

    def by_row(x):  # the inverse
        return x.reshape(inputs, kv_heads, beams, group, -1).transpose(1, 2).reshape(rows, kv_heads, group, -1)

    queries = query.reshape(rows, kv_heads, group, dim)
    scores = torch.cat(
        [by_row(by_input(queries) @ prompt_keys.transpose(-1, -2)), queries @ key.transpose(-1, -2)], dim=-1
    )
    weights = torch.softmax(scores * scale + prompt.bias[:, None, None, :], dim=-1)
    out = by_row(by_input(weights[..., :width]) @ prompt_values) + weights[..., width:] @ value
    return out.reshape(rows, heads, 1, dim).transpose(1, 2), None


AttentionInterface.register(NAME, shared_prompt_attention)
