"""Prefix-tuning (paper section 4) as a method: build (with its init), save only P, load P for inference.

A causal LM gets one prefix (`core.causal.PrefixLM`); an encoder-decoder gets three, for the encoder
self-attention, decoder self-attention and cross-attention (`core.seq2seq.Seq2SeqPrefixLM`), saved in one file.
"""

from pathlib import Path

from prefix_tuning.core.causal import PrefixLM
from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.core.prefix_config import PrefixConfig
from prefix_tuning.core.prefix_encoder import FixedPrefix, PrefixEncoder
from prefix_tuning.core.seq2seq import Seq2SeqPrefix, Seq2SeqPrefixLM, seq2seq_geometries
from prefix_tuning.core.word_init import init_from_words
from prefix_tuning.errors import UserError
from prefix_tuning.methods.options import options
from prefix_tuning.tensor_files import load_prefix, save_prefix

NAME = "prefix"
PREFIX_FILE = "prefix.safetensors"


def build_encoder(method_cfg, lm, tokenizer) -> PrefixEncoder:
    """The trainable prefix of a causal LM, initialized as configured (shared with the infix ablation)."""
    config = PrefixConfig.from_mapping(options(method_cfg))
    encoder = PrefixEncoder(config, KVGeometry.of(lm.config)).to(lm.device)
    if config.init == "words":
        mse = init_from_words(encoder, lm, tokenizer)
        print(f"prefix initialized from the words {config.init_words!r} (fit MSE {mse:.2e})")
    return encoder


def build(method_cfg, lm, tokenizer) -> PrefixLM | Seq2SeqPrefixLM:
    if lm.config.is_encoder_decoder:
        config = PrefixConfig.from_mapping(options(method_cfg))
        if config.init == "words":
            raise UserError(
                "prefix init=words is implemented for causal LMs only; use init=random with encoder-decoders"
            )
        return Seq2SeqPrefixLM(lm, Seq2SeqPrefix.trainable(config, seq2seq_geometries(lm.config)).to(lm.device))
    return PrefixLM(lm, build_encoder(method_cfg, lm, tokenizer))


def save(model: PrefixLM | Seq2SeqPrefixLM, run_dir: Path, identity: dict):
    save_prefix(
        Path(run_dir) / PREFIX_FILE, model.prefix.materialize(), identity, {"prefix": model.prefix.config.to_dict()}
    )


def load(method_cfg, run_dir: Path, lm, identity: dict) -> PrefixLM | Seq2SeqPrefixLM:
    path = Path(run_dir) / PREFIX_FILE
    if lm.config.is_encoder_decoder:
        kvs = load_prefix(path, identity, seq2seq_geometries(lm.config))
        return Seq2SeqPrefixLM(lm, Seq2SeqPrefix.fixed({part: kv.to(lm.device) for part, kv in kvs.items()}))
    kv = load_prefix(path, identity, KVGeometry.of(lm.config))
    return PrefixLM(lm, FixedPrefix(kv.to(lm.device)))
