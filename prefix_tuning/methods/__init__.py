"""Methods the trainer can optimize, one file each holding its model and its build/save/load.

prefix (with `mlp_hidden: null`: configs/method/prefix_no_mlp.yaml), infix and embedding_only (paper
section 7 ablations), adapter, ft_top2 and finetune (the paper's Table 2 baselines). `configs/method/<file>.yaml`
picks a method by `name` and sets its options; `tag` only names the run folder.

A method module exposes:
  build(method_cfg, lm, tokenizer) -> model   # a `SteeredLM` (core/steered_lm.py): trainable, stored_values, forward, generate
  save(model, run_dir, identity: dict)        # what inference needs, nothing more (tensor_files.py)
  load(method_cfg, run_dir, lm, identity) -> model
"""

from prefix_tuning.errors import UserError
from prefix_tuning.methods import adapter, embedding_only, finetune, ft_top2, infix
from prefix_tuning.prefix import method as prefix

METHODS = {
    "prefix": prefix,
    "infix": infix,
    "embedding_only": embedding_only,
    "adapter": adapter,
    "ft_top2": ft_top2,
    "finetune": finetune,
}


def method_module(method_cfg):
    name = method_cfg.name
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def build(method_cfg, lm, tokenizer):
    return method_module(method_cfg).build(method_cfg, lm, tokenizer)


def save(method_cfg, model, run_dir, identity: dict):
    method_module(method_cfg).save(model, run_dir, identity)


def load(method_cfg, run_dir, lm, identity: dict):
    return method_module(method_cfg).load(method_cfg, run_dir, lm, identity)
