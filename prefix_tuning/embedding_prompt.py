"""The embedding-only ablation (paper section 7.2): L trainable virtual-token embeddings at the input only.

Everything above the input is computed by the frozen LM. Because the virtual tokens come first and
attention is causal, their per-layer keys/values depend on the embeddings alone: they are computed once
per step by running the LM on the embeddings and then enter exactly like a prefix (same masks and
positions as `PrefixLM`, real tokens from position L). Only the L x d embeddings are stored.
"""

import torch
from torch import nn

from prefix_tuning.activations import lm_kv
from prefix_tuning.errors import UserError
from prefix_tuning.prefix_model import PrefixLM


class VirtualTokens(nn.Module):
    """L input embeddings [L, d]."""

    def __init__(self, embeddings: torch.Tensor):
        super().__init__()
        self.embeddings = nn.Parameter(embeddings)

    def forward(self) -> torch.Tensor:
        return self.embeddings


def initial_embeddings(lm, tokenizer, length: int, init: str, words: str | None) -> torch.Tensor:
    """random: N(0, std of the LM's token embeddings); words: the embeddings of `words`, repeated to fill L."""
    table = lm.get_input_embeddings().weight
    if init == "random":
        return torch.randn(length, table.shape[1], device=table.device, dtype=table.dtype) * table.detach().float().std().to(table.dtype)
    if init == "words":
        if not (words or "").strip():
            raise UserError("embedding init=words needs init_words, e.g. init_words='table-to-text'")
        ids = tokenizer(words, add_special_tokens=False)["input_ids"]
        if not ids:
            raise UserError(f"init words {words!r} tokenize to nothing")
        ids = (ids * (length // len(ids) + 1))[:length]
        return table[torch.tensor(ids, device=table.device)].detach().clone()
    raise UserError(f"unknown embedding init {init!r}; choose random or words")


class EmbeddingOnlyLM(PrefixLM):
    """A frozen LM after L trained input embeddings."""

    def prefix_kv(self) -> torch.Tensor:
        embeddings = self.prefix().to(self.lm.dtype).unsqueeze(0)
        return lm_kv(self.lm, inputs_embeds=embeddings)[0]

    def stored_values(self) -> int:
        return self.prefix().numel()
