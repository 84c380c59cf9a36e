"""The model families a prefix can steer, in one table: how a prefix enters each, and which of our fused paths
(packed training attention, the beam engine) are proven equal to Hugging Face's own for it.

Decoder-only: the prefix is a key/value cache of L positions handed to the LM (`prefix/causal.py`); every layer's
keys and values per kv-head (grouped or multi-query heads: the cache has the model's kv-heads, as its own cache
would), real tokens at positions L, L+1, ... (rotary, partial rotary, learned or ALiBi positions all count the
prefix as L earlier tokens, as PEFT's prefix tuning does); the attention mask is extended with L ones. A sliding
window counts the prefix as the first L tokens of the sequence, so a token further than the window from the start
no longer sees it (Hugging Face's masks decide this the same way in training and generation; PEFT, which also
hands the prefix in as past keys/values, sees it alike). Logit soft-capping, q/k norms, NoPE layers, parallel
attention/MLP and mixture-of-experts MLPs are the model's own code, run unchanged. The LM head's output is the
model's: its `logit_scale` (Cohere) and final soft-capping (Gemma 2/3) are applied (`core/lm_head.py`).
Encoder-decoder: three prefixes, encoder self-attention, decoder self-attention and cross-attention
(`prefix/seq2seq.py`, `prefix/seq2seq_layouts.py`).

`fused_training` / `fused_decoding`: our packed attention (`prefix/packing.py`) and beam engine
(`generation/beam_engine.py`) compute attention themselves; a family gets them only where
tests/lm/test_families.py proves them equal to Hugging Face's path, and then only while the sequence fits any
sliding window (`fits_window`). Elsewhere training runs padded batches and decoding `generate`, both through the
model's own attention: slower, never different. A family not listed is refused with one line naming the ones
that are.
"""

from dataclasses import dataclass, field

from prefix_tuning.errors import UserError

H, FFN, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 64, 128, 2, 4, 2, 16  # the tiny configs' sizes
# Their special features are set strong enough to show in a random model's small activations: soft-caps of 0.1
# (a cap of 30 never bites there), sliding windows of 8 tokens (a prefix and an E2E input cross them).
_DECODER = dict(hidden_size=H, intermediate_size=FFN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                num_key_value_heads=KV_HEADS, max_position_embeddings=512)  # fmt: skip


@dataclass(frozen=True)
class Family:
    name: str  # as users know it
    model_types: tuple[str, ...]  # Hugging Face config.model_type values
    kind: str  # causal | seq2seq
    config_class: str  # the transformers config class of its tiny test model
    tiny: dict = field(default_factory=dict)  # that config's sizes (a random model of seconds)
    fused_training: bool = False
    fused_decoding: bool = False
    features: str = ""  # what is special about its attention, for the README table

    def fits_window(self, config, span: int) -> bool:
        """Whether `span` tokens (prefix included) fit every sliding window the config uses (our fused paths
        implement none: they run only where a window cannot bite)."""
        window = getattr(config, "sliding_window", None)
        if not window or getattr(config, "use_sliding_window", True) is False:
            return True
        return span <= window


def _causal(name, types, cls, tiny, training=True, decoding=True, features=""):
    return Family(name, types, "causal", cls, tiny, training, decoding, features)


def _seq2seq(name, types, cls, tiny, features=""):
    return Family(name, types, "seq2seq", cls, tiny, False, False, features)


_BART = dict(d_model=H, encoder_layers=LAYERS, decoder_layers=LAYERS, encoder_attention_heads=HEADS,
             decoder_attention_heads=HEADS, encoder_ffn_dim=FFN, decoder_ffn_dim=FFN, max_position_embeddings=512)  # fmt: skip
_T5 = dict(d_model=H, d_kv=HEAD_DIM, d_ff=FFN, num_layers=LAYERS, num_decoder_layers=LAYERS, num_heads=HEADS)
_GPT2 = dict(n_embd=H, n_layer=LAYERS, n_head=HEADS, n_positions=512)

