"""The base LM with some of its own weights, or modules added to it, trained: the paper's baselines
(fine-tuning, FT-top2, adapters). A sibling of the prefix models: the same causal / encoder-decoder
forward and generate functions, called with no prefix.
"""

from pathlib import Path

from torch import nn

from prefix_tuning.core.steered_lm import SteeredLM
from prefix_tuning.prefix.causal import causal_forward, causal_generate
from prefix_tuning.prefix.seq2seq import seq2seq_forward, seq2seq_generate
from prefix_tuning.tensor_files import load_module, save_module

WEIGHTS_FILE = "weights.safetensors"


class TunedLM(SteeredLM):
    """`lm` steered by training `tuned` (the LM itself, some of its layers, or adapters attached to it).

    Unlike the prefix methods, the LM follows train/eval mode (its own dropout is on while training),
    as in ordinary fine-tuning. Works for causal LMs and encoder-decoders (the XSUM baseline).
    """

    lm_dropout_in_training = True
    engine_ready = True  # decode() may run a causal one with generation/beam_engine.py (no prefix)

    def __init__(self, lm: nn.Module, tuned: nn.Module):
        super().__init__(lm)
        self.tuned = tuned
        self.tuned.requires_grad_(True)

    @property
    def trainable(self) -> nn.Module:
        return self.tuned

    def prefix_kv(self):
        return None

    def stored_values(self) -> int:
        """Everything trained must be kept (no reparametrization to discard)."""
        return sum(p.numel() for p in self.tuned.parameters())

    @property
    def packing_ready(self) -> bool:
        return not self.lm.config.is_encoder_decoder

    def forward(self, input_ids=None, attention_mask=None, labels=None, reduction: str = "sequence_sum", packed=None):
        if self.lm.config.is_encoder_decoder:
            return seq2seq_forward(self.lm, input_ids, attention_mask, None, labels, reduction)
        return causal_forward(self.lm, input_ids, attention_mask, None, labels, reduction, packed)

    def generate(self, input_ids, attention_mask, **generate_kwargs):
        if self.lm.config.is_encoder_decoder:
            return seq2seq_generate(self.lm, input_ids, attention_mask, None, **generate_kwargs)
        return causal_generate(self.lm, input_ids, attention_mask, None, **generate_kwargs)


def save_tuned(model: TunedLM, run_dir: Path, identity: dict, method: str, extra: dict | None = None):
    """Store what was trained (the whole LM for fine-tuning), tied weights once."""
    save_module(model.trainable, Path(run_dir) / WEIGHTS_FILE, identity, method, extra)


def load_tuned(model: TunedLM, run_dir: Path, identity: dict, method: str) -> TunedLM:
    """Fill a freshly built model's trained part from `run_dir`."""
    load_module(model.trainable, Path(run_dir) / WEIGHTS_FILE, identity, method)
    return model
