"""Where the prefixes go in each supported encoder-decoder: one entry per layout. BART's serves mBART, Pegasus and
Marian (the same module names; their sinusoidal or learned decoder positions take the same `position_ids`), T5's
serves mT5."""

from collections.abc import Callable
from dataclasses import dataclass

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError


@dataclass(frozen=True)
class Architecture:
    """Where the prefixes go in one architecture's modules, and the prefix shapes it needs."""

    geometries: Callable  # config -> {part: KVGeometry}
    encoder_attention: Callable  # lm -> encoder self-attention modules, by layer
    cross_attention: Callable  # lm -> [(key projection, value projection)] of the cross-attention, by layer
    decoder_positions: Callable  # lm -> the decoder's learned position embedding (None: relative positions)


def _bart_geometries(c) -> dict:
    encoder = KVGeometry(c.encoder_layers, c.encoder_attention_heads, c.d_model // c.encoder_attention_heads, c.d_model)
    decoder = KVGeometry(c.decoder_layers, c.decoder_attention_heads, c.d_model // c.decoder_attention_heads, c.d_model)
    return {"encoder": encoder, "decoder": decoder, "cross": decoder}


def _t5_geometries(c) -> dict:
    encoder = KVGeometry(c.num_layers, c.num_heads, c.d_kv, c.d_model)
    decoder = KVGeometry(c.num_decoder_layers, c.num_heads, c.d_kv, c.d_model)
    return {"encoder": encoder, "decoder": decoder, "cross": decoder}


_BART_LAYOUT = Architecture(
    geometries=_bart_geometries,
    encoder_attention=lambda lm: [layer.self_attn for layer in lm.model.encoder.layers],
    cross_attention=lambda lm: [(d.encoder_attn.k_proj, d.encoder_attn.v_proj) for d in lm.model.decoder.layers],
    decoder_positions=lambda lm: lm.model.decoder.embed_positions,
)
_T5_LAYOUT = Architecture(
    geometries=_t5_geometries,
    encoder_attention=lambda lm: [block.layer[0].SelfAttention for block in lm.encoder.block],
    cross_attention=lambda lm: [(b.layer[1].EncDecAttention.k, b.layer[1].EncDecAttention.v) for b in lm.decoder.block],
    decoder_positions=lambda lm: None,
)
ARCHITECTURES = {"bart": _BART_LAYOUT, "mbart": _BART_LAYOUT, "pegasus": _BART_LAYOUT, "marian": _BART_LAYOUT,
                 "t5": _T5_LAYOUT, "mt5": _T5_LAYOUT}  # fmt: skip


def architecture(config) -> Architecture:
    if config.model_type not in ARCHITECTURES:
        raise UserError(f"encoder-decoder prefix-tuning supports {', '.join(ARCHITECTURES)}, not {config.model_type!r}")
    return ARCHITECTURES[config.model_type]


def seq2seq_geometries(config) -> dict[str, KVGeometry]:
    """Prefix shapes of the three parts: encoder self-attention, decoder self-attention, cross-attention."""
    return architecture(config).geometries(config)
