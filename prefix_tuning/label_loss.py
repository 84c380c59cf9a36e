"""The training loss shared by every method: cross-entropy on label positions only.

The LM head (most of a small model's FLOPs at a 49k vocabulary) runs only on the positions that
predict a target token; `sequence_loss` does the reduction.
"""

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
REDUCTIONS = ("sequence_sum", "token_mean")


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, batch_size: int, reduction: str):
    """Cross-entropy on target tokens: per-sequence sum averaged over the batch (original code) or token mean."""
    nll = F.cross_entropy(logits.float(), targets, reduction="none")
    if reduction == "token_mean":
        return nll.mean()
    if reduction == "sequence_sum":
        return torch.zeros(batch_size, device=nll.device, dtype=nll.dtype).index_add_(0, rows, nll).mean()
    raise ValueError(f"unknown loss reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")


def label_positions_loss(lm, hidden: torch.Tensor, labels: torch.Tensor, reduction: str) -> torch.Tensor:
    """Loss of `labels` [B, T] (IGNORE_INDEX where no target) given the LM's last hidden states [B, T, d] at the same positions."""
    targets = labels[:, 1:]
    selected = targets != IGNORE_INDEX
    rows = torch.nonzero(selected, as_tuple=True)[0]
    logits = lm.get_output_embeddings()(hidden[:, :-1][selected])
    return sequence_loss(logits, targets[selected], rows, labels.shape[0], reduction)
