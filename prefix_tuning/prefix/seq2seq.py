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
  so decoder tokens attend to it as L earlier tokens. Their learned positions still start at 0, as
  in the original code (BART counts positions from the cache length, so a pre-hook on the decoder's
  position embedding, `ARCHITECTURES[...].decoder_positions`, takes the prefix length off again).
- Decoder cross-attention: the cross-attention half holds [prefix; encoder keys/values], which the
  decoder reads and never recomputes; `ARCHITECTURES[...].cross_attention` names the projections.
- The source mask is extended with L ones once: it serves the encoder self-attention and, as the
  encoder attention mask, the cross-attention.

A forward pass uses read-only caches (`PrefixLayer` stores nothing), so recomputing a layer
(gradient checkpointing of the frozen model) sees exactly the same keys/values; generation uses
growing `DynamicCache`s laid out for batch x beams rows. A prefix is one for the batch
([layers, 2, H, L, D] per part) or one per row ([batch, layers, 2, H, L, D]: mixed tasks in a batch).
Sources are right-padded: BART's encoder positions ignore the mask, so left padding would shift them.
"""

import contextlib

import torch
from torch import nn
from transformers import Cache, DynamicCache, EncoderDecoderCache
from transformers.cache_utils import DynamicLayer

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.core.label_loss import aligned_label_loss
from prefix_tuning.core.steered_lm import SteeredLM
from prefix_tuning.prefix.causal import with_prefix_mask
from prefix_tuning.prefix.config import PrefixConfig
from prefix_tuning.prefix.encoder import FixedPrefix, PrefixEncoder
from prefix_tuning.prefix.seq2seq_layouts import architecture, seq2seq_geometries

PARTS = ("encoder", "decoder", "cross")  # encoder self-attention, decoder self-attention, cross-attention
ENCODER_PREFIX_KWARG = "encoder_prefix"


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


def rows_of(kv: torch.Tensor, batch: int, beams: int = 1) -> torch.Tensor:
    """[layers, 2, H, L, D] (shared) or [batch, layers, 2, H, L, D] (per row) -> [batch * beams, layers, 2, H, L, D]."""
    if kv.dim() == 5:
        return kv.unsqueeze(0).expand(batch * beams, *kv.shape)
    if kv.shape[0] != batch:
        raise ValueError(f"per-row prefix has {kv.shape[0]} rows for a batch of {batch}")
    return kv.repeat_interleave(beams, dim=0) if beams > 1 else kv


def make_cache(kv: torch.Tensor, rows: int, dtype: torch.dtype, read_only: bool) -> Cache:
    """A cache pre-filled with `kv` [rows, layers, 2, H, L, D] (or shared): read-only (a forward pass) or growing (generation)."""
    kv = rows_of(kv, rows).to(dtype)
    layers = [(kv[:, i, 0], kv[:, i, 1]) for i in range(kv.shape[1])]
    if read_only:
        return Cache(layers=[PrefixLayer(k, v) for k, v in layers])
    return DynamicCache(ddp_cache_data=layers)


def _use_encoder_prefix(module, args, kwargs):
    """Forward pre-hook of an encoder self-attention module: `encoder_prefix=` becomes its `cache=`."""
    prefix = kwargs.pop(ENCODER_PREFIX_KWARG, None)
    if prefix is not None:
        kwargs["cache"] = prefix
    return args, kwargs


def _unshift_positions(module, args, kwargs):
    """Forward pre-hook of the decoder's position embedding: positions count from 0 under a prefix."""
    shift = getattr(module, "_prefix_tuning_shift", 0)
    if shift and kwargs.get("position_ids") is not None:
        kwargs["position_ids"] = kwargs["position_ids"] - shift
    return args, kwargs


def install_seams(lm):
    """Hook every encoder self-attention module and the decoder's position embedding of `lm` (once per model)."""
    if getattr(lm, "_prefix_tuning_seams", False):
        return
    arch = architecture(lm.config)
    for index, module in enumerate(arch.encoder_attention(lm)):
        module.register_forward_pre_hook(_use_encoder_prefix, with_kwargs=True)
        if getattr(module, "layer_idx", 0) is None:  # mBART, Pegasus, Marian: encoder layers are built unnumbered
            module.layer_idx = index  # (their encoders never pass a cache; the prefix's needs the layer)
    if (positions := arch.decoder_positions(lm)) is not None:
        positions.register_forward_pre_hook(_unshift_positions, with_kwargs=True)
    lm._prefix_tuning_seams = True


@contextlib.contextmanager
def decoder_positions_from_zero(lm, prefix_length: int):
    """While active, the decoder's learned positions ignore the `prefix_length` cached prefix positions."""
    positions = architecture(lm.config).decoder_positions(lm)
    if positions is None or not prefix_length:
        yield
        return
    positions._prefix_tuning_shift = prefix_length
    try:
        yield
    finally:
        positions._prefix_tuning_shift = 0


