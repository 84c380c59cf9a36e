"""The prefix file: only P (the MLP discarded) as tensor `prefix_kv` ([layers, 2, kv_heads, L, head_dim]), or one
`prefix_kv.<part>` per part of an encoder-decoder (encoder, decoder, cross), with each part's geometry as
`[<part>.]n_layers`, `n_kv_heads`, `head_dim`, `prefix_length` and the `dtype`, in the metadata schema every
saved method shares (`tensor_files.py`: method, base model, architecture, options; written atomically).
Loading checks method, base model, architecture and geometry before touching a model."""

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.tensor_files import atomic_file, check_metadata, header, read_metadata

PREFIX_TENSOR = "prefix_kv"
GEOMETRY_KEYS = ("n_layers", "n_kv_heads", "head_dim")


def _shape_metadata(kv: torch.Tensor, key_prefix: str = "") -> dict[str, str]:
    layers, _, kv_heads, length, head_dim = kv.shape
    values = {"n_layers": layers, "n_kv_heads": kv_heads, "head_dim": head_dim, "prefix_length": length}
    return {key_prefix + key: str(value) for key, value in values.items()}


def save_prefix(
    path: Path,
    kv: torch.Tensor | dict[str, torch.Tensor],
    identity: dict,
    extra: dict | None = None,
    method: str = "prefix",
):
    """Write P [layers, 2, kv_heads, L, head_dim], or {part: P} for an encoder-decoder, with the metadata."""
    parts = kv if isinstance(kv, dict) else {None: kv}
    metadata = header(identity, method, extra)
    if isinstance(kv, dict):
        metadata["parts"] = ",".join(parts)
    for part, tensor in parts.items():
        metadata.update(_shape_metadata(tensor, "" if part is None else f"{part}."))
    metadata["dtype"] = str(next(iter(parts.values())).dtype).removeprefix("torch.")
    tensors = {
        PREFIX_TENSOR if part is None else f"{PREFIX_TENSOR}.{part}": t.detach().contiguous().cpu()
        for part, t in parts.items()
    }
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_prefix(path: Path, identity: dict, geometry: KVGeometry | dict[str, KVGeometry]):
    """P from a prefix file, after checking it was trained for this model ({part: P} with one geometry per part)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prefix file not found: {path}")
    meta = read_metadata(path)
    parts = geometry if isinstance(geometry, dict) else {None: geometry}
    expected = {"method": "prefix", "base_model": identity["base_model"], "architecture": identity["architecture"]}
    if isinstance(geometry, dict):
        expected["parts"] = ",".join(parts)
    for part, part_geometry in parts.items():
        key_prefix = "" if part is None else f"{part}."
        expected.update({key_prefix + key: str(getattr(part_geometry, key)) for key in GEOMETRY_KEYS})
    check_metadata(path, meta, expected)
    tensors = load_file(str(path))
    if not isinstance(geometry, dict):
        return tensors[PREFIX_TENSOR]
    return {part: tensors[f"{PREFIX_TENSOR}.{part}"] for part in parts}
