"""Embedding-only ablation (paper section 7.2): L trainable input embeddings, the frozen LM computes the rest."""

from pathlib import Path

import torch

from prefix_tuning.embedding_prompt import EmbeddingOnlyLM, VirtualTokens, initial_embeddings
from prefix_tuning.errors import UserError
from prefix_tuning.method_io import load_module, save_module
from prefix_tuning.methods import checked_options, require_causal_lm

NAME = "embedding_only"
EMBEDDINGS_FILE = "embeddings.safetensors"
DEFAULTS = {"prefix_length": 10, "init": "random", "init_words": None}


def _length(method_cfg) -> int:
    length = checked_options(method_cfg, DEFAULTS)["prefix_length"]
    if not isinstance(length, int) or length <= 0:
        raise UserError(f"prefix_length must be a positive integer, got {length!r}")
    return length


def build(method_cfg, lm, tokenizer) -> EmbeddingOnlyLM:
    require_causal_lm(lm, NAME)
    opts = checked_options(method_cfg, DEFAULTS)
    embeddings = initial_embeddings(lm, tokenizer, _length(method_cfg), opts["init"], opts["init_words"])
    return EmbeddingOnlyLM(lm, VirtualTokens(embeddings))


def save(model: EmbeddingOnlyLM, run_dir: Path, identity: dict):
    save_module(model.prefix, Path(run_dir) / EMBEDDINGS_FILE, identity, NAME, {"prefix_length": model.prefix().shape[0]})


def load(method_cfg, run_dir: Path, lm, identity: dict) -> EmbeddingOnlyLM:
    table = lm.get_input_embeddings().weight
    tokens = VirtualTokens(torch.zeros(_length(method_cfg), table.shape[1], device=table.device, dtype=table.dtype))
    load_module(tokens, Path(run_dir) / EMBEDDINGS_FILE, identity, NAME)
    tokens.requires_grad_(False)
    return EmbeddingOnlyLM(lm, tokens)
