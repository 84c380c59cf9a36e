"""Infix-tuning ablation (paper section 7.3): `[x; INFIX; y]`, trained per-layer keys/values between source and target.

For a causal LM the infix is placed between the source tokens and the separator token that ends the
prompt (` {source}` INFIX `<eos>` `{target} <eos>`): the first target token must be predicted by a real
token's hidden state, and the separator is that token, as in the original code where the target segment
starts with the separator. The source never sees the infix (it comes later), so:

1. the source is run alone, left-padded (no gradient: nothing in it depends on the infix);
2. its keys/values are followed by the infix's L keys/values in one cache, mask `[source mask | L ones]`;
3. the tail (separator, target) runs on that cache, right-padded, at positions n + L, n + L + 1, ...
   where n is the row's source length (what the same tokens would have as real tokens after x and L infix tokens).

Generation needs left-padded prompts (as `decode` builds them): every row's separator is then the last
column, and `generate` continues from step 3. Right-padded prompts are refused with a clear error.
"""

from pathlib import Path

import torch

from prefix_tuning.core.activations import lm_kv
from prefix_tuning.core.causal import PrefixLM, prefix_cache, real_token_positions
from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.core.prefix_config import PrefixConfig
from prefix_tuning.core.prefix_encoder import FixedPrefix
from prefix_tuning.methods.options import options, require_causal_lm
from prefix_tuning.methods.prefix import build_encoder
from prefix_tuning.tensor_files import load_module, save_module
from prefix_tuning.training.batching import pad_batch
from prefix_tuning.training.label_loss import IGNORE_INDEX, shifted_label_loss

NAME = "infix"
INFIX_FILE = "infix.safetensors"


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


class InfixLM(PrefixLM):
    """A frozen causal LM with a trained infix (`prefix`: the same module type as a prefix, PrefixEncoder or FixedPrefix).

    A prefix model whose keys/values go elsewhere: it keeps `PrefixLM`'s module, `trainable` and `stored_values`.
    """

    def _context(self, source_ids, source_mask, kv, repeat: int = 1):
        """Cache and mask of [source; infix], each row repeated `repeat` times (beam search)."""
        rows, length = source_ids.shape[0], kv.shape[-2]
        infix = kv.unsqueeze(0).expand(rows, *kv.shape) if kv.dim() == 5 else kv
        if source_ids.shape[1] > 0:
            with torch.no_grad():
                source_kv = lm_kv(
                    self.lm,
                    input_ids=source_ids,
                    attention_mask=source_mask,
                    position_ids=real_token_positions(source_mask, 0),
                )
            infix = torch.cat([source_kv.to(infix.dtype), infix], dim=-2)
        mask = torch.cat([source_mask, source_mask.new_ones(rows, length)], dim=1)
        context = infix.repeat_interleave(repeat, dim=0)
        return prefix_cache(context, rows * repeat, self.lm.dtype), mask

    def forward(self, input_ids, attention_mask, labels=None, reduction: str = "sequence_sum", kv=None):
        """Loss on the target tokens or, without labels, logits of the tail (separator onwards), right-padded."""
        kv = self.prefix_kv() if kv is None else kv
        sources, tails, tail_labels = split_at_separator(input_ids, attention_mask, labels)
        device = input_ids.device
        source_ids, source_mask = (t.to(device) for t in pad_batch(sources, 0, "left"))
        tail_ids, tail_mask = (t.to(device) for t in pad_batch(tails, 0, "right"))
        cache, context_mask = self._context(source_ids, source_mask, kv)
        source_lengths = source_mask.sum(dim=1, keepdim=True)
        positions = (source_lengths + kv.shape[-2] + torch.arange(tail_ids.shape[1], device=device)).masked_fill(
            tail_mask == 0, 0
        )
        hidden = self.lm.base_model(
            input_ids=tail_ids,
            attention_mask=torch.cat([context_mask, tail_mask], dim=1),
            position_ids=positions,
            cache=cache,
            use_cache=False,
        ).last_hidden_state
        if labels is None:
            return self.lm.get_output_embeddings()(hidden)
        tail_labels = pad_batch(tail_labels, IGNORE_INDEX, "right")[0].to(device)
        return shifted_label_loss(self.lm, hidden, tail_labels, reduction)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, kv=None, **generate_kwargs):
        """`generate` after [source; infix]: left-padded prompts only. Returns only the new tokens."""
        if not bool(attention_mask[:, -1].all()):
            raise ValueError(
                "infix generation needs left-padded prompts (the separator in the last column of every row)"
            )
        kv = self.prefix_kv() if kv is None else kv
        beams = generate_kwargs.get("num_beams", 1)
        cache, context_mask = self._context(input_ids[:, :-1], attention_mask[:, :-1], kv, repeat=beams)
        out = self.lm.generate(
            input_ids=input_ids[:, -1:],
            attention_mask=torch.cat([context_mask, attention_mask[:, -1:]], dim=1),
            cache=cache,
            **generate_kwargs,
        )
        return out[:, 1:]


def build(method_cfg, lm, tokenizer) -> InfixLM:
    require_causal_lm(lm, NAME)
    # The same trainable module as a prefix (options, MLP reparametrization, init); only its place differs.
    return InfixLM(lm, build_encoder(method_cfg, lm, tokenizer))


def save(model: InfixLM, run_dir: Path, identity: dict):
    """Only P (the MLP discarded), as for a prefix."""
    save_module(
        FixedPrefix(model.prefix.materialize()),
        Path(run_dir) / INFIX_FILE,
        identity,
        NAME,
        {"infix": model.prefix.config.to_dict()},
    )


def load(method_cfg, run_dir: Path, lm, identity: dict) -> InfixLM:
    config, g = PrefixConfig.from_mapping(options(method_cfg)), KVGeometry.of(lm.config)
    infix = FixedPrefix(torch.zeros(g.n_layers, 2, g.n_kv_heads, config.prefix_length, g.head_dim, device=lm.device))
    load_module(infix, Path(run_dir) / INFIX_FILE, identity, NAME)
    return InfixLM(lm, infix)
