"""Training checkpoints: the trained module (for prefix-tuning P' + MLP), optimizer, scheduler, RNG and step.

Written to a temporary folder and renamed into place, so a crash mid-write never leaves a broken
checkpoint; loaded with safetensors and `torch.load(weights_only=True)` (never unpickling code).
"""

import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

CHECKPOINT_DIR = "checkpoint"


def save_checkpoint(run_dir: Path, trainable: torch.nn.Module, optimizer, scheduler, step: int):
    """Atomically replace `run_dir/checkpoint`."""
    final = Path(run_dir) / CHECKPOINT_DIR
    tmp = Path(run_dir) / f".{CHECKPOINT_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(trainable, str(tmp / "trainable.safetensors"))  # handles tied weights
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    torch.save(state, tmp / "state.pt")
    old = Path(run_dir) / f".{CHECKPOINT_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / CHECKPOINT_DIR / "state.pt").is_file()


def load_checkpoint(run_dir: Path, trainable: torch.nn.Module, optimizer, scheduler) -> int:
    """Restore everything saved by `save_checkpoint`; returns the step to continue from."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    device = next(trainable.parameters()).device
    load_model(trainable, str(folder / "trainable.safetensors"), device=str(device))
    state = torch.load(folder / "state.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])
