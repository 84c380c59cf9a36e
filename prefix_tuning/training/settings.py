"""The trainer's settings: the `train:` section of configs/train.yaml (the values and their paper sources live there)."""

from dataclasses import dataclass

from prefix_tuning.core.label_loss import REDUCTIONS
from prefix_tuning.errors import UserError
from prefix_tuning.settings import from_section
from prefix_tuning.training.batching import BATCH_ORDERS


@dataclass(frozen=True)
class TrainSettings:
    lr: float
    epochs: int
    max_steps: int  # > 0 overrides epochs
    epochs_factor: float  # the step cap is epochs x this x steps per epoch (a profile's cap, generous for its size)
    batch_size: int  # the global batch, over all processes
    grad_accum: int
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    loss_reduction: str  # sequence_sum | token_mean
    packing: bool  # examples packed end to end, no padding (models that support it: causal prefix, emb, tuned)
    checkpoint_every: int
    log_every: int
    eval_every: int  # dev loss every N steps and at the end (0: never)
    eval_batch_size: int
    select_best: bool  # keep the weights of the lowest dev loss (paper: models picked on the validation set)
    patience: int  # stop after this many dev evaluations without improvement (0: never; train to max_steps)
    min_improvement: float  # relative dev-loss drop that counts as an improvement for `patience`
    batch_order: str  # length_grouped (fast) | random (the original code's random sampler)
    seed: int

    def __post_init__(self):
        if self.loss_reduction not in REDUCTIONS:
            raise UserError(f"unknown loss_reduction {self.loss_reduction!r}; choose one of {', '.join(REDUCTIONS)}")
        for name in ("batch_size", "grad_accum", "checkpoint_every", "log_every", "eval_batch_size"):
            if getattr(self, name) <= 0:
                raise UserError(f"train.{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise UserError(f"train.lr must be positive, got {self.lr}")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise UserError("set train.epochs or train.max_steps to a positive number")
        if self.epochs_factor <= 0:
            raise UserError(f"train.epochs_factor must be positive, got {self.epochs_factor}")
        if self.patience < 0 or not 0 <= self.min_improvement < 1:
            raise UserError(
                f"train.patience must be >= 0 and train.min_improvement in [0, 1), got {self.patience}, "
                f"{self.min_improvement}"
            )
        if self.patience > 0 and self.eval_every <= 0:
            raise UserError("train.patience needs train.eval_every > 0 (the dev loss decides when to stop)")
        if self.batch_order not in BATCH_ORDERS:
            raise UserError(f"unknown train.batch_order {self.batch_order!r}; choose one of {', '.join(BATCH_ORDERS)}")
        if self.select_best and self.eval_every <= 0:
            raise UserError("train.select_best needs train.eval_every > 0 (the dev loss picks the weights kept)")

    @classmethod
    def from_mapping(cls, values) -> "TrainSettings":
        return from_section(cls, values, "train")
