"""Full fine-tuning (paper Table 1 "FT-full"): every LM weight is trained and stored."""

from pathlib import Path

from prefix_tuning.methods import checked_options, require_causal_lm
from prefix_tuning.tuned_lm import TunedLM, load_tuned, save_tuned

NAME = "finetune"


def build(method_cfg, lm, tokenizer) -> TunedLM:
    require_causal_lm(lm, NAME)
    checked_options(method_cfg, {})
    return TunedLM(lm, lm)


def save(model: TunedLM, run_dir: Path, identity: dict):
    save_tuned(model, run_dir, identity, NAME)


def load(method_cfg, run_dir: Path, lm, identity: dict) -> TunedLM:
    return load_tuned(build(method_cfg, lm, None), run_dir, identity, NAME)
