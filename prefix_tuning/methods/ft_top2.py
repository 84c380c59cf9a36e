"""Fine-tune the top layers only (paper Table 2 "FT-top2"): the last `top_layers` transformer blocks are
trained and stored; the embeddings, the lower blocks and the final norm stay frozen."""

from pathlib import Path

from torch import nn

from prefix_tuning.errors import UserError
from prefix_tuning.lm.layers import decoder_layers
from prefix_tuning.methods.options import checked_options, require_causal_lm
from prefix_tuning.methods.tuned import TunedLM, load_tuned, save_tuned

NAME = "ft_top2"


def build(method_cfg, lm, tokenizer) -> TunedLM:
    require_causal_lm(lm, NAME)
    top = checked_options(method_cfg, ("top_layers",))["top_layers"]
    layers = decoder_layers(lm)
    if not isinstance(top, int) or not 1 <= top <= len(layers):
        raise UserError(f"top_layers must be between 1 and the model's {len(layers)} layers, got {top!r}")
    return TunedLM(lm, nn.ModuleList(layers[-top:]))


def save(model: TunedLM, run_dir: Path, identity: dict):
    save_tuned(model, run_dir, identity, NAME, {"top_layers": len(model.trainable)})


def load(method_cfg, run_dir: Path, lm, identity: dict) -> TunedLM:
    return load_tuned(build(method_cfg, lm, None), run_dir, identity, NAME)