FAMILIES = [
    _causal("GPT-2", ("gpt2",), "GPT2Config", _GPT2, features="learned positions"),
    _causal("GPT-BigCode", ("gpt_bigcode",), "GPTBigCodeConfig", {**_GPT2, "multi_query": True},
            features="multi-query attention (1 kv-head)"),
    _causal("GPT-J", ("gptj",), "GPTJConfig", {**_GPT2, "rotary_dim": 8},
            features="partial rotary, parallel attention/MLP"),
    _causal("GPT-NeoX", ("gpt_neox",), "GPTNeoXConfig",
            {k: v for k, v in _DECODER.items() if k != "num_key_value_heads"} | {"rotary_pct": 0.25},
            features="partial rotary, parallel attention/MLP"),
    _causal("OPT", ("opt",), "OPTConfig", {"hidden_size": H, "ffn_dim": FFN, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "max_position_embeddings": 512, "word_embed_proj_dim": H},
            features="learned positions with an offset of 2"),
    _causal("BLOOM", ("bloom",), "BloomConfig", {"hidden_size": H, "n_layer": LAYERS, "n_head": HEADS},
            training=False, decoding=False, features="ALiBi (biases over the prefix keys too): model's own attention"),
    _causal("Falcon", ("falcon",), "FalconConfig", {"hidden_size": H, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "num_kv_heads": KV_HEADS, "new_decoder_architecture": True, "alibi": False},
            training=False, decoding=False, features="grouped/multi-query heads, optional ALiBi: model's own attention"),
    _causal("Llama", ("llama",), "LlamaConfig", _DECODER, features="rotary, grouped-query attention"),
    _causal("Mistral", ("mistral",), "MistralConfig", {**_DECODER, "sliding_window": 8},
            features="sliding window (fused paths while the sequence fits it)"),
    _causal("Mixtral", ("mixtral",), "MixtralConfig", {**_DECODER, "num_local_experts": 4, "num_experts_per_tok": 2,
            "sliding_window": None}, features="mixture-of-experts MLP"),
    _causal("Qwen2", ("qwen2",), "Qwen2Config", _DECODER, features="q/k/v biases, optional sliding window"),
    _causal("Qwen2-MoE", ("qwen2_moe",), "Qwen2MoeConfig", {**_DECODER, "num_experts": 4, "num_experts_per_tok": 2,
            "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64}, features="mixture-of-experts MLP"),
    _causal("Qwen3", ("qwen3",), "Qwen3Config", {**_DECODER, "head_dim": HEAD_DIM}, features="q/k norms"),
    _causal("Qwen3-MoE", ("qwen3_moe",), "Qwen3MoeConfig", {**_DECODER, "head_dim": HEAD_DIM, "num_experts": 4,
            "num_experts_per_tok": 2, "moe_intermediate_size": 32}, features="q/k norms, mixture-of-experts MLP"),
    _causal("Gemma", ("gemma",), "GemmaConfig", {**_DECODER, "head_dim": HEAD_DIM}, features="scaled embeddings"),
    _causal("Gemma 2", ("gemma2",), "Gemma2Config", {**_DECODER, "head_dim": HEAD_DIM, "sliding_window": 8,
            "attn_logit_softcapping": 0.1, "final_logit_softcapping": 0.1}, training=False, decoding=False,
            features="attention soft-capping, local/global sliding windows, final soft-capping: model's own attention"),
    _causal("Gemma 3 (text)", ("gemma3_text",), "Gemma3TextConfig", {**_DECODER, "head_dim": HEAD_DIM,
            "sliding_window": 8, "final_logit_softcapping": 0.1}, training=False, decoding=False,
            features="q/k norms, local/global sliding windows: model's own attention"),
    _causal("Phi", ("phi",), "PhiConfig", {**_DECODER, "partial_rotary_factor": 0.5},
            features="partial rotary, parallel attention/MLP"),
    _causal("Phi-3", ("phi3",), "Phi3Config", {**_DECODER, "pad_token_id": 0}, features="fused qkv projection"),
    _causal("StableLM", ("stablelm",), "StableLmConfig", {**_DECODER, "partial_rotary_factor": 0.25},
            training=False, features="partial rotary, optional q/k norms: model's own attention in training"),
    _causal("OLMo 2", ("olmo2",), "Olmo2Config", _DECODER, features="q/k norms"),
    _causal("Cohere", ("cohere",), "CohereConfig", {**_DECODER, "logit_scale": 0.5},
            features="parallel attention/MLP, scaled logits"),
    _causal("SmolLM3", ("smollm3",), "SmolLM3Config", {**_DECODER, "no_rope_layer_interval": 2},
            features="NoPE layers (every 2nd here)"),
    _seq2seq("BART", ("bart",), "BartConfig", _BART, features="learned positions"),
    _seq2seq("mBART", ("mbart",), "MBartConfig", _BART, features="learned positions, pre-norm"),
    _seq2seq("Pegasus", ("pegasus",), "PegasusConfig", _BART, features="sinusoidal positions"),
    _seq2seq("Marian", ("marian",), "MarianConfig", _BART, features="sinusoidal positions"),
    _seq2seq("T5", ("t5",), "T5Config", _T5, features="relative position biases (none over the prefix)"),
    _seq2seq("mT5", ("mt5",), "MT5Config", _T5, features="relative position biases (none over the prefix)"),
]  # fmt: skip
BY_TYPE = {model_type: family for family in FAMILIES for model_type in family.model_types}


def supported() -> str:
    return ", ".join(family.name for family in FAMILIES)


def family_of(config) -> Family:
    """The family of a Hugging Face config, or a one-line error listing the supported ones."""
    model_type = getattr(config, "model_type", None)
    if model_type not in BY_TYPE:
        raise UserError(f"model type {model_type!r} is not a supported prefix-tuning family; supported: {supported()}")
    return BY_TYPE[model_type]


def tiny_config(family: Family, vocab_size: int, eos_id: int, **sizes):
    """A tiny random config of the family (its transformers config class), for tests and `model=tiny-<family>`."""
    import transformers

    special = {"bos_token_id": eos_id, "eos_token_id": eos_id, "pad_token_id": eos_id}
    if family.kind == "seq2seq":
        special |= {"decoder_start_token_id": eos_id, "forced_bos_token_id": None, "forced_eos_token_id": None}
    values = {"vocab_size": vocab_size, **special, **family.tiny, **sizes}
    return getattr(transformers, family.config_class)(**values)


def markdown_table() -> str:
    """The README's table of supported families (scripts/families_table.py writes it; a test checks it)."""
    mark = {True: "yes", False: "no: the model's own attention"}
    rows = [
        "| Family | `model_type` | Prefix enters | Packed training | Beam engine | Special in its attention |",
        "|---|---|---|---|---|---|",
    ]
    for f in FAMILIES:
        enters = "encoder, decoder, cross-attention" if f.kind == "seq2seq" else "every layer's keys/values"
        training = "n/a (padded)" if f.kind == "seq2seq" else mark[f.fused_training]
        decoding = "n/a (`generate`)" if f.kind == "seq2seq" else mark[f.fused_decoding]
        types = ", ".join(f"`{t}`" for t in f.model_types)
        rows.append(f"| {f.name} | {types} | {enters} | {training} | {decoding} | {f.features} |")
    return "\n".join(rows)
