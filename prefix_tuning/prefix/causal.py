"""Where the prefix enters a decoder-only LM (GPT-2, Llama): a pre-filled key/value cache.

The prefix is handed to the LM as a cache of length L that every real token attends to, as if L
earlier "virtual tokens" had been processed. The attention mask is extended with L ones and real
tokens take positions L, L+1, ... in training and in generation alike. `PrefixLM` puts the pieces
together; the functions are shared with the ablations (infix, embedding-only) and the tuned baselines
(which call them with no prefix).
"""

import torch
from transformers import DynamicCache

from prefix_tuning.core.label_loss import shifted_label_loss
from prefix_tuning.core.steered_lm import SteeredLM
from prefix_tuning.prefix.packing import packed_loss


def prefix_cache(kv: torch.Tensor | None, batch_size: int, dtype: torch.dtype) -> DynamicCache | None:
    """A DynamicCache pre-filled with the prefix.

    `kv` is [layers, 2, kv_heads, L, head_dim] (one prefix for the whole batch) or
    [batch, layers, 2, kv_heads, L, head_dim] (one prefix per row, for mixed-task batches).
    """
    if kv is None:
        return None
    kv = kv.to(dtype)
    if kv.dim() == 5:
        kv = kv.unsqueeze(0).expand(batch_size, *kv.shape)
    elif kv.shape[0] != batch_size:
        raise ValueError(f"per-row prefix has {kv.shape[0]} rows for a batch of {batch_size}")
    # [B, layers, 2, H, L, D] -> per layer (keys [B, H, L, D], values [B, H, L, D])
    return DynamicCache(ddp_cache_data=[(kv[:, i, 0], kv[:, i, 1]) for i in range(kv.shape[1])])


def with_prefix_mask(attention_mask: torch.Tensor, prefix_length: int) -> torch.Tensor:
    """[B, T] -> [B, L + T]: the prefix is always visible."""
    ones = attention_mask.new_ones(attention_mask.shape[0], prefix_length)
    return torch.cat([ones, attention_mask], dim=1)


def real_token_positions(attention_mask: torch.Tensor, prefix_length: int) -> torch.Tensor:
    """Positions of real tokens: L + index among non-padding tokens (what `generate` derives from the mask)."""
    positions = attention_mask.long().cumsum(-1) - 1 + prefix_length
    return positions.masked_fill(attention_mask == 0, 0)


def prefixed_inputs(input_ids, attention_mask, kv, cache_rows: int, dtype) -> dict:
    """The LM's keyword arguments for `input_ids` after the prefix `kv` (None: no prefix)."""
    length = 0 if kv is None else kv.shape[-2]
    return dict(
        input_ids=input_ids,
        attention_mask=with_prefix_mask(attention_mask, length),
        position_ids=real_token_positions(attention_mask, length),
        cache=prefix_cache(kv, cache_rows, dtype),
        use_cache=False,
    )


def causal_forward(lm, input_ids, attention_mask, kv, labels=None, reduction: str = "sequence_sum", packed=None):
    """A `TargetLoss` on label positions (labels == -100 elsewhere) or, without labels, full logits.
    `packed` (a `prefix.packing.PackedBatch`): the same loss over examples packed with no padding."""
    if packed is not None:
        return packed_loss(lm, packed, prefix_cache(kv, 1, lm.dtype), reduction)
    inputs = prefixed_inputs(input_ids, attention_mask, kv, input_ids.shape[0], lm.dtype)
    if labels is None:
        return lm(**inputs).logits
    hidden = lm.base_model(**inputs).last_hidden_state
    return shifted_label_loss(lm, hidden, labels, reduction)


@torch.no_grad()
def causal_generate(lm, input_ids, attention_mask, kv, **generate_kwargs):
    """`generate` after the prefix `kv` (None: none); beam search and left padding work. Only the new tokens."""
    num_beams = generate_kwargs.get("num_beams", 1)
    if kv is not None and kv.dim() == 6:
        # Per-row prefixes: beam search expands each row num_beams times, in place.
        kv = kv.repeat_interleave(num_beams, dim=0)
    # Beam search expands the batch to batch x beams rows; the cache must already have them.
    inputs = prefixed_inputs(input_ids, attention_mask, kv, input_ids.shape[0] * num_beams, lm.dtype)
    inputs.pop("position_ids")  # generate derives them from the extended mask, the same way
    inputs.pop("use_cache")
    out = lm.generate(**inputs, **generate_kwargs)
    return out[:, input_ids.shape[1] :]


class PrefixLM(SteeredLM):
    """A frozen causal LM steered by a prefix module (trainable `PrefixEncoder` or fixed `FixedPrefix`).

    `prefix=None` is the plain base model (zero-shot), through the same code path.
    """

    engine_ready = True  # decode() may run it with generation/beam_engine.py
    packing_ready = True  # the trainer may hand it packed batches (prefix/packing.py)

    def __init__(self, lm, prefix):
        super().__init__(lm)
        self.prefix = prefix

    @property
    def trainable(self):
        return self.prefix

    def stored_values(self) -> int:
        """P only (L x layers x 2 x kv_heads x head_dim): the MLP is discarded."""
        return 0 if self.prefix is None else self.prefix().numel()

    def prefix_kv(self) -> torch.Tensor | None:
        return None if self.prefix is None else self.prefix()

    def added_positions(self) -> int:
        if self.prefix is None:
            return 0
        return self.prefix.config.prefix_length if hasattr(self.prefix, "config") else int(self.prefix.kv.shape[-2])

    def forward(
        self, input_ids=None, attention_mask=None, labels=None, reduction: str = "sequence_sum", kv=None, packed=None
    ):
        """With labels, the LM head runs only on the positions that predict a target token."""
        kv = self.prefix_kv() if kv is None else kv
        return causal_forward(self.lm, input_ids, attention_mask, kv, labels, reduction, packed)

    def generate(self, input_ids, attention_mask, kv=None, **generate_kwargs):
        """`kv` overrides the prefix ([B, layers, 2, H, L, D]: one prefix per row)."""
        kv = self.prefix_kv() if kv is None else kv
        return causal_generate(self.lm, input_ids, attention_mask, kv, **generate_kwargs)
