"""Where the prefix enters attention: a frozen causal LM plus per-layer prefix keys/values.

The prefix is handed to the LM as a key/value cache of length L that every real token attends to,
as if L earlier "virtual tokens" had been processed. The attention mask is extended with L ones
and real tokens take positions L, L+1, ... in training and in generation alike.
"""

import torch
from torch import nn
from transformers import DynamicCache

from prefix_tuning.label_loss import label_positions_loss

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


class FrozenLMWithPrefix(nn.Module):
    """A frozen LM plus a prefix module: what the trainer optimizes is the prefix, nothing else."""

    def __init__(self, lm: nn.Module, prefix: nn.Module | None):
        super().__init__()
        self.lm = lm
        self.prefix = prefix
        self.lm.requires_grad_(False)
        self.lm.eval()

    def train(self, mode: bool = True):
        """Only the prefix changes mode: the frozen LM stays in eval mode (dropout off), as in the paper."""
        super().train(mode)
        self.lm.eval()
        return self

    @property
    def trainable(self) -> nn.Module | None:
        """What the trainer optimizes and checkpoints: the prefix module."""
        return self.prefix


class PrefixLM(FrozenLMWithPrefix):
    """A frozen causal LM steered by a prefix module (trainable `PrefixEncoder` or fixed `FixedPrefix`).

    `prefix=None` is the plain base model (zero-shot), through the same code path.
    """

    def stored_values(self) -> int:
        """Numbers kept after training: P only (L x layers x 2 x kv_heads x head_dim), the MLP is discarded."""
        return 0 if self.prefix is None else self.prefix().numel()

    def prefix_kv(self) -> torch.Tensor | None:
        return None if self.prefix is None else self.prefix()

    def _inputs(self, input_ids, attention_mask, kv, cache_rows: int):
        length = 0 if kv is None else kv.shape[-2]
        return dict(
            input_ids=input_ids,
            attention_mask=with_prefix_mask(attention_mask, length),
            position_ids=real_token_positions(attention_mask, length),
            cache=prefix_cache(kv, cache_rows, self.lm.dtype),
            use_cache=False,
        )

    def forward(self, input_ids, attention_mask, labels=None, reduction: str = "sequence_sum", kv=None):
        """Loss on label positions (labels == -100 elsewhere) or, without labels, full logits.

        With labels, the LM head (most of a small model's FLOPs at a 49k vocabulary) runs only on
        the positions that predict a target token.
        """
        kv = self.prefix_kv() if kv is None else kv
        inputs = self._inputs(input_ids, attention_mask, kv, input_ids.shape[0])
        if labels is None:
            return self.lm(**inputs).logits
        hidden = self.lm.base_model(**inputs).last_hidden_state
        return label_positions_loss(self.lm, hidden, labels, reduction)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, kv=None, **generate_kwargs):
        """`generate` with the prefix as a pre-filled cache; works with beam search and left padding.

        Returns only the new tokens, [batch * num_return_sequences, new_tokens].
        """
        kv = self.prefix_kv() if kv is None else kv
        num_beams = generate_kwargs.get("num_beams", 1)
        if kv is not None and kv.dim() == 6:
            # Per-row prefixes: beam search expands each row num_beams times, in place.
            kv = kv.repeat_interleave(num_beams, dim=0)
        # Beam search expands the batch to batch x beams rows; the cache must already have them.
        inputs = self._inputs(input_ids, attention_mask, kv, input_ids.shape[0] * num_beams)
        inputs.pop("position_ids")  # generate derives them from the extended mask, the same way
        inputs.pop("use_cache")
        out = self.lm.generate(**inputs, **generate_kwargs)
        return out[:, input_ids.shape[1]:]
