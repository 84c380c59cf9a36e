"""Prefix-tuning as a trainer method: build (with its init), save only P, load P for inference."""

from pathlib import Path

from prefix_tuning.base_model import KVGeometry
from prefix_tuning.methods import options
from prefix_tuning.prefix_config import PrefixConfig
from prefix_tuning.prefix_encoder import FixedPrefix, PrefixEncoder
from prefix_tuning.prefix_init import init_from_words
from prefix_tuning.prefix_io import load_prefix, save_prefix
from prefix_tuning.prefix_model import PrefixLM

PREFIX_FILE = "prefix.safetensors"


def build(method_cfg, lm, tokenizer) -> PrefixLM:
    config = PrefixConfig.from_mapping(options(method_cfg))
    encoder = PrefixEncoder(config, KVGeometry.of(lm.config)).to(lm.device)
    if config.init == "words":
        mse = init_from_words(encoder, lm, tokenizer)
        print(f"prefix initialized from the words {config.init_words!r} (fit MSE {mse:.2e})")
    return PrefixLM(lm, encoder)


def save(model: PrefixLM, run_dir: Path, identity: dict):
    save_prefix(Path(run_dir) / PREFIX_FILE, model.prefix.materialize().cpu(), identity["base_model"],
                identity["architecture"], {"task": identity.get("task"), "prefix": model.prefix.config.to_dict()})


def load(method_cfg, run_dir: Path, lm, identity: dict) -> PrefixLM:
    kv = load_prefix(Path(run_dir) / PREFIX_FILE, identity["base_model"], identity["architecture"], KVGeometry.of(lm.config))
    return PrefixLM(lm, FixedPrefix(kv.to(lm.device)))
