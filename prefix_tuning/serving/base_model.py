"""The frozen LM a server runs: found from the identity the prefix files carry (`tensor_files` metadata).

The identity (`base_model`) is what `lm.loading.model_identity` wrote at training time; the model config
whose identity matches (configs/model/*.yaml) loads it, so tiny test models, the embedded SmolLM2 and hub
models are served alike. A tiny model of a family with no config of its own (`tiny-random-<type>-seed<n>`, as
`model_identity` names them) is rebuilt from the family table; an id no config names is loaded from the hub.
"""

import re

from omegaconf import DictConfig, OmegaConf

from prefix_tuning.lm.families import BY_TYPE
from prefix_tuning.lm.loading import load_base_model, load_tokenizer, model_identity
from prefix_tuning.paths import CONFIG_DIR

MODEL_CONFIGS = CONFIG_DIR / "model"


def model_config_named(name: str) -> DictConfig:
    """`--model`: a config name (configs/model/<name>.yaml) or an identity / hub id (`model_config_for`)."""
    path = MODEL_CONFIGS / f"{name}.yaml"
    return OmegaConf.load(path) if path.is_file() else model_config_for(name)


def model_config_for(base_model: str) -> DictConfig:
    """The model config whose identity is `base_model` (a hub config for an id no config names)."""
    for path in sorted(MODEL_CONFIGS.glob("*.yaml")):
        cfg = OmegaConf.load(path)
        if model_identity(cfg, None) == base_model:
            return cfg
    tiny = re.fullmatch(r"tiny-random-(\w+)-seed(\d+)", base_model)
    if tiny and tiny.group(1) in BY_TYPE:  # the family's default tiny sizes, as `model=tiny-<family>` builds them
        return OmegaConf.create({"name": base_model, "source": "tiny_random", "arch": tiny.group(1),
                                 "seed": int(tiny.group(2)), "dtype": "float32"})  # fmt: skip
    return OmegaConf.create({"name": base_model, "source": "hub", "hf_id": base_model, "dtype": "float32"})


def load_served_model(model_cfg: DictConfig, device: str):
    """(frozen LM on `device`, tokenizer, identity {base_model, architecture}) for a model config: a causal LM, or an
    encoder-decoder (BART, T5) whose prefixes have three parts."""
    tokenizer = load_tokenizer(model_cfg)
    lm = load_base_model(model_cfg, tokenizer).to(device)
    identity = {"base_model": model_identity(model_cfg, lm), "architecture": lm.config.model_type}
    return lm, tokenizer, identity
