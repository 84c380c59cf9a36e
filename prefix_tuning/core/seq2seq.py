"""Where the prefixes enter an encoder-decoder (BART, T5): three prefixes, one per kind of attention.

Paper section 4 (encoder-decoder): the encoder self-attention, the decoder self-attention and the
decoder cross-attention each get their own L prefix keys/values per layer, from their own
embedding + MLP (`Seq2SeqPrefix`). Each enters through an attention module's `cache` argument,
the one place where BART and T5 attention take keys/values from outside:

- Encoder self-attention: the encoder stack never passes a cache (T5 drops it explicitly), so a
  forward pre-hook on every encoder self-attention module (`ARCHITECTURES[...].encoder_attention`)
  turns the keyword `encoder_prefix=` (which the stacks pass down in their **kwargs) into
  `cache=`: a read-only cache holding only the prefix. The attention then sees [prefix; source].
- Decoder self-attention: the self-attention half of an `EncoderDecoderCache` holds the prefix,
  so decoder tokens see it as L earlier tokens (positions start at L, in training and generation).
- Decoder cross-attention: the cross-attention half holds [prefix; encoder keys/values], which the
  decoder reads and never recomputes; `ARCHITECTURES[...].cross_attention` names the projections.
- The source mask is extended with L ones once: it serves the encoder self-attention and, as the
  encoder attention mask, the cross-attention.

A forward pass uses read-only caches (`PrefixLayer` stores nothing), so recomputing a layer
(gradient checkpointing of the frozen model) sees exactly the same keys/values; generation uses
growing `DynamicCache`s laid out for batch x beams rows. Sources are right-padded: BART's encoder
positions ignore the mask, so left padding would shift them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import Cache, DynamicCache, EncoderDecoderCache
from transformers.cache_utils import DynamicLayer

from prefix_tuning.core.causal import with_prefix_mask
from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.core.prefix_config import PrefixConfig
from prefix_tuning.core.prefix_encoder import FixedPrefix, PrefixEncoder
from prefix_tuning.core.steered_lm import SteeredLM
from prefix_tuning.errors import UserError
from prefix_tuning.training.label_loss import aligned_label_loss

PARTS = ("encoder", "decoder", "cross")  # encoder self-attention, decoder self-attention, cross-attention
ENCODER_PREFIX_KWARG = "encoder_prefix"


@dataclass(frozen=True)
class Architecture:
    """Where the prefixes go in one architecture's modules, and the prefix shapes it needs."""

    geometries: Callable  # config -> {part: KVGeometry}
    encoder_attention: Callable  # lm -> encoder self-attention modules, by layer
    cross_attention: Callable  # lm -> [(key projection, value projection)] of the cross-attention, by layer


