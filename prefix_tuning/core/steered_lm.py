"""The one small protocol every method's model follows, so the trainer, the decoder and the server
treat a prefix, an infix, adapters or a fine-tuned LM alike.

- `trainable`: the module whose parameters the trainer optimizes and checkpoints;
- `stored_values()`: the numbers kept for inference after training (a prefix: P only, its MLP dropped);
- `forward(input_ids, attention_mask, labels=None, reduction=...)`: a `TargetLoss` with labels, else logits;
- `generate(input_ids, attention_mask, **generate_kwargs)`: only the new tokens.

`lm_dropout_in_training` says whether the base LM's own dropout is on while training: off for a
causal LM under a prefix (the original GPT-2 code keeps it in eval mode), on for fine-tuning.
"""

from torch import nn


class SteeredLM(nn.Module):
    """A base LM and what steers it; subclasses are siblings (prefix, infix, adapters, tuned weights)."""

    lm_dropout_in_training = False

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm

    @property
    def trainable(self) -> nn.Module | None:
        """What the trainer optimizes and checkpoints (None: nothing, the plain LM)."""
        raise NotImplementedError

    def stored_values(self) -> int:
        """Numbers kept for inference after training."""
        raise NotImplementedError

    def added_positions(self) -> int:
        """Positions before the real tokens (a prefix's L; 0 for none): where their positions start."""
        return 0

    def generate(self, input_ids, attention_mask, **generate_kwargs):
        """Only the new tokens, [batch * num_return_sequences, new_tokens]."""
        raise NotImplementedError

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.lm_dropout_in_training:
            self.lm.eval()
        return self
