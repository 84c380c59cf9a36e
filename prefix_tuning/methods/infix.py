"""Infix-tuning ablation (paper section 7.3, Table 5 "INFIX-L"): `[x; INFIX; y]` instead of `[PREFIX; x; y]`.

As the original code (`get_prompt_p5_infix`), the infix's activations depend on x: L trainable input
embeddings E are placed after the source and the frozen LM computes their keys/values in context
(they attend to x); the MLP output P = MLP(P') is added to those keys/values. For a causal LM the
infix sits between the source tokens and the separator token that ends the prompt (` {source}` INFIX
`<eos>` `{target} <eos>`): the first target token must be predicted by a real token's hidden state,
and the separator is that token, as in the original code where the target segment starts with it.

1. The LM runs on [source embeddings; E] (left-padded), giving keys/values of every position; P is
   added on the L infix positions.
2. The tail (separator, target) runs on that cache, mask `[source mask | L ones | tail mask]`, at
   positions n + L, n + L + 1, ... where n is the row's source length (what the same tokens would have
   as real tokens after x and L infix tokens).
Generation needs left-padded prompts (as `decode` builds them): every row's separator is then the last
column, and `generate` continues from step 2. Stored: E [L, d] and P [layers, 2, kv_heads, L, head_dim].
Word init: E = the token embeddings of " " + words and P = 0, which is exactly the words fed as real
tokens between source and target; random init: E ~ N(0, 1) (the original's nn.Embedding) and P' as a prefix's.
"""

from pathlib import Path

import torch
from torch import nn

from prefix_tuning.core.activations import lm_kv
from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.core.label_loss import IGNORE_INDEX, shifted_label_loss
from prefix_tuning.core.lm_head import lm_logits
from prefix_tuning.core.steered_lm import SteeredLM
from prefix_tuning.methods.options import require_causal_lm
from prefix_tuning.prefix.causal import prefix_cache, real_token_positions
from prefix_tuning.prefix.encoder import FixedPrefix, PrefixEncoder
from prefix_tuning.prefix.method import prefix_config
from prefix_tuning.prefix.word_init import init_token_ids
from prefix_tuning.tensor_files import load_tensors, save_tensors
from prefix_tuning.training.batching import pad_batch

NAME = "infix"
INFIX_FILE = "infix.safetensors"


class Infix(nn.Module):
    """E [L, d] (input embeddings placed after x) and the additive P (a `PrefixEncoder` or `FixedPrefix`)."""

    def __init__(self, embeddings: torch.Tensor, additive: nn.Module, trainable: bool):
        super().__init__()
        if trainable:
            self.embeddings = nn.Parameter(embeddings)
        else:
            self.register_buffer("embeddings", embeddings)
        self.additive = additive

    @property
    def length(self) -> int:
        return self.embeddings.shape[0]


def split_at_separator(input_ids, attention_mask, labels=None):
    """Per row, (source tokens, tail tokens, tail labels): the tail starts at the separator, the last prompt token.

    With labels the prompt is everything before the first target label; without, the whole input is a prompt.
    """
    sources, tails, tail_labels = [], [], []
    for row in range(input_ids.shape[0]):
        real = attention_mask[row].bool()
        ids = input_ids[row][real].tolist()
        if labels is None:
            prompt_length, row_labels = len(ids), [IGNORE_INDEX] * len(ids)
        else:
            row_labels = labels[row][real].tolist()
            prompt_length = next((i for i, label in enumerate(row_labels) if label != IGNORE_INDEX), len(ids))
        if prompt_length < 1:
            raise ValueError(f"row {row} has no separator token before its target")
        sources.append(ids[: prompt_length - 1])
        tails.append(ids[prompt_length - 1 :])
        tail_labels.append(row_labels[prompt_length - 1 :])
    return sources, tails, tail_labels