def _bart_geometries(c) -> dict:
    encoder = KVGeometry(c.encoder_layers, c.encoder_attention_heads, c.d_model // c.encoder_attention_heads, c.d_model)
    decoder = KVGeometry(c.decoder_layers, c.decoder_attention_heads, c.d_model // c.decoder_attention_heads, c.d_model)
    return {"encoder": encoder, "decoder": decoder, "cross": decoder}


def _t5_geometries(c) -> dict:
    encoder = KVGeometry(c.num_layers, c.num_heads, c.d_kv, c.d_model)
    decoder = KVGeometry(c.num_decoder_layers, c.num_heads, c.d_kv, c.d_model)
    return {"encoder": encoder, "decoder": decoder, "cross": decoder}


ARCHITECTURES = {
    "bart": Architecture(
        geometries=_bart_geometries,
        encoder_attention=lambda lm: [layer.self_attn for layer in lm.model.encoder.layers],
        cross_attention=lambda lm: [(d.encoder_attn.k_proj, d.encoder_attn.v_proj) for d in lm.model.decoder.layers],
    ),
    "t5": Architecture(
        geometries=_t5_geometries,
        encoder_attention=lambda lm: [block.layer[0].SelfAttention for block in lm.encoder.block],
        cross_attention=lambda lm: [
            (b.layer[1].EncDecAttention.k, b.layer[1].EncDecAttention.v) for b in lm.decoder.block
        ],
    ),
}


def architecture(config) -> Architecture:
    if config.model_type not in ARCHITECTURES:
        raise UserError(f"encoder-decoder prefix-tuning supports {', '.join(ARCHITECTURES)}, not {config.model_type!r}")
    return ARCHITECTURES[config.model_type]


def seq2seq_geometries(config) -> dict[str, KVGeometry]:
    """Prefix shapes of the three parts: encoder self-attention, decoder self-attention, cross-attention."""
    return architecture(config).geometries(config)


class Seq2SeqPrefix(nn.Module):
    """The three prefixes; each part is a trainable `PrefixEncoder` or a loaded `FixedPrefix`."""

    def __init__(self, parts: dict[str, nn.Module], config: PrefixConfig | None = None):
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.config = config

    @classmethod
    def trainable(cls, config: PrefixConfig, geometries: dict[str, KVGeometry]) -> "Seq2SeqPrefix":
        """Three independent embeddings + MLPs sharing one `PrefixConfig`."""
        return cls({part: PrefixEncoder(config, geometries[part]) for part in PARTS}, config)

    @classmethod
    def fixed(cls, kvs: dict[str, torch.Tensor]) -> "Seq2SeqPrefix":
        return cls({part: FixedPrefix(kvs[part]) for part in PARTS})

    def forward(self) -> dict[str, torch.Tensor]:
        """{part: [layers, 2, heads, L, head_dim]}."""
        return {part: module() for part, module in self.parts.items()}

    @torch.no_grad()
    def materialize(self) -> dict[str, torch.Tensor]:
        """The final P of each part (MLPs applied, no dropout): what gets saved."""
        return {part: module.materialize() for part, module in self.parts.items()}


class PrefixLayer(DynamicLayer):
    """A cache layer that holds a prefix and stores nothing: `update` returns [prefix; new]."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.lazy_initialization(keys, values)
        self.keys, self.values = keys, values

    def update(self, key_states, value_states, *args, **kwargs):
        return torch.cat([self.keys, key_states], dim=-2), torch.cat([self.values, value_states], dim=-2)


def per_layer(kv: torch.Tensor, rows: int, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[layers, 2, H, L, D] (shared by all rows) or [rows, layers, 2, H, L, D] -> per layer ([rows, H, L, D],) * 2."""
    kv = kv.to(dtype)
    if kv.dim() == 5:
        kv = kv.unsqueeze(0).expand(rows, *kv.shape)
    return [(kv[:, i, 0], kv[:, i, 1]) for i in range(kv.shape[1])]


def make_cache(kv: torch.Tensor, rows: int, dtype: torch.dtype, read_only: bool) -> Cache:
    """A cache pre-filled with `kv`: read-only (a forward pass) or growing (generation)."""
    layers = per_layer(kv, rows, dtype)
    if read_only:
        return Cache(layers=[PrefixLayer(k, v) for k, v in layers])
    return DynamicCache(ddp_cache_data=layers)


def _use_encoder_prefix(module, args, kwargs):
    """Forward pre-hook of an encoder self-attention module: `encoder_prefix=` becomes its `cache=`."""
    prefix = kwargs.pop(ENCODER_PREFIX_KWARG, None)
    if prefix is not None:
        kwargs["cache"] = prefix
    return args, kwargs


def install_encoder_seam(lm):
    """Hook every encoder self-attention module of `lm` (once per model)."""
    if getattr(lm, "_prefix_tuning_encoder_seam", False):
        return
    for module in architecture(lm.config).encoder_attention(lm):
        module.register_forward_pre_hook(_use_encoder_prefix, with_kwargs=True)
    lm._prefix_tuning_encoder_seam = True


def cross_attention_kv(lm, encoder_hidden: torch.Tensor, geometry: KVGeometry) -> torch.Tensor:
    """The cross-attention keys/values of the encoder output in every decoder layer, [B, layers, 2, H, S, D]."""
    batch, length, _ = encoder_hidden.shape

    def heads(projection):
        return projection(encoder_hidden).view(batch, length, geometry.n_kv_heads, geometry.head_dim).transpose(1, 2)

    layers = [torch.stack([heads(k), heads(v)], dim=1) for k, v in architecture(lm.config).cross_attention(lm)]
    return torch.stack(layers, dim=1)


def _encode(lm, input_ids, attention_mask, kvs):
    """Encoder output (with the encoder prefix) and the source mask extended for the prefix."""
    if kvs is None:
        return lm.get_encoder()(input_ids=input_ids, attention_mask=attention_mask), attention_mask
    length = kvs["encoder"].shape[-2]
    mask = with_prefix_mask(attention_mask, length)
    prefix = make_cache(kvs["encoder"], input_ids.shape[0], lm.dtype, read_only=True)
    encoded = lm.get_encoder()(input_ids=input_ids, attention_mask=mask, **{ENCODER_PREFIX_KWARG: prefix})
    return encoded, mask


def _decoder_cache(lm, kvs, encoder_hidden, beams: int, read_only: bool) -> EncoderDecoderCache:
    """Decoder self-attention: the prefix; cross-attention: [prefix; encoder keys/values]; batch x beams rows."""
    rows = encoder_hidden.shape[0] * beams
    geometry = seq2seq_geometries(lm.config)["cross"]
    encoder_kv = cross_attention_kv(lm, encoder_hidden, geometry).repeat_interleave(beams, dim=0)
    prefix = kvs["cross"].to(encoder_kv.dtype).unsqueeze(0).expand(rows, -1, -1, -1, -1, -1)
    cross = torch.cat([prefix, encoder_kv], dim=-2)
    return EncoderDecoderCache(
        make_cache(kvs["decoder"], rows, lm.dtype, read_only), make_cache(cross, rows, lm.dtype, read_only)
    )


def seq2seq_forward(lm, input_ids, attention_mask, kvs, labels=None, reduction="sequence_sum", decoder_input_ids=None):
    """A `TargetLoss` on the target tokens (labels == -100 on padding) or, without labels, logits for
    `decoder_input_ids`. `kvs`: {part: P} or None (the plain model)."""
    install_encoder_seam(lm)
    encoded, mask = _encode(lm, input_ids, attention_mask, kvs)
    if decoder_input_ids is None:
        decoder_input_ids = lm.prepare_decoder_input_ids_from_labels(labels=labels)
    cache = None if kvs is None else _decoder_cache(lm, kvs, encoded.last_hidden_state, 1, read_only=True)
    logits = lm(
        encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder_input_ids, cache=cache, use_cache=False
    ).logits
    if labels is None:
        return logits
    return aligned_label_loss(logits, labels, reduction)


@torch.no_grad()
def seq2seq_generate(lm, input_ids, attention_mask, kvs, **generate_kwargs):
    """`generate` with the three prefixes (None: none); beam search and right-padded batches work.

    Returns only the generated decoder tokens (no decoder start token), [batch * num_return_sequences, new].
    """
    install_encoder_seam(lm)
    encoded, mask = _encode(lm, input_ids, attention_mask, kvs)
    beams = generate_kwargs.get("num_beams", 1)
    # The encoder ran above (with its prefix); generate expands its output and the mask to batch x beams.
    cache = None if kvs is None else _decoder_cache(lm, kvs, encoded.last_hidden_state, beams, read_only=False)
    out = lm.generate(input_ids=input_ids, attention_mask=mask, encoder_outputs=encoded, cache=cache, **generate_kwargs)
    return out[:, 1:]


class Seq2SeqPrefixLM(SteeredLM):
    """A frozen encoder-decoder steered by three prefixes; the same interface as `PrefixLM`.

    `input_ids`/`attention_mask` are the source (encoder, right-padded); `labels` the target, from
    which the decoder inputs are shifted as the model itself does. `prefix=None` is the plain model.
    """

    def __init__(self, lm: nn.Module, prefix: Seq2SeqPrefix | None):
        super().__init__(lm)
        self.prefix = prefix
        install_encoder_seam(lm)

    @property
    def trainable(self):
        return self.prefix

    def stored_values(self) -> int:
        """Numbers kept after training: the three P tensors (MLPs discarded)."""
        return 0 if self.prefix is None else sum(kv.numel() for kv in self.prefix().values())

    def forward(self, input_ids, attention_mask, labels=None, reduction: str = "sequence_sum", decoder_input_ids=None):
        kvs = None if self.prefix is None else self.prefix()
        return seq2seq_forward(self.lm, input_ids, attention_mask, kvs, labels, reduction, decoder_input_ids)

    def generate(self, input_ids, attention_mask, **generate_kwargs):
        kvs = None if self.prefix is None else self.prefix()
        return seq2seq_generate(self.lm, input_ids, attention_mask, kvs, **generate_kwargs)
