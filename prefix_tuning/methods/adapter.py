"""Adapter-tuning baseline (paper Table 1 "Adapter", Houlsby et al. 2019): bottleneck adapters after the
attention and the MLP of every layer; only the adapters are trained and stored.

Size: `bottleneck` (the adapter width) or `size_percent` (the width whose adapters are closest to that
percentage of the base model: the paper's 0.1% and 3% configurations).

The adapters live outside the LM and are attached with forward hooks only while the adapted model
runs, so the base LM object stays the base LM (and its parameter count too). Each is a bottleneck
`h + up(relu(down(h)))` after the attention and after the MLP of every layer, applied to the
sub-layer's output before it joins the residual stream; `up` starts at zero, so a fresh model is
exactly the base model.
"""

import contextlib
from pathlib import Path

import torch
from torch import nn

from prefix_tuning.errors import UserError
from prefix_tuning.lm.layers import attention_and_mlp, decoder_layers
from prefix_tuning.methods.options import checked_options, require_causal_lm
from prefix_tuning.methods.tuned import TunedLM, load_tuned, save_tuned

NAME = "adapter"


class Bottleneck(nn.Module):
    def __init__(self, hidden_size: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck)
        self.up = nn.Linear(bottleneck, hidden_size)
        nn.init.zeros_(self.up.weight)  # starts as the identity: the base model
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(torch.relu(self.down(hidden)))


def adapter_count(lm) -> int:
    return 2 * len(decoder_layers(lm))


def bottleneck_for_percent(lm, percent: float) -> int:
    """The bottleneck width whose adapters come closest to `percent` % of the base model's parameters (at least 1)."""
    if percent <= 0:
        raise UserError(f"adapter size_percent must be positive, got {percent}")
    base = sum(p.numel() for p in lm.parameters())
    hidden = lm.config.get_text_config(decoder=True).hidden_size
    # one adapter: hidden*r + r (down) + r*hidden + hidden (up)
    per_unit = adapter_count(lm) * (2 * hidden + 1)
    return max(1, round((percent / 100 * base - adapter_count(lm) * hidden) / per_unit))


class Adapters(nn.Module):
    """Two adapters per layer, in layer order: after attention, after the MLP."""

    def __init__(self, lm, bottleneck: int):
        super().__init__()
        if bottleneck <= 0:
            raise UserError(f"adapter bottleneck must be positive, got {bottleneck}")
        hidden = lm.config.get_text_config(decoder=True).hidden_size
        self.bottleneck = bottleneck
        self.blocks = nn.ModuleList(Bottleneck(hidden, bottleneck) for _ in range(adapter_count(lm)))

    @contextlib.contextmanager
    def attached(self, lm):
        """Run `lm` with the adapters in place; the hooks are removed on exit."""
        sublayers = [module for layer in decoder_layers(lm) for module in attention_and_mlp(layer)]
        handles = [
            module.register_forward_hook(_adapt_output(adapter)) for module, adapter in zip(sublayers, self.blocks)
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def _adapt_output(adapter: Bottleneck):
    def hook(module, args, output):
        # attention returns (output, weights); the MLP returns the output tensor
        if isinstance(output, tuple):
            return (adapter(output[0]),) + output[1:]
        return adapter(output)

    return hook


class AdapterLM(TunedLM):
    """The base LM with adapters attached while it runs; only the adapters are trained and stored."""

    engine_ready = False  # the adapters hook the LM only inside forward/generate

    def forward(self, *args, **kwargs):
        with self.tuned.attached(self.lm):
            return super().forward(*args, **kwargs)

    def generate(self, *args, **kwargs):
        with self.tuned.attached(self.lm):
            return super().generate(*args, **kwargs)


def build(method_cfg, lm, tokenizer) -> AdapterLM:
    require_causal_lm(lm, NAME)
    opts = checked_options(method_cfg, ("bottleneck", "size_percent"))
    if (opts["bottleneck"] is None) == (opts["size_percent"] is None):
        raise UserError("set exactly one of method.bottleneck or method.size_percent for adapters")
    bottleneck = opts["bottleneck"] or bottleneck_for_percent(lm, float(opts["size_percent"]))
    return AdapterLM(lm, Adapters(lm, int(bottleneck)).to(device=lm.device, dtype=lm.dtype))


def save(model: AdapterLM, run_dir: Path, identity: dict):
    save_tuned(model, run_dir, identity, NAME, {"bottleneck": model.trainable.bottleneck})


def load(method_cfg, run_dir: Path, lm, identity: dict) -> AdapterLM:
    return load_tuned(build(method_cfg, lm, None), run_dir, identity, NAME)