class InfixLM(SteeredLM):
    """A frozen causal LM with a trained infix between source and target."""

    def __init__(self, lm, infix: Infix):
        super().__init__(lm)
        self.infix = infix

    @property
    def trainable(self):
        return self.infix

    def stored_values(self) -> int:
        return self.infix.embeddings.numel() + self.infix.additive().numel()

    def _context(self, source_ids, source_mask, repeat: int = 1):
        """Cache and mask of [source; infix], each row repeated `repeat` times (beam search)."""
        rows, length = source_ids.shape[0], self.infix.length
        embed = self.lm.get_input_embeddings()
        infix = self.infix.embeddings.to(self.lm.dtype).unsqueeze(0).expand(rows, -1, -1)
        mask = torch.cat([source_mask, source_mask.new_ones(rows, length)], dim=1)
        embeddings = torch.cat([embed(source_ids), infix], dim=1)
        kv = lm_kv(self.lm, inputs_embeds=embeddings, attention_mask=mask, position_ids=real_token_positions(mask, 0))
        additive = self.infix.additive().to(kv.dtype)  # [layers, 2, H, L, D], on the infix positions only
        zeros = additive.new_zeros(*additive.shape[:3], source_ids.shape[1], additive.shape[-1])
        kv = kv + torch.cat([zeros, additive], dim=-2).unsqueeze(0)
        context = kv.repeat_interleave(repeat, dim=0)
        return prefix_cache(context, rows * repeat, self.lm.dtype), mask

    def forward(self, input_ids, attention_mask, labels=None, reduction: str = "sequence_sum"):
        """A `TargetLoss` on the target tokens or, without labels, logits of the tail (separator onwards), right-padded."""
        sources, tails, tail_labels = split_at_separator(input_ids, attention_mask, labels)
        device = input_ids.device
        source_ids, source_mask = (t.to(device) for t in pad_batch(sources, 0, "left"))
        tail_ids, tail_mask = (t.to(device) for t in pad_batch(tails, 0, "right"))
        cache, context_mask = self._context(source_ids, source_mask)
        source_lengths = source_mask.sum(dim=1, keepdim=True)
        offsets = source_lengths + self.infix.length + torch.arange(tail_ids.shape[1], device=device)
        positions = offsets.masked_fill(tail_mask == 0, 0)
        hidden = self.lm.base_model(
            input_ids=tail_ids, attention_mask=torch.cat([context_mask, tail_mask], dim=1),
            position_ids=positions, cache=cache, use_cache=False,
        ).last_hidden_state  # fmt: skip
        if labels is None:
            return lm_logits(self.lm, hidden)
        tail_labels = pad_batch(tail_labels, IGNORE_INDEX, "right")[0].to(device)
        return shifted_label_loss(self.lm, hidden, tail_labels, reduction)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, **generate_kwargs):
        """`generate` after [source; infix]: left-padded prompts only. Returns only the new tokens."""
        if not bool(attention_mask[:, -1].all()):
            raise ValueError(
                "infix generation needs left-padded prompts (the separator in the last column of every row)"
            )
        beams = generate_kwargs.get("num_beams", 1)
        cache, context_mask = self._context(input_ids[:, :-1], attention_mask[:, :-1], repeat=beams)
        mask = torch.cat([context_mask, attention_mask[:, -1:]], dim=1)
        out = self.lm.generate(input_ids=input_ids[:, -1:], attention_mask=mask, cache=cache, **generate_kwargs)
        return out[:, 1:]


def build(method_cfg, lm, tokenizer) -> InfixLM:
    require_causal_lm(lm, NAME)
    config = prefix_config(method_cfg, tokenizer)
    additive = PrefixEncoder(config, KVGeometry.of(lm.config)).to(lm.device)
    embed = lm.get_input_embeddings()
    if config.init == "words":
        ids = torch.tensor(init_token_ids(tokenizer, config.init_words), device=lm.device)
        embeddings = embed(ids).detach().float().clone()
        with torch.no_grad():  # P = 0: the infix is exactly the words
            zeroed = (
                [additive.mlp[-1].weight, additive.mlp[-1].bias] if additive.mlp is not None else [additive.embedding]
            )
            for tensor in zeroed:
                tensor.zero_()
    else:
        embeddings = torch.randn(config.prefix_length, embed.weight.shape[1], device=lm.device)
    return InfixLM(lm, Infix(embeddings, additive, trainable=True))


def save(model: InfixLM, run_dir: Path, identity: dict):
    """E and P (the MLP discarded)."""
    infix = model.infix
    tensors = {"embeddings": infix.embeddings.detach(), "kv": infix.additive.materialize()}
    save_tensors(Path(run_dir) / INFIX_FILE, tensors, identity, NAME, {"prefix_length": infix.length})


def load(method_cfg, run_dir: Path, lm, identity: dict) -> InfixLM:
    g = KVGeometry.of(lm.config)
    shapes = {"embeddings": (None, g.hidden_size), "kv": (g.n_layers, 2, g.n_kv_heads, None, g.head_dim)}
    tensors = load_tensors(Path(run_dir) / INFIX_FILE, identity, NAME, shapes)
    infix = Infix(tensors["embeddings"].to(lm.device), FixedPrefix(tensors["kv"].to(lm.device)), trainable=False)
    return InfixLM(lm, infix)
