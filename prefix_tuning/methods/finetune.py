"""Full fine-tuning (paper Tables 2 and 3, "FT-full"): every LM weight is trained and stored.
Works for causal LMs and for encoder-decoders (the XSUM baseline on BART)."""

from pathlib import Path

from prefix_tuning.methods.options import checked_options
from prefix_tuning.methods.tuned import TunedLM, load_tuned, save_tuned

NAME = "finetune"


def build(method_cfg, lm, tokenizer) -> TunedLM:
    checked_options(method_cfg, ())
    return TunedLM(lm, lm)


def save(model: TunedLM, run_dir: Path, identity: dict):
    save_tuned(model, run_dir, identity, NAME)


def load(method_cfg, run_dir: Path, lm, identity: dict) -> TunedLM:
    return load_tuned(build(method_cfg, lm, None), run_dir, identity, NAME)
