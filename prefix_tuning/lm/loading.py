"""Loading the frozen base LM and its tokenizer from a model config: the embedded SmolLM2, hub models,
tiny random models."""

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from prefix_tuning.errors import UserError
from prefix_tuning.lm.embedded import SMOLLM2_HF_ID, gpt2_tokenizer, smollm2_path
from prefix_tuning.lm.families import family_of
from prefix_tuning.lm.layers import checkpoint_frozen_layers
from prefix_tuning.lm.tiny import tiny_random


def load_tokenizer(model_cfg):
    """The tokenizer a model config names, with a pad token set (left padding for generation)."""
    source = model_cfg.source
    if source == "embedded_smollm2":
        tokenizer = AutoTokenizer.from_pretrained(smollm2_path())
    elif source == "tiny_random" or model_cfg.get("tokenizer") == "gpt2_packaged":
        tokenizer = gpt2_tokenizer()
    elif source == "hub":
        tokenizer = _from_hub(AutoTokenizer, model_cfg)
    else:
        raise UserError(f"unknown model source {source!r}; choose embedded_smollm2, hub or tiny_random")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_base_model(model_cfg, tokenizer=None):
    """The frozen base LM: every weight has requires_grad=False and the model stays in eval mode."""
    source = model_cfg.source
    dtype = getattr(torch, model_cfg.get("dtype", "float32"))
    if source == "embedded_smollm2":
        model = AutoModelForCausalLM.from_pretrained(smollm2_path(), dtype=dtype)
    elif source == "hub":
        model = _hub_model(model_cfg, dtype)
    elif source == "tiny_random":
        tokenizer = tokenizer or load_tokenizer(model_cfg)
        sizes = dict(model_cfg.get("sizes") or {})
        model = tiny_random(model_cfg.arch, len(tokenizer), tokenizer.eos_token_id, model_cfg.get("seed", 0), **sizes)
        model = model.to(dtype)
    else:
        raise UserError(f"unknown model source {source!r}; choose embedded_smollm2, hub or tiny_random")
    family_of(model.config)  # an unsupported architecture fails here, naming the supported families
    model.requires_grad_(False)
    model.eval()
    if model_cfg.get("gradient_checkpointing", False):
        if not model.config.is_encoder_decoder:
            raise UserError(
                "model.gradient_checkpointing is supported for encoder-decoder models only "
                "(the causal prefix cache is written during the forward pass)"
            )
        checkpoint_frozen_layers(model)
    return model


def _from_hub(auto, model_cfg, **kwargs):
    """`auto.from_pretrained(model.hf_id)`, or one line saying what is missing (the id, or the files offline)."""
    hf_id = model_cfg.get("hf_id")
    if not hf_id:
        raise UserError("model=hub needs model.hf_id=<a Hugging Face model id or local folder>")
    try:
        return auto.from_pretrained(hf_id, **kwargs)
    except (OSError, ValueError) as err:
        offline = (
            "model=tiny-bart or model=tiny-t5 (tests only)"
            if model_cfg.get("kind") == "seq2seq"
            else "model=smollm2-135m"
        )
        raise UserError(
            f"cannot load {hf_id!r} from the hub or local cache ({err.__class__.__name__}); offline, use {offline}"
        ) from None


def _hub_model(model_cfg, dtype):
    """A hub checkpoint, its family read from its config (`model.kind`, when given, must agree)."""
    family = family_of(_from_hub(AutoConfig, model_cfg))
    if model_cfg.get("kind") and model_cfg.kind != family.kind:
        raise UserError(
            f"model.kind={model_cfg.kind} but {model_cfg.hf_id!r} is a {family.name} ({family.kind}) checkpoint"
        )
    auto = AutoModelForSeq2SeqLM if family.kind == "seq2seq" else AutoModelForCausalLM
    return _from_hub(auto, model_cfg, dtype=dtype)


def model_identity(model_cfg, model) -> str:
    """The id saved with a prefix, so it is never loaded onto another model."""
    if model_cfg.source == "embedded_smollm2":
        return SMOLLM2_HF_ID
    if model_cfg.source == "hub":
        return model_cfg.hf_id
    return model_cfg.get("identity") or f"tiny-random-{model_cfg.arch}-seed{model_cfg.get('seed', 0)}"


def context_length(model) -> int:
    """The longest sequence (prefix included) the model's positions allow."""
    config = model.config.get_text_config(decoder=True)
    for name in ("n_positions", "max_position_embeddings"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    if config.model_type == "bloom" or getattr(config, "alibi", False):
        return 2**31 - 1  # ALiBi: no position table, so no limit the positions set
    raise ValueError(f"cannot tell the context length of {type(model).__name__}")
