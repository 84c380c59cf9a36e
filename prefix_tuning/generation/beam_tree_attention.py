"""Attention for a decoding step over the beam tree cache: each input's columns read once by all its beams.

The beam engine keeps one run of key/value columns per input (`beam_tree_cache`): its prefix + prompt, then
every beam's generated tokens side by side; a row may attend to its ancestry's columns only (a bias of 0 there,
-inf elsewhere). A step's attention is then one batched matmul per input, the queries of all its beams and
grouped heads together against the input's columns, under the rows' biases (PyTorch's fused attention, which
beat two batched matmuls and a softmax by 1.2-1.9x at these shapes): the same attention as over each
beam's own concatenated cache, without a copy of the prompt per beam or a reorder of the history per step.

It plugs into any `transformers` model whose attention layers call `ALL_ATTENTION_FUNCTIONS` (Llama, GPT-2,
...): `beam_tree(lm, tree)` switches the model's attention implementation to this one for one forward.
"""

import contextlib
import contextvars
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

NAME = "prefix_tuning_beam_tree"


@dataclass
class BeamTree:
    """Per layer: keys/values [slots, kv_heads, capacity, head_dim], of which slots [0, inputs) and columns
    [0, width) are read; `bias` [rows, width], rows input-major, `beams` per input."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    bias: torch.Tensor
    beams: int
    _masks: dict = field(default_factory=dict)

    def longest_history(self) -> int:
        """The most columns any row attends to (its prefix, prompt and generated tokens), once per step."""
        if "longest" not in self._masks:
            self._masks["longest"] = int((self.bias == 0).sum(dim=1).max())
        return self._masks["longest"]

    def mask_for(self, group: int) -> torch.Tensor:
        """The bias as an attention mask [inputs, 1, beams x group, width] (each row's for its `group` heads),
        made once per step and shared by the layers."""
        if group not in self._masks:
            rows, width = self.bias.shape
            per_head = self.bias.view(rows, 1, width).expand(rows, group, width)
            self._masks[group] = per_head.reshape(rows // self.beams, 1, self.beams * group, width)
        return self._masks[group]


_CURRENT: contextvars.ContextVar[BeamTree | None] = contextvars.ContextVar("beam_tree", default=None)


@contextlib.contextmanager
def beam_tree(lm, tree: BeamTree):
    """Run `lm`'s forwards inside with this attention over `tree`."""
    previous = lm.config._attn_implementation
    token = _CURRENT.set(tree)
    lm.config._attn_implementation = NAME
    try:
        yield
    finally:
        lm.config._attn_implementation = previous
        _CURRENT.reset(token)


def beam_tree_attention(module, query, key, value, attention_mask=None, dropout=0.0, scaling=None, **kwargs):
    """`query` [rows, heads, 1, d] (the step's keys/values are already in the tree). Returns [rows, 1, heads, d]
    as the `transformers` attention functions do."""
    tree = _CURRENT.get()
    if tree is None or query.shape[2] != 1:
        raise RuntimeError("beam-tree attention runs only inside `beam_tree`, one query token per row")
    unsupported = [name for name in ("softcap", "position_bias", "s_aux") if kwargs.get(name) is not None]
    window = kwargs.get("sliding_window")
    if window is not None and tree.longest_history() > window:  # a window no history reaches changes nothing
        unsupported.append(f"a sliding window of {window} tokens")
    if unsupported:
        raise NotImplementedError(f"beam-tree attention does not implement {', '.join(unsupported)}")
    rows, heads, _, dim = query.shape
    beams, width = tree.beams, tree.bias.shape[1]
    inputs = rows // beams
    keys = tree.keys[module.layer_idx][:inputs, :, :width]
    values = tree.values[module.layer_idx][:inputs, :, :width]
    kv_heads = keys.shape[1]
    group = heads // kv_heads
    scale = dim**-0.5 if scaling is None else scaling

    # [rows, heads, 1, d] -> [inputs, kv_heads, beams x group, d]: an input's beams and grouped heads as one matrix
    queries = query.reshape(inputs, beams, kv_heads, group, dim).transpose(1, 2).reshape(inputs, kv_heads, -1, dim)
    out = F.scaled_dot_product_attention(queries, keys, values, attn_mask=tree.mask_for(group), scale=scale)
    out = out.view(inputs, kv_heads, beams, group, dim).transpose(1, 2)
    return out.reshape(rows, 1, heads, dim), None


AttentionInterface.register(NAME, beam_tree_attention)
