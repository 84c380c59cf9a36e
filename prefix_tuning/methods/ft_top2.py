"""Fine-tune the top layers only (paper Table 2 "FT-top2"), as the original code: the last `top_layers`
transformer blocks, the token embedding (which is also the LM head: GPT-2 ties them) and the final
layer norm are trained and stored; everything else stays frozen (`embeddings_and_norm: false` trains
the blocks alone, the original's `22` variant)."""

from pathlib import Path

from torch import nn

from prefix_tuning.errors import UserError
from prefix_tuning.lm.layers import decoder_layers, final_norm
from prefix_tuning.methods.options import checked_options, require_causal_lm
from prefix_tuning.methods.tuned import TunedLM, load_tuned, save_tuned

NAME = "ft_top2"


def build(method_cfg, lm, tokenizer) -> TunedLM:
    require_causal_lm(lm, NAME)
    opts = checked_options(method_cfg, ("top_layers", "embeddings_and_norm"))
    top, layers = opts["top_layers"], decoder_layers(lm)
    if not isinstance(top, int) or not 1 <= top <= len(layers):
        raise UserError(f"top_layers must be between 1 and the model's {len(layers)} layers, got {top!r}")
    extra = [lm.get_input_embeddings(), final_norm(lm)] if opts["embeddings_and_norm"] else []
    return TunedLM(lm, nn.ModuleList([*extra, *layers[-top:]]))


def save(model: TunedLM, run_dir: Path, identity: dict):
    save_tuned(model, run_dir, identity, NAME)


def load(method_cfg, run_dir: Path, lm, identity: dict) -> TunedLM:
    return load_tuned(build(method_cfg, lm, None), run_dir, identity, NAME)
