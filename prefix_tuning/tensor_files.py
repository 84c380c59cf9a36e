"""Every file this library writes, with one metadata schema, written atomically.

A saved method is one safetensors file whose metadata says what it fits:
  format_version  "1"
  method          prefix | infix | embedding_only | adapter | ft_top2 | finetune
  base_model      the model id (e.g. HuggingFaceTB/SmolLM2-135M-Instruct)
  architecture    the config's model_type (llama, gpt2, bart, ...)
  extra           JSON: the task and the method's options
A prefix file (its tensors and geometry keys: `prefix/file_format.py`) stores only P, the MLP discarded.
Loading checks method, base model, architecture (and a prefix's geometry) before touching a model:
a mismatch is one line naming both values. Checkpoint folders are swapped in whole (`atomic_dir`).
"""

import contextlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model

from prefix_tuning.errors import UserError

FORMAT_VERSION = "1"


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: Path):
    """Yield an empty temporary folder; on success it replaces the folder `path` (the old one is kept until then)."""
    path = Path(path)
    tmp, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def header(identity: dict, method: str, extra: dict | None = None) -> dict[str, str]:
    """The common metadata of a saved method; `identity` has base_model, architecture and task."""
    return {
        "format_version": FORMAT_VERSION,
        "method": method,
        "base_model": identity["base_model"],
        "architecture": identity["architecture"],
        "extra": json.dumps({"task": identity.get("task"), **(extra or {})}),
    }


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata of a file written here; a UserError when it is missing or not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise UserError(f"{path} is not a safetensors file ({err})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path} is not a file of this library (format {meta.get('format_version')!r})")
    meta.setdefault("method", "prefix")  # prefix files written before the schema named the method
    return meta


def check_metadata(path: Path, meta: dict, expected: dict[str, str]):
    for key, want in expected.items():
        if meta.get(key) != want:
            raise UserError(f"{path} was trained for {key}={meta.get(key)}, but this model has {key}={want}")


def save_module(module: torch.nn.Module, path: Path, identity: dict, method: str, extra: dict | None = None):
    """A module's state (tied weights once) with the common metadata."""
    with atomic_file(path) as tmp:
        save_model(module, str(tmp), metadata=header(identity, method, extra))


def load_module(module: torch.nn.Module, path: Path, identity: dict, method: str):
    """Fill `module` from a file written by `save_module`, after checking method and base model."""
    meta = read_metadata(path)
    check_metadata(
        path, meta, {"method": method, "base_model": identity["base_model"], "architecture": identity["architecture"]}
    )
    device = next(iter(module.state_dict().values())).device
    try:
        load_model(module, str(path), strict=True, device=str(device))
    except RuntimeError as err:
        raise UserError(f"{path} does not fit this {method} model: {str(err).strip().splitlines()[0]}") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], identity: dict, method: str, extra: dict | None = None):
    """Named tensors with the common metadata."""
    with atomic_file(path) as tmp:
        save_file(
            {k: t.detach().contiguous().cpu() for k, t in tensors.items()},
            str(tmp),
            metadata=header(identity, method, extra),
        )


def load_tensors(path: Path, identity: dict, method: str, shapes: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """The tensors of a file written by `save_tensors`, after checking method, base model and each tensor's
    shape against `shapes` (None: any size in that dimension)."""
    meta = read_metadata(path)
    check_metadata(
        path, meta, {"method": method, "base_model": identity["base_model"], "architecture": identity["architecture"]}
    )
    tensors = load_file(str(path))
    for name, shape in shapes.items():
        got = tuple(tensors[name].shape) if name in tensors else None
        if got is None or len(got) != len(shape) or any(w is not None and w != g for w, g in zip(shape, got)):
            raise UserError(
                f"{path} does not fit this {method} model: tensor {name!r} has shape {got}, expected {shape}"
            )
    return tensors
