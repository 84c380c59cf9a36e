"""The training loss shared by every method: cross-entropy on target tokens only.

A causal LM predicts token t+1 at position t, so only the positions that predict a target token
go through the LM head (most of a small model's FLOPs at a 49k vocabulary); an encoder-decoder's
logits are already aligned with its labels. Either way the method returns a `TargetLoss`: the value
to minimize and the summed NLL of its target tokens, from which the trainer logs a per-token loss
comparable across batches, reductions and model kinds.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from prefix_tuning.core.lm_head import lm_logits

IGNORE_INDEX = -100
REDUCTIONS = ("sequence_sum", "token_mean")


class TargetLoss(NamedTuple):
    """`loss`: what the optimizer minimizes; `nll_sum` (detached) and `targets`: the summed NLL and the count of target tokens."""

    loss: torch.Tensor
    nll_sum: torch.Tensor
    targets: int


def target_loss(
    logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, batch_size: int, reduction: str
) -> TargetLoss:
    """Cross-entropy of selected target tokens (`rows`: the batch row of each): per-sequence sum averaged
    over the batch (the original code's GPT-2 loss) or the mean over tokens (its BART loss)."""
    nll = F.cross_entropy(logits.float(), targets, reduction="none")
    if reduction == "token_mean":
        loss = nll.mean()
    elif reduction == "sequence_sum":
        loss = torch.zeros(batch_size, device=nll.device, dtype=nll.dtype).index_add_(0, rows, nll).mean()
    else:
        raise ValueError(f"unknown loss reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    return TargetLoss(loss, nll.detach().sum(), int(targets.numel()))


def shifted_label_loss(lm, hidden: torch.Tensor, labels: torch.Tensor, reduction: str) -> TargetLoss:
    """Causal LM: loss of `labels` [B, T] (IGNORE_INDEX where no target) from the LM's last hidden states [B, T, d];
    position t predicts labels[t + 1]."""
    targets = labels[:, 1:]
    selected = targets != IGNORE_INDEX
    rows = torch.nonzero(selected, as_tuple=True)[0]
    logits = lm_logits(lm, hidden[:, :-1][selected])
    return target_loss(logits, targets[selected], rows, labels.shape[0], reduction)


def aligned_label_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str) -> TargetLoss:
    """Encoder-decoder: logits [B, T, V] already predict labels [B, T] position by position."""
    selected = labels != IGNORE_INDEX
    rows = torch.nonzero(selected, as_tuple=True)[0]
    return target_loss(logits[selected], labels[selected], rows, labels.shape[0], reduction)
