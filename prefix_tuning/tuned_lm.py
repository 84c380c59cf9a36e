"""The base LM with some of its own weights, or modules added to it, trained: the paper's baselines
(fine-tuning, FT-top2, adapters). No prefix: forward, the label-only loss and generation are those of
PrefixLM (causal) or Seq2SeqPrefixLM (encoder-decoder) with an empty prefix.
"""

from pathlib import Path

from torch import nn

from prefix_tuning.errors import UserError
from prefix_tuning.method_io import load_module, save_module
from prefix_tuning.prefix_model import PrefixLM
from prefix_tuning.seq2seq_prefix import Seq2SeqPrefixLM


class Tuned:
    """Mixin: `lm` steered by training `tuned` (the LM itself, some of its layers, or adapters).

    Unlike the prefix methods, the LM follows train/eval mode (its own dropout is on while training),
    as in ordinary fine-tuning.
    """

    def __init__(self, lm: nn.Module, tuned: nn.Module):
        super().__init__(lm, None)  # freezes everything ...
        self.tuned = tuned
        self.tuned.requires_grad_(True)  # ... then unfreezes what this method trains

    def train(self, mode: bool = True):
        return nn.Module.train(self, mode)

    @property
    def trainable(self) -> nn.Module:
        return self.tuned

    def stored_values(self) -> int:
        """Everything trained must be kept (no reparametrization to discard)."""
        return sum(p.numel() for p in self.tuned.parameters())


class TunedLM(Tuned, PrefixLM):
    """A causal LM with trained weights or modules."""


class Seq2SeqTunedLM(Tuned, Seq2SeqPrefixLM):
    """An encoder-decoder (BART, T5) with trained weights: the paper's XSUM fine-tuning baseline."""


def decoder_layers(lm) -> nn.ModuleList:
    """The transformer blocks of a decoder-only LM (GPT-2 `h`, Llama-style `layers`)."""
    body = lm.base_model
    for name in ("layers", "h"):
        if isinstance(getattr(body, name, None), nn.ModuleList):
            return getattr(body, name)
    raise UserError(f"{type(lm).__name__}: cannot find its transformer layers (supported: GPT-2 and Llama-style decoders)")


def attention_and_mlp(layer: nn.Module) -> tuple[nn.Module, nn.Module]:
    """A block's self-attention and MLP sub-modules, each of whose output is added to the residual stream."""
    attention = next((getattr(layer, n) for n in ("self_attn", "attn") if hasattr(layer, n)), None)
    mlp = getattr(layer, "mlp", None)
    if attention is None or mlp is None:
        raise UserError(f"{type(layer).__name__}: cannot find its attention and MLP (supported: GPT-2 and Llama-style decoders)")
    return attention, mlp


WEIGHTS_FILE = "weights.safetensors"


def save_tuned(model: TunedLM, run_dir: Path, identity: dict, method: str, extra: dict | None = None):
    """Store what was trained (the whole LM for fine-tuning), tied weights once."""
    save_module(model.trainable, Path(run_dir) / WEIGHTS_FILE, identity, method, extra)


def load_tuned(model: TunedLM, run_dir: Path, identity: dict, method: str) -> TunedLM:
    """Fill a freshly built model's trained part from `run_dir`."""
    load_module(model.trainable, Path(run_dir) / WEIGHTS_FILE, identity, method)
    return model
