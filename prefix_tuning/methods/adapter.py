"""Adapter-tuning baseline (paper Table 1 "Adapter", Houlsby et al. 2019): bottleneck adapters after the
attention and the MLP of every layer; only the adapters are trained and stored.

Size: `bottleneck` (the adapter width) or `size_percent` (the width whose adapters are closest to that
percentage of the base model: the paper's 0.1% and 3% configurations).
"""

from pathlib import Path

from prefix_tuning.adapters import AdapterLM, Adapters, bottleneck_for_percent
from prefix_tuning.errors import UserError
from prefix_tuning.methods import checked_options, require_causal_lm
from prefix_tuning.tuned_lm import load_tuned, save_tuned

NAME = "adapter"


def build(method_cfg, lm, tokenizer) -> AdapterLM:
    require_causal_lm(lm, NAME)
    opts = checked_options(method_cfg, {"bottleneck": None, "size_percent": None})
    if (opts["bottleneck"] is None) == (opts["size_percent"] is None):
        raise UserError("set exactly one of method.bottleneck or method.size_percent for adapters")
    bottleneck = opts["bottleneck"] or bottleneck_for_percent(lm, float(opts["size_percent"]))
    return AdapterLM(lm, Adapters(lm, int(bottleneck)).to(device=lm.device, dtype=lm.dtype))


def save(model: AdapterLM, run_dir: Path, identity: dict):
    save_tuned(model, run_dir, identity, NAME, {"bottleneck": model.trainable.bottleneck})


def load(method_cfg, run_dir: Path, lm, identity: dict) -> AdapterLM:
    return load_tuned(build(method_cfg, lm, None), run_dir, identity, NAME)
