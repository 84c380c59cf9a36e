"""Training checkpoints: the trained module (for prefix-tuning P' + MLP), optimizer, scheduler, RNG and step.

Written to a temporary folder and swapped into place (`tensor_files.atomic_dir`), so a crash mid-write
never leaves a broken checkpoint; loaded with safetensors and `torch.load(weights_only=True)` (never
unpickling code).
"""

from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from prefix_tuning.tensor_files import atomic_dir

CHECKPOINT_DIR = "checkpoint"


def save_checkpoint(
    run_dir: Path, trainable: torch.nn.Module, optimizer, scheduler, step: int, extra: dict | None = None
):
    """Atomically replace `run_dir/checkpoint`; `extra` holds any small state the trainer adds (plain values)."""
    with atomic_dir(Path(run_dir) / CHECKPOINT_DIR) as tmp:
        save_model(trainable, str(tmp / "trainable.safetensors"))  # handles tied weights
        state = {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "extra": extra or {},
        }
        torch.save(state, tmp / "state.pt")


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / CHECKPOINT_DIR / "state.pt").is_file()


def load_checkpoint(run_dir: Path, trainable: torch.nn.Module, optimizer, scheduler) -> tuple[int, dict]:
    """Restore everything saved by `save_checkpoint`; returns the step to continue from and the extra state."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    device = next(trainable.parameters()).device
    load_model(trainable, str(folder / "trainable.safetensors"), device=str(device))
    state = torch.load(folder / "state.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), state.get("extra", {})
