"""The training loss shared by every method: cross-entropy on label positions only.

The LM head (most of a small model's FLOPs at a 49k vocabulary) runs only on the positions that
predict a target token; `sequence_loss` does the reduction.
"""

import torch

from prefix_tuning.prefix_model import IGNORE_INDEX, sequence_loss


def label_positions_loss(lm, hidden: torch.Tensor, labels: torch.Tensor, reduction: str) -> torch.Tensor:
    """Loss of `labels` [B, T] (IGNORE_INDEX where no target) given the LM's last hidden states [B, T, d] at the same positions."""
    targets = labels[:, 1:]
    selected = targets != IGNORE_INDEX
    rows = torch.nonzero(selected, as_tuple=True)[0]
    logits = lm.get_output_embeddings()(hidden[:, :-1][selected])
    return sequence_loss(logits, targets[selected], rows, labels.shape[0], reduction)
