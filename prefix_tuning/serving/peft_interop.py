"""PEFT prefix-tuning checkpoints as our prefix files, and back.

PEFT (`PrefixTuningConfig`, task_type CAUSAL_LM) saves `adapter_config.json` and `adapter_model.safetensors`
whose tensor `prompt_embeddings` is P flattened: [num_virtual_tokens, num_layers * 2 * token_dim], each row
(layer, key/value, kv_head, head_dim) in that order, with `num_attention_heads` = the kv heads and
`token_dim` = kv_heads * head_dim (PeftModel.get_prompt views it so). That is exactly our `from_kv` layout
(prefix/encoder.py), so converting is `to_kv` / `from_kv`. PEFT saves P already through its MLP when
`prefix_projection=True`; a checkpoint holding the MLP itself (`prompt_encoder.*embedding.weight` and
`transform.*`) is run through it here (Linear, Tanh, Linear), as the paper keeps only P after training.
"""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.prefix.encoder import from_kv, to_kv
from prefix_tuning.prefix.file_format import PREFIX_TENSOR, save_prefix
from prefix_tuning.prefix.method import PREFIX_FILE
from prefix_tuning.tensor_files import atomic_file, read_metadata

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_TENSOR = "prompt_embeddings"
EMBEDDING_KEYS = ("prompt_embeddings", "prompt_encoder.embedding.weight", "prompt_encoder.default.embedding.weight")


def read_peft_config(peft_dir: Path) -> dict:
    path = Path(peft_dir) / ADAPTER_CONFIG
    if not path.is_file():
        raise UserError(f"{peft_dir} is not a PEFT checkpoint (no {ADAPTER_CONFIG})")
    try:
        config = json.loads(path.read_text())
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON ({err})") from None
    if config.get("peft_type") != "PREFIX_TUNING":
        raise UserError(f"{peft_dir} is a PEFT {config.get('peft_type')} checkpoint, not PREFIX_TUNING")
    if config.get("task_type") != "CAUSAL_LM" or config.get("num_transformer_submodules", 1) != 1:
        raise UserError(f"{peft_dir} is a {config.get('task_type')} checkpoint; only CAUSAL_LM prefixes convert")
    return config


def flat_prefix(tensors: dict[str, torch.Tensor], width: int, where: Path) -> torch.Tensor:
    """P flattened [L, width] from PEFT's saved tensors (the MLP applied if that is what was saved)."""
    key = next((k for k in EMBEDDING_KEYS if k in tensors), None)
    if key is None:
        raise UserError(f"{where} holds no prefix-tuning tensor (one of {', '.join(EMBEDDING_KEYS)})")
    flat = tensors[key].float()
    mlp = key.removesuffix("embedding.weight") + "transform."
    if key != PEFT_TENSOR and f"{mlp}0.weight" in tensors:  # the MLP itself was saved: P = Linear(Tanh(Linear(P')))

        def linear(x: torch.Tensor, index: int) -> torch.Tensor:
            weight, bias = tensors[f"{mlp}{index}.weight"].float(), tensors[f"{mlp}{index}.bias"].float()
            return torch.nn.functional.linear(x, weight, bias)

        flat = linear(torch.tanh(linear(flat, 0)), 2)
    if flat.dim() != 2 or flat.shape[1] != width:
        raise UserError(f"{where}: {key} has shape {tuple(flat.shape)}, expected [num_virtual_tokens, {width}]")
    return flat


def peft_geometry(config: dict, where: Path) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) from a PEFT prefix-tuning config."""
    try:
        layers, heads, token_dim = (
            int(config["num_layers"]),
            int(config["num_attention_heads"]),
            int(config["token_dim"]),
        )
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{where}: {ADAPTER_CONFIG} lacks num_layers, num_attention_heads or token_dim") from None
    if heads < 1 or token_dim % heads:
        raise UserError(f"{where}: token_dim {token_dim} is not a multiple of num_attention_heads {heads}")
    return layers, heads, token_dim // heads


def read_peft_prefix(peft_dir: Path, geometry: KVGeometry) -> tuple[torch.Tensor, dict]:
    """(P [layers, 2, kv_heads, L, head_dim], PEFT config) from a PEFT checkpoint that fits `geometry`."""
    peft_dir = Path(peft_dir)
    config = read_peft_config(peft_dir)
    layers, heads, head_dim = peft_geometry(config, peft_dir)
    ours = (geometry.n_layers, geometry.n_kv_heads, geometry.head_dim)
    if (layers, heads, head_dim) != ours:
        raise UserError(
            f"{peft_dir} was made for (layers, kv heads, head size) = {(layers, heads, head_dim)}, "
            f"but this model has {ours}"
        )
    weights = peft_dir / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise UserError(f"{peft_dir} has no {ADAPTER_WEIGHTS} (save it with safe_serialization=True)")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise UserError(f"{weights} is not a safetensors file ({err})") from None
    return to_kv(flat_prefix(tensors, geometry.values_per_position, weights), geometry).contiguous(), config


def import_peft(peft_dir: Path, out: Path, geometry: KVGeometry, identity: dict) -> torch.Tensor:
    """Write a PEFT checkpoint as our prefix file `out` (identity: base_model, architecture, task)."""
    kv, config = read_peft_prefix(peft_dir, geometry)
    extra = {"prefix": {"prefix_length": kv.shape[-2], "imported_from": "peft",
                        "prefix_projection": bool(config.get("prefix_projection"))}}  # fmt: skip
    save_prefix(out, kv, identity, extra)
    return kv


def prefix_file(path: Path) -> Path:
    """A prefix file, or the prefix file of a run folder."""
    path = Path(path)
    return path / PREFIX_FILE if path.is_dir() else path


def peft_config(meta: dict) -> dict:
    """PEFT's adapter_config.json for a prefix file's metadata (inference mode: P is the embedding itself)."""
    layers, heads, head_dim = (int(meta[key]) for key in ("n_layers", "n_kv_heads", "head_dim"))
    return {
        "peft_type": "PREFIX_TUNING",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": meta["base_model"],
        "num_virtual_tokens": int(meta["prefix_length"]),
        "num_layers": layers,
        "num_attention_heads": heads,
        "token_dim": heads * head_dim,
        "encoder_hidden_size": heads * head_dim,
        "num_transformer_submodules": 1,
        "prefix_projection": False,
        "inference_mode": True,
    }


def export_peft(path: Path, out_dir: Path) -> Path:
    """Write our prefix file (or run folder) as a PEFT checkpoint folder; returns the folder."""
    path = prefix_file(path)
    meta = read_metadata(path)
    if meta.get("method") != "prefix" or "parts" in meta:
        raise UserError(f"{path} is not a causal-LM prefix file (method {meta.get('method')}); PEFT's format is one P")
    kv = load_file(str(path))[PREFIX_TENSOR]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(out_dir / ADAPTER_WEIGHTS) as tmp:
        save_file({PEFT_TENSOR: from_kv(kv).contiguous()}, str(tmp), metadata={"format": "pt"})
    with atomic_file(out_dir / ADAPTER_CONFIG) as tmp:
        tmp.write_text(json.dumps(peft_config(meta), indent=2) + "\n")
    return out_dir
