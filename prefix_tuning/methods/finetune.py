"""Full fine-tuning (paper Tables 1 and 2, "FT-full"): every LM weight is trained and stored.
Works for causal LMs and for encoder-decoders (the XSUM baseline on BART)."""

from pathlib import Path

from prefix_tuning.methods import checked_options
from prefix_tuning.tuned_lm import Seq2SeqTunedLM, TunedLM, load_tuned, save_tuned

NAME = "finetune"


def build(method_cfg, lm, tokenizer) -> TunedLM | Seq2SeqTunedLM:
    checked_options(method_cfg, {})
    return (Seq2SeqTunedLM if lm.config.is_encoder_decoder else TunedLM)(lm, lm)


def save(model: TunedLM | Seq2SeqTunedLM, run_dir: Path, identity: dict):
    save_tuned(model, run_dir, identity, NAME)


def load(method_cfg, run_dir: Path, lm, identity: dict) -> TunedLM | Seq2SeqTunedLM:
    return load_tuned(build(method_cfg, lm, None), run_dir, identity, NAME)
