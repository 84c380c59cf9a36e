"""Packed training batches for a causal LM under a prefix: no padding at all.

A batch's examples are laid end to end in one sequence. Each example keeps its own positions (L, L+1,
... as in `PrefixLM`) and attends only to the prefix and to its own earlier tokens: the attention is
block-diagonal, with the prefix's L columns visible to every block. It runs as a Hugging Face attention
implementation (`prefix_packed`) that computes each block with SDPA on [prefix keys; the block's keys],
so no work is spent on padding or on other examples' tokens. The loss is the same as on the padded
batch (each example's target tokens, reduced per sequence or per token), to float rounding.
"""

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

from prefix_tuning.core.label_loss import IGNORE_INDEX, TargetLoss, target_loss
from prefix_tuning.core.lm_head import lm_logits

NAME = "prefix_packed"


@dataclass(frozen=True)
class PackedBatch:
    """Examples laid end to end: ids, positions and labels [1, T]; each example's (start, length); its index per token."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    segments: tuple[tuple[int, int], ...]
    example_of_token: torch.Tensor  # [T]

    @property
    def examples(self) -> int:
        return len(self.segments)

    def to(self, device) -> "PackedBatch":
        move = lambda t: t.to(device)  # noqa: E731
        return PackedBatch(
            move(self.input_ids), move(self.position_ids), move(self.labels), self.segments, move(self.example_of_token)
        )


def pack(examples: list[tuple[list[int], list[int]]], prefix_length: int) -> PackedBatch:
    """Pack tokenized (input_ids, labels) examples; positions start at `prefix_length` in every example."""
    ids, labels, positions, segments, owners, start = [], [], [], [], [], 0
    for index, (example_ids, example_labels) in enumerate(examples):
        if example_labels[0] != IGNORE_INDEX:
            raise ValueError(
                "a packed example must start with a source token (no label), so no token predicts across examples"
            )
        ids += example_ids
        labels += example_labels
        positions += range(prefix_length, prefix_length + len(example_ids))
        owners += [index] * len(example_ids)
        segments.append((start, len(example_ids)))
        start += len(example_ids)
    return PackedBatch(
        torch.tensor([ids]), torch.tensor([positions]), torch.tensor([labels]), tuple(segments), torch.tensor(owners)
    )


def packed_attention(
    module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, packed_segments=(),
    sliding_window=None, softcap=None, **kwargs,
):  # fmt: skip
    """Block-diagonal causal attention over a packed sequence; the first L keys (the prefix) are seen by every block.
    query [1, heads, T, D]; key/value [1, kv_heads, L + T, D]; returns [1, T, heads, D].

    The blocks are cut with one `split` each (its backward is one concatenation; slicing block by block would
    allocate and zero a full-size gradient per slice) and grouped heads share their keys inside SDPA
    (`enable_gqa`) instead of repeated copies."""
    prefix = key.shape[2] - query.shape[2]
    lengths = [length for _, length in packed_segments]
    if softcap is not None or kwargs.get("s_aux") is not None:  # never silently: lm/families.py keeps these off
        raise NotImplementedError("packed attention implements no attention soft-capping or attention sinks")
    if sliding_window is not None and prefix + max(lengths, default=0) > sliding_window:
        raise NotImplementedError(f"packed attention cannot apply a sliding window of {sliding_window} tokens")
    if sum(lengths) != query.shape[2] or any(s != sum(lengths[:i]) for i, (s, _) in enumerate(packed_segments)):
        raise ValueError("packed segments must tile the sequence in order")
    grouped = key.shape[1] != query.shape[1]
    p = dropout if module.training else 0.0
    keys, values = key.split([prefix, *lengths], dim=2), value.split([prefix, *lengths], dim=2)
    blocks = []
    for q, k, v in zip(query.split(lengths, dim=2), keys[1:], values[1:]):
        visible = torch.ones(q.shape[2], prefix + q.shape[2], dtype=torch.bool, device=query.device).tril(prefix)
        k, v = torch.cat([keys[0], k], dim=2), torch.cat([values[0], v], dim=2)
        blocks.append(
            F.scaled_dot_product_attention(q, k, v, attn_mask=visible, dropout_p=p, scale=scaling, enable_gqa=grouped)
        )
    return torch.cat(blocks, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, packed_attention)


@contextlib.contextmanager
def attention_implementation(lm, name: str):
    """Run `lm` with another registered attention implementation for a while."""
    configs = {id(c): c for c in (lm.config, lm.config.get_text_config(decoder=True))}.values()
    saved = [(c, c._attn_implementation) for c in configs]
    for config, _ in saved:
        config._attn_implementation = name
    try:
        yield
    finally:
        for config, original in saved:
            config._attn_implementation = original


def packed_loss(lm, batch: PackedBatch, cache, reduction: str) -> TargetLoss:
    """The target-token loss of a packed batch after the prefix in `cache` (None: no prefix)."""
    with attention_implementation(lm, NAME):
        hidden = lm.base_model(
            input_ids=batch.input_ids, position_ids=batch.position_ids, cache=cache, use_cache=False,
            packed_segments=batch.segments,
        ).last_hidden_state  # fmt: skip
    targets = batch.labels[0, 1:]
    selected = targets != IGNORE_INDEX
    logits = lm_logits(lm, hidden[0, :-1][selected])
    return target_loss(logits, targets[selected], batch.example_of_token[1:][selected], batch.examples, reduction)
