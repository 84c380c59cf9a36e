"""A trained prefix on disk: only P (MLP discarded) as safetensors, with metadata naming the model it fits."""

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from prefix_tuning.base_model import KVGeometry
from prefix_tuning.errors import UserError

FORMAT_VERSION = "1"
TENSOR_NAME = "prefix_kv"


def save_prefix(path: Path, kv: torch.Tensor, base_model: str, architecture: str, extra: dict | None = None):
    """Write P [layers, 2, kv_heads, L, head_dim] with its metadata, atomically."""
    layers, _, kv_heads, length, head_dim = kv.shape
    metadata = {
        "format_version": FORMAT_VERSION,
        "base_model": base_model,
        "architecture": architecture,
        "n_layers": str(layers),
        "n_kv_heads": str(kv_heads),
        "head_dim": str(head_dim),
        "prefix_length": str(length),
        "dtype": str(kv.dtype).removeprefix("torch."),
        "extra": json.dumps(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({TENSOR_NAME: kv.detach().contiguous().cpu()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def read_metadata(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise UserError(f"{path} is not a prefix file ({err})") from None


def load_prefix(path: Path, base_model: str, architecture: str, geometry: KVGeometry) -> torch.Tensor:
    """P from a prefix file, after checking that it was trained for this model; a one-line error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prefix file not found: {path}")
    meta = read_metadata(path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path} is not a prefix file of this library (format {meta.get('format_version')!r})")
    expected = {
        "base_model": base_model,
        "architecture": architecture,
        "n_layers": str(geometry.n_layers),
        "n_kv_heads": str(geometry.n_kv_heads),
        "head_dim": str(geometry.head_dim),
    }
    for key, want in expected.items():
        if meta.get(key) != want:
            raise UserError(f"{path} was trained for {key}={meta.get(key)}, but this model has {key}={want}")
    return load_file(str(path))[TENSOR_NAME]
