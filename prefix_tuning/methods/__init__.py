"""Methods the trainer can optimize: each steers a frozen (or partly frozen) LM with a few trained tensors.

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

METHODS = ("prefix",)


def method_module(method_cfg):
    name = method_cfg.name
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return importlib.import_module(f"prefix_tuning.methods.{name}")


def options(method_cfg) -> dict:
    """The method's options without its name, as plain Python values."""
    values = OmegaConf.to_container(method_cfg, resolve=True) if OmegaConf.is_config(method_cfg) else dict(method_cfg)
    values.pop("name", None)
    return values


def build(method_cfg, lm, tokenizer):
    return method_module(method_cfg).build(method_cfg, lm, tokenizer)


def save(method_cfg, model, run_dir, identity: dict):
    method_module(method_cfg).save(model, run_dir, identity)


def load(method_cfg, run_dir, lm, identity: dict):
    return method_module(method_cfg).load(method_cfg, run_dir, lm, identity)
