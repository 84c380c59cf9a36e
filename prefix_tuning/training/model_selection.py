"""Model selection as the paper: the validation-set loss, evaluated every `eval_every` steps, picks the
checkpoint kept (paper 5.3 "models picked on the validation set"; original code: low-data runs evaluate
every 50 steps and keep the best eval loss).

The best weights live in `run_dir/best/trainable.safetensors` (swapped in atomically), and the best loss
and step travel in the training checkpoint, so a resumed run keeps choosing exactly as an uninterrupted one.
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
