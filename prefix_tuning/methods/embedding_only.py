"""The embedding-only ablation (paper section 7.2): L trainable virtual-token embeddings at the input only.

Everything above the input is computed by the frozen LM. Because the virtual tokens come first and
attention is causal, their per-layer keys/values depend on the embeddings alone: they are computed once
per step by running the LM on the embeddings and then enter exactly like a prefix (same masks and
positions as `PrefixLM`, real tokens from position L). Only the L x d embeddings are stored.
"""

from pathlib import Path

import torch
from torch import nn

from prefix_tuning.core.activations import lm_kv
from prefix_tuning.core.causal import PrefixLM
from prefix_tuning.errors import UserError
from prefix_tuning.methods.options import checked_options, require_causal_lm
from prefix_tuning.tensor_files import load_module, save_module

NAME = "embedding_only"
EMBEDDINGS_FILE = "embeddings.safetensors"
OPTIONS = ("prefix_length", "init", "init_words")


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
        return torch.randn(
            length, table.shape[1], device=table.device, dtype=table.dtype
        ) * table.detach().float().std().to(table.dtype)
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


def _length(method_cfg) -> int:
    length = checked_options(method_cfg, OPTIONS)["prefix_length"]
    if not isinstance(length, int) or length <= 0:
        raise UserError(f"prefix_length must be a positive integer, got {length!r}")
    return length


def build(method_cfg, lm, tokenizer) -> EmbeddingOnlyLM:
    require_causal_lm(lm, NAME)
    opts = checked_options(method_cfg, OPTIONS)
    embeddings = initial_embeddings(lm, tokenizer, _length(method_cfg), opts["init"], opts["init_words"])
    return EmbeddingOnlyLM(lm, VirtualTokens(embeddings))


def save(model: EmbeddingOnlyLM, run_dir: Path, identity: dict):
    save_module(
        model.prefix, Path(run_dir) / EMBEDDINGS_FILE, identity, NAME, {"prefix_length": model.prefix().shape[0]}
    )


def load(method_cfg, run_dir: Path, lm, identity: dict) -> EmbeddingOnlyLM:
    table = lm.get_input_embeddings().weight
    tokens = VirtualTokens(torch.zeros(_length(method_cfg), table.shape[1], device=table.device, dtype=table.dtype))
    load_module(tokens, Path(run_dir) / EMBEDDINGS_FILE, identity, NAME)
    tokens.requires_grad_(False)
    return EmbeddingOnlyLM(lm, tokens)