def cross_attention_kv(lm, encoder_hidden: torch.Tensor) -> torch.Tensor:
    """The cross-attention keys/values of the encoder output in every decoder layer, [B, layers, 2, H, S, D]."""
    geometry = seq2seq_geometries(lm.config)["cross"]
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
    batch = encoder_hidden.shape[0]
    encoder_kv = cross_attention_kv(lm, encoder_hidden).repeat_interleave(beams, dim=0)
    cross = torch.cat([rows_of(kvs["cross"], batch, beams).to(encoder_kv.dtype), encoder_kv], dim=-2)
    decoder = rows_of(kvs["decoder"], batch, beams)
    rows = batch * beams
    return EncoderDecoderCache(
        make_cache(decoder, rows, lm.dtype, read_only), make_cache(cross, rows, lm.dtype, read_only)
    )


def seq2seq_forward(lm, input_ids, attention_mask, kvs, labels=None, reduction="sequence_sum", decoder_input_ids=None):
    """A `TargetLoss` on the target tokens (labels == -100 on padding) or, without labels, logits for
    `decoder_input_ids`. `kvs`: {part: P} or None (the plain model)."""
    install_seams(lm)
    encoded, mask = _encode(lm, input_ids, attention_mask, kvs)
    if decoder_input_ids is None:
        decoder_input_ids = lm.prepare_decoder_input_ids_from_labels(labels=labels)
    cache = None if kvs is None else _decoder_cache(lm, kvs, encoded.last_hidden_state, 1, read_only=True)
    with decoder_positions_from_zero(lm, 0 if kvs is None else kvs["decoder"].shape[-2]):
        logits = lm(
            encoder_outputs=encoded,
            attention_mask=mask,
            decoder_input_ids=decoder_input_ids,
            cache=cache,
            use_cache=False,
        ).logits
    if labels is None:
        return logits
    return aligned_label_loss(logits, labels, reduction)


@torch.no_grad()
def seq2seq_generate(lm, input_ids, attention_mask, kvs, **generate_kwargs):
    """`generate` with the three prefixes (None: none); beam search and right-padded batches work.

    Returns only the generated decoder tokens (no decoder start token), [batch * num_return_sequences, new].
    """
    install_seams(lm)
    encoded, mask = _encode(lm, input_ids, attention_mask, kvs)
    beams = generate_kwargs.get("num_beams", 1)
    # The encoder ran above (with its prefix); generate expands its output and the mask to batch x beams.
    cache = None if kvs is None else _decoder_cache(lm, kvs, encoded.last_hidden_state, beams, read_only=False)
    with decoder_positions_from_zero(lm, 0 if kvs is None else kvs["decoder"].shape[-2]):
        out = lm.generate(
            input_ids=input_ids, attention_mask=mask, encoder_outputs=encoded, cache=cache, **generate_kwargs
        )
    return out[:, 1:]


@torch.no_grad()
def seq2seq_token_kv(lm, ids: list[int]) -> dict[str, torch.Tensor]:
    """What each of the three prefixes sees of real tokens `ids` (word init): the encoder self-attention
    keys/values of the encoder reading them, the decoder self-attention keys/values of the decoder
    reading them (positions from 0), and the cross-attention keys/values of their encoder output.
    {part: [layers, 2, H, len(ids), D]}."""
    install_seams(lm)
    tokens = torch.tensor([ids], device=lm.device)
    recorder = DynamicCache()  # the encoder seam hands it to every encoder layer, which appends its keys/values
    encoded = lm.get_encoder()(input_ids=tokens, **{ENCODER_PREFIX_KWARG: recorder})
    decoder = lm(encoder_outputs=encoded, decoder_input_ids=tokens, use_cache=True).cache.self_attention_cache
    stack = lambda cache: torch.stack([torch.stack([layer.keys, layer.values], dim=1) for layer in cache.layers], dim=1)  # noqa: E731
    return {
        "encoder": stack(recorder)[0],
        "decoder": stack(decoder)[0],
        "cross": cross_attention_kv(lm, encoded.last_hidden_state)[0],
    }


class Seq2SeqPrefixLM(SteeredLM):
    """A frozen encoder-decoder steered by three prefixes; the same interface as `PrefixLM`.

    `input_ids`/`attention_mask` are the source (encoder, right-padded); `labels` the target, from
    which the decoder inputs are shifted as the model itself does. `prefix=None` is the plain model.
    The LM's weights are frozen but its own dropout stays on while the prefix trains, as in the
    original code (BART is a train-mode submodule there).
    """

    lm_dropout_in_training = True

    def __init__(self, lm: nn.Module, prefix: Seq2SeqPrefix | None):
        super().__init__(lm)
        self.prefix = prefix
        install_seams(lm)

    @property
    def trainable(self):
        return self.prefix

    def stored_values(self) -> int:
        """Numbers kept after training: the three P tensors (MLPs discarded)."""
        return 0 if self.prefix is None else sum(kv.numel() for kv in self.prefix().values())

    def forward(self, input_ids, attention_mask, labels=None, reduction: str = "sequence_sum", decoder_input_ids=None):
        kvs = None if self.prefix is None else self.prefix()
        return seq2seq_forward(self.lm, input_ids, attention_mask, kvs, labels, reduction, decoder_input_ids)

    def generate(self, input_ids, attention_mask, kvs=None, **generate_kwargs):
        """`kvs` overrides the prefixes ({part: [B, layers, 2, H, L, D]}: one set per row)."""
        kvs = kvs if kvs is not None else (None if self.prefix is None else self.prefix())
        return seq2seq_generate(self.lm, input_ids, attention_mask, kvs, **generate_kwargs)
