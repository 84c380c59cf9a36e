"""The embedding-only ablation (paper section 7.2, Table 5 "EMB-L"): L trainable virtual-token embeddings
at the input only; everything above the input is computed by the frozen LM.

As the original code (`parametrize_emb='MLP'`), the embeddings are reparametrized like a prefix:
E = MLP(P'), P' [L, d], MLP d -> h -> d (`mlp_hidden: null` trains E directly). Because the virtual
tokens come first and attention is causal, their per-layer keys/values depend on E alone: they are
computed by running the LM on E and then enter exactly like a prefix (same masks and positions as
`PrefixLM`, real tokens from position L). Only the L x d embeddings E are stored. Word init: E is
fitted to the token embeddings of " " + words (L = their count).
"""

from pathlib import Path

import torch

from prefix_tuning.core.activations import lm_kv
from prefix_tuning.core.steered_lm import SteeredLM
from prefix_tuning.methods.options import require_causal_lm
from prefix_tuning.prefix.causal import causal_forward, causal_generate
from prefix_tuning.prefix.encoder import ReparametrizedTable
from prefix_tuning.prefix.method import prefix_config
from prefix_tuning.prefix.word_init import fit_mlp, init_token_ids
from prefix_tuning.tensor_files import load_tensors, save_tensors

NAME = "embedding_only"
EMBEDDINGS_FILE = "embeddings.safetensors"


class EmbeddingOnlyLM(SteeredLM):
    """A frozen causal LM after L virtual-token embeddings: `tokens` is a `ReparametrizedTable` (trainable)
    or a fixed [L, d] tensor (loaded)."""

    engine_ready = True  # decode() may run it with generation/beam_engine.py (its prefix: the LM's keys/values of E)

    def __init__(self, lm, tokens: ReparametrizedTable | torch.Tensor):
        super().__init__(lm)
        if isinstance(tokens, torch.Tensor):
            self.register_buffer("fixed", tokens)
            self.tokens = None
        else:
            self.tokens, self.fixed = tokens, None

    @property
    def trainable(self):
        return self.tokens

    def embeddings(self) -> torch.Tensor:
        """E [L, d]."""
        return self.fixed if self.tokens is None else self.tokens.flat()

    def stored_values(self) -> int:
        return self.embeddings().numel()

    def added_positions(self) -> int:
        return int(self.fixed.shape[0]) if self.tokens is None else self.tokens.config.prefix_length

    def prefix_kv(self) -> torch.Tensor:
        return lm_kv(self.lm, inputs_embeds=self.embeddings().to(self.lm.dtype).unsqueeze(0))[0]

    packing_ready = True

    def forward(self, input_ids=None, attention_mask=None, labels=None, reduction: str = "sequence_sum", packed=None):
        return causal_forward(self.lm, input_ids, attention_mask, self.prefix_kv(), labels, reduction, packed)

    def generate(self, input_ids, attention_mask, **generate_kwargs):
        return causal_generate(self.lm, input_ids, attention_mask, self.prefix_kv(), **generate_kwargs)


def build(method_cfg, lm, tokenizer) -> EmbeddingOnlyLM:
    require_causal_lm(lm, NAME)
    config = prefix_config(method_cfg, tokenizer)
    width = lm.get_input_embeddings().weight.shape[1]
    tokens = ReparametrizedTable(config, width, width).to(lm.device)
    if config.init == "words":
        ids = torch.tensor(init_token_ids(tokenizer, config.init_words), device=lm.device)
        fit_mlp(tokens, lm.get_input_embeddings()(ids).detach().float())
    return EmbeddingOnlyLM(lm, tokens)


def save(model: EmbeddingOnlyLM, run_dir: Path, identity: dict):
    embeddings = model.embeddings().detach()
    save_tensors(
        Path(run_dir) / EMBEDDINGS_FILE,
        {"embeddings": embeddings},
        identity,
        NAME,
        {"prefix_length": embeddings.shape[0]},
    )


def load(method_cfg, run_dir: Path, lm, identity: dict) -> EmbeddingOnlyLM:
    tensors = load_tensors(
        Path(run_dir) / EMBEDDINGS_FILE, identity, NAME, {"embeddings": (None, lm.config.hidden_size)}
    )
    return EmbeddingOnlyLM(lm, tensors["embeddings"].to(lm.device, lm.dtype))
