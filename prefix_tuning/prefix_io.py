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


def shape_metadata(kv: torch.Tensor, key_prefix: str = "") -> dict[str, str]:
    """The geometry of one P [layers, 2, kv_heads, L, head_dim] as metadata strings."""
    layers, _, kv_heads, length, head_dim = kv.shape
    values = {"n_layers": layers, "n_kv_heads": kv_heads, "head_dim": head_dim, "prefix_length": length}
    return {key_prefix + key: str(value) for key, value in values.items()}


def save_prefix(path: Path, kv: torch.Tensor | dict[str, torch.Tensor], base_model: str, architecture: str,
                extra: dict | None = None):
    """Write P [layers, 2, kv_heads, L, head_dim] with its metadata, atomically.

    An encoder-decoder has several prefixes ({part: P}, e.g. encoder/decoder/cross): they go in the
    same file as tensors `prefix_kv.<part>`, each part's geometry under `<part>.` metadata keys.
    """
    parts = kv if isinstance(kv, dict) else {None: kv}
    metadata = {"format_version": FORMAT_VERSION, "base_model": base_model, "architecture": architecture}
    if isinstance(kv, dict):
        metadata["parts"] = ",".join(parts)
    for part, tensor in parts.items():
        metadata.update(shape_metadata(tensor, "" if part is None else f"{part}."))
    metadata["dtype"] = str(next(iter(parts.values())).dtype).removeprefix("torch.")
    metadata["extra"] = json.dumps(extra or {})
    tensors = {TENSOR_NAME if part is None else f"{TENSOR_NAME}.{part}": t.detach().contiguous().cpu()
               for part, t in parts.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def read_metadata(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise UserError(f"{path} is not a prefix file ({err})") from None


def load_prefix(path: Path, base_model: str, architecture: str,
                geometry: KVGeometry | dict[str, KVGeometry]) -> torch.Tensor | dict[str, torch.Tensor]:
    """P from a prefix file, after checking that it was trained for this model; a one-line error otherwise.

    With one geometry per part ({part: KVGeometry}, an encoder-decoder), returns {part: P}.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prefix file not found: {path}")
    meta = read_metadata(path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path} is not a prefix file of this library (format {meta.get('format_version')!r})")
    parts = geometry if isinstance(geometry, dict) else {None: geometry}
    expected = {"base_model": base_model, "architecture": architecture}
    if isinstance(geometry, dict):
        expected["parts"] = ",".join(parts)
    for part, part_geometry in parts.items():
        key_prefix = "" if part is None else f"{part}."
        expected.update({key_prefix + key: str(getattr(part_geometry, key)) for key in ("n_layers", "n_kv_heads", "head_dim")})
    for key, want in expected.items():
        if meta.get(key) != want:
            raise UserError(f"{path} was trained for {key}={meta.get(key)}, but this model has {key}={want}")
    tensors = load_file(str(path))
    if not isinstance(geometry, dict):
        return tensors[TENSOR_NAME]
    return {part: tensors[f"{TENSOR_NAME}.{part}"] for part in parts}
