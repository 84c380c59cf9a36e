"""Infix-tuning ablation (paper section 7.3): the prefix's trained keys/values placed between source and target."""

from pathlib import Path

import torch

from prefix_tuning.base_model import KVGeometry
from prefix_tuning.infix_model import InfixLM
from prefix_tuning.method_io import load_module, save_module
from prefix_tuning.methods import options, require_causal_lm
from prefix_tuning.methods import prefix as prefix_method
from prefix_tuning.prefix_config import PrefixConfig
from prefix_tuning.prefix_encoder import FixedPrefix

NAME = "infix"
INFIX_FILE = "infix.safetensors"


def build(method_cfg, lm, tokenizer) -> InfixLM:
    require_causal_lm(lm, NAME)
    # The same trainable module as a prefix (options, MLP reparametrization, init); only its place differs.
    return InfixLM(lm, prefix_method.build(method_cfg, lm, tokenizer).prefix)


def save(model: InfixLM, run_dir: Path, identity: dict):
    """Only P (the MLP discarded), as for a prefix."""
    save_module(FixedPrefix(model.prefix.materialize()), Path(run_dir) / INFIX_FILE, identity, NAME,
                {"infix": model.prefix.config.to_dict()})


def load(method_cfg, run_dir: Path, lm, identity: dict) -> InfixLM:
    config, g = PrefixConfig.from_mapping(options(method_cfg)), KVGeometry.of(lm.config)
    infix = FixedPrefix(torch.zeros(g.n_layers, 2, g.n_kv_heads, config.prefix_length, g.head_dim, device=lm.device))
    load_module(infix, Path(run_dir) / INFIX_FILE, identity, NAME)
    return InfixLM(lm, infix)
