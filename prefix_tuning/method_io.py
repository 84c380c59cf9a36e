"""A trained method's tensors on disk (embeddings, infix, adapters, fine-tuned weights): one safetensors file
whose metadata names the method and the base model it fits; loading checks both before touching the model."""

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model

from prefix_tuning.errors import UserError

FORMAT_VERSION = "1"


def save_module(module, path: Path, identity: dict, method: str, extra: dict | None = None):
    """Write the module's state (tied weights once) with metadata, atomically."""
    metadata = {
        "format_version": FORMAT_VERSION,
        "method": method,
        "base_model": identity["base_model"],
        "architecture": identity["architecture"],
        "extra": json.dumps({"task": identity.get("task"), **(extra or {})}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_model(module, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def load_module(module, path: Path, identity: dict, method: str):
    """Fill `module` from a file written by `save_module`, after checking it was trained with this method for this model."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{method} file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise UserError(f"{path} is not a safetensors file ({err})") from None
    if meta.get("format_version") != FORMAT_VERSION or "method" not in meta:
        raise UserError(f"{path} is not a method file of this library")
    expected = {"method": method, "base_model": identity["base_model"], "architecture": identity["architecture"]}
    for key, want in expected.items():
        if meta.get(key) != want:
            raise UserError(f"{path} was saved for {key}={meta.get(key)}, but this run has {key}={want}")
    device = next(iter(module.state_dict().values())).device
    try:
        load_model(module, str(path), strict=True, device=str(device))
    except RuntimeError as err:
        raise UserError(f"{path} does not fit this {method} model: {str(err).strip().splitlines()[0]}") from None
