"""Prefix-tuning (paper section 4) as a method: build (with its init), save only P, load P for inference.

A causal LM gets one prefix (`prefix.causal.PrefixLM`); an encoder-decoder gets three, for the encoder
self-attention, decoder self-attention and cross-attention (`prefix.seq2seq.Seq2SeqPrefixLM`), saved in one file.
"""

from pathlib import Path

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.config import PrefixConfig
from prefix_tuning.prefix.encoder import FixedPrefix, PrefixEncoder, from_kv
from prefix_tuning.prefix.file_format import load_prefix, save_prefix
from prefix_tuning.prefix.seq2seq import PARTS, Seq2SeqPrefix, Seq2SeqPrefixLM, seq2seq_geometries, seq2seq_token_kv
from prefix_tuning.prefix.word_init import fit_mlp, init_from_words, init_token_ids, with_word_length
from prefix_tuning.settings import method_options

NAME = "prefix"
PREFIX_FILE = "prefix.safetensors"


def prefix_config(method_cfg, tokenizer) -> PrefixConfig:
    """The method's PrefixConfig, with L resolved to the init words' token count under word init."""
    return with_word_length(PrefixConfig.from_mapping(method_options(method_cfg)), tokenizer)


def build_encoder(method_cfg, lm, tokenizer) -> PrefixEncoder:
    """The trainable prefix of a causal LM, initialized as configured (shared with the infix ablation)."""
    config = prefix_config(method_cfg, tokenizer)
    encoder = PrefixEncoder(config, KVGeometry.of(lm.config)).to(lm.device)
    if config.init == "words":
        mse = init_from_words(encoder, lm, tokenizer)
        print(f"prefix of {config.prefix_length} positions initialized from {config.init_words!r} (fit MSE {mse:.2e})")
    return encoder


def build_seq2seq_prefix(method_cfg, lm, tokenizer) -> Seq2SeqPrefix:
    """The three trainable prefixes of an encoder-decoder; under word init each part's MLP is fitted to
    what that attention sees of the words (`seq2seq_token_kv`)."""
    config = prefix_config(method_cfg, tokenizer)
    prefix = Seq2SeqPrefix.trainable(config, seq2seq_geometries(lm.config)).to(lm.device)
    if config.init == "words":
        targets = seq2seq_token_kv(lm, init_token_ids(tokenizer, config.init_words))
        errors = [fit_mlp(prefix.parts[part], from_kv(targets[part].float())) for part in PARTS]
        print(
            f"prefixes of {config.prefix_length} positions initialized from {config.init_words!r} (fit MSE {max(errors):.2e})"
        )
    return prefix


def build(method_cfg, lm, tokenizer) -> PrefixLM | Seq2SeqPrefixLM:
    if lm.config.is_encoder_decoder:
        return Seq2SeqPrefixLM(lm, build_seq2seq_prefix(method_cfg, lm, tokenizer))
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
