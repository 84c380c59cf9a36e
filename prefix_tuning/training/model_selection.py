"""Model selection as the paper: the validation-set loss, evaluated every `eval_every` steps, picks the
checkpoint kept (paper 5.3 "models picked on the validation set"; original code: low-data runs evaluate
every 50 steps and keep the best eval loss); and early stopping on a dev-loss plateau (`DevCurve`).

The best weights live in `run_dir/best/trainable.safetensors` (swapped in atomically), and the best loss
and step, like the dev curve, travel in the training checkpoint, so a resumed run keeps choosing and
stopping exactly as an uninterrupted one.
"""

import math
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from prefix_tuning.tensor_files import atomic_dir
from prefix_tuning.training.batching import collate_training

BEST_DIR = "best"


@torch.no_grad()
def dev_loss(model, examples, pad_id: int, batch_size: int, accelerator) -> float:
    """Per-token NLL of the targets of `examples` (dropout off), each process taking every N-th batch."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    was_training = model.training
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    for batch in batches[accelerator.process_index :: accelerator.num_processes]:
        tensors = {
            k: v.to(accelerator.device) for k, v in collate_training([examples[i] for i in batch], pad_id).items()
        }
        out = model(**tensors)
        totals += torch.tensor([out.nll_sum.item(), out.targets], dtype=torch.float64, device=accelerator.device)
    totals = accelerator.reduce(totals, "sum")
    model.train(was_training)
    return (totals[0] / totals[1]).item() if totals[1] > 0 else math.nan


class BestCheckpoint:
    """The trainable weights with the lowest dev loss seen so far."""

    def __init__(self, run_dir: Path, state: dict | None = None):
        self.folder = Path(run_dir) / BEST_DIR
        state = state or {}
        self.loss, self.step = state.get("best_dev_loss", math.inf), state.get("best_step")

    def state(self) -> dict:
        return {"best_dev_loss": self.loss, "best_step": self.step}

    def offer(self, loss: float, step: int, trainable: torch.nn.Module, write: bool) -> bool:
        """Keep the weights if `loss` is the lowest so far; returns whether they were kept."""
        if not loss < self.loss:
            return False
        self.loss, self.step = loss, step
        if write:
            with atomic_dir(self.folder) as tmp:
                save_model(trainable, str(tmp / "trainable.safetensors"))
        return True

    def restore(self, trainable: torch.nn.Module):
        """Load the kept weights into `trainable` (nothing kept: leave it as it is)."""
        if self.step is not None:
            device = next(trainable.parameters()).device
            load_model(trainable, str(self.folder / "trainable.safetensors"), device=str(device))


class DevCurve:
    """The dev losses seen so far and whether they have reached a plateau.

    A plateau: `patience` evaluations in a row without an improvement, an improvement being a loss below
    (1 - `min_improvement`) x the loss of the last improvement. `patience` 0 never stops a run early; its
    curve still says whether the last evaluation improved (`converged`).
    """

    def __init__(self, patience: int, min_improvement: float, state: dict | None = None):
        self.patience, self.min_improvement = patience, min_improvement
        state = state or {}
        self.points: list[list[float]] = [list(p) for p in state.get("dev_curve", [])]
        self.reference = state.get("plateau_reference", math.inf)
        self.since_improvement = state.get("evals_since_improvement", 0)

    def state(self) -> dict:
        return {"dev_curve": self.points, "plateau_reference": self.reference,
                "evals_since_improvement": self.since_improvement}  # fmt: skip

    def add(self, step: int, loss: float) -> None:
        self.points.append([step, loss])
        if loss < self.reference * (1 - self.min_improvement):
            self.reference, self.since_improvement = loss, 0
        else:
            self.since_improvement += 1

    @property
    def stop(self) -> bool:
        """Early stopping: the plateau has lasted `patience` evaluations (never with patience 0)."""
        return self.patience > 0 and self.since_improvement >= self.patience

    @property
    def converged(self) -> bool:
        """The run had stopped improving on dev: a plateau of `patience` evaluations (at least one)."""
        return bool(self.points) and self.since_improvement >= max(self.patience, 1)
