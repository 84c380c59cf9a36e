"""The target-token loss against an independent cross-entropy on the full logits: an off-by-one must fail it."""

import pytest
import torch
import torch.nn.functional as F

from prefix_tuning.core.label_loss import IGNORE_INDEX
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.tasks.encoding import encode_pair
from prefix_tuning.tasks.records import Pair
from prefix_tuning.training.batching import collate_training

PAIRS = [
    Pair("name : Aromi", "Aromi is a place ."),
    Pair("name : The Eagle | food : French", "The Eagle serves French food ."),
]


def reference_losses(logits, input_ids, labels):
    """Position t predicts token t+1: per row, the summed NLL of the labelled next tokens, and their count."""
    sums, counts = [], []
    for row in range(input_ids.shape[0]):
        positions = [t for t in range(input_ids.shape[1] - 1) if labels[row, t + 1] != IGNORE_INDEX]
        nll = [F.cross_entropy(logits[row, t], labels[row, t + 1]) for t in positions]
        sums.append(torch.stack(nll).sum())
        counts.append(len(positions))
    return torch.stack(sums), counts


@pytest.mark.parametrize("reduction", ["sequence_sum", "token_mean"])
def test_loss_equals_cross_entropy_of_the_next_token_on_full_logits(tiny_lm, reduction):
    _, lm, tok, _ = tiny_lm
    batch = collate_training([encode_pair(tok, p, 64, 64) for p in PAIRS], tok.pad_token_id)
    model = PrefixLM(lm, None)
    logits = model(batch["input_ids"], batch["attention_mask"])
    sums, counts = reference_losses(logits, batch["input_ids"], batch["labels"])
    out = model(**batch, reduction=reduction)
    want = sums.mean() if reduction == "sequence_sum" else sums.sum() / sum(counts)
    torch.testing.assert_close(out.loss, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.nll_sum, sums.sum(), atol=1e-4, rtol=1e-5)
    assert out.targets == sum(counts)
    # the reference is sensitive to the shift: predicting token t (not t+1) at position t gives another number
    shifted = torch.stack([F.cross_entropy(logits[0, t], batch["labels"][0, t]) for t in range(1, batch["input_ids"].shape[1])
                           if batch["labels"][0, t] != IGNORE_INDEX]).sum()  # fmt: skip
    assert not torch.isclose(shifted, sums[0], rtol=1e-3)
