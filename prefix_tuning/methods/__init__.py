"""Methods the trainer can optimize: each steers a frozen (or partly frozen) LM with a few trained tensors.

prefix (with `mlp_hidden: null`: configs/method/prefix_no_mlp.yaml), infix and embedding_only (paper section 7
ablations), adapter, ft_top2 and finetune (the paper's Table 1 baselines). `configs/method/<file>.yaml` picks a
method by `name` and sets its options; `tag` only names the run folder.

A method module `prefix_tuning.methods.<name>` exposes:
  build(method_cfg, lm, tokenizer) -> model   # model.trainable: the nn.Module whose parameters are trained
  save(model, run_dir, identity: dict)        # what inference needs, nothing more
  load(method_cfg, run_dir, lm, identity) -> model
and the model has stored_values() (numbers saved for inference), forward(input_ids, attention_mask, labels=None, reduction=...) and
generate(input_ids, attention_mask, **generate_kwargs) -> new tokens, like `PrefixLM`.
"""

import importlib

from omegaconf import OmegaConf

from prefix_tuning.errors import UserError

METHODS = ("prefix", "infix", "embedding_only", "adapter", "ft_top2", "finetune")


def method_module(method_cfg):
    name = method_cfg.name
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return importlib.import_module(f"prefix_tuning.methods.{name}")


def options(method_cfg) -> dict:
    """The method's options without its name and run-name tag, as plain Python values."""
    values = OmegaConf.to_container(method_cfg, resolve=True) if OmegaConf.is_config(method_cfg) else dict(method_cfg)
    values.pop("name", None)
    values.pop("tag", None)
    return values


def checked_options(method_cfg, defaults: dict) -> dict:
    """`options` over `defaults`, naming any key the method does not know."""
    values = options(method_cfg)
    unknown = set(values) - set(defaults)
    if unknown:
        raise UserError(f"unknown {method_cfg.name} option(s): {', '.join(sorted(unknown))}")
    return {**defaults, **values}


def require_causal_lm(lm, method: str):
    """The baselines and ablations are written for decoder-only LMs; say so instead of failing inside the model."""
    if lm.config.is_encoder_decoder:
        raise UserError(f"method {method} supports causal LMs (GPT-2, Llama) only; "
                        f"use method=prefix with the encoder-decoder {lm.config.model_type}")


def build(method_cfg, lm, tokenizer):
    return method_module(method_cfg).build(method_cfg, lm, tokenizer)


def save(method_cfg, model, run_dir, identity: dict):
    method_module(method_cfg).save(model, run_dir, identity)


def load(method_cfg, run_dir, lm, identity: dict):
    return method_module(method_cfg).load(method_cfg, run_dir, lm, identity)
