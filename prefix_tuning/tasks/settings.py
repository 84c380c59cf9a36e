"""The task config's schema (configs/task/*.yaml): checked when a job starts, before any model loads, so a
typo or a bad value fails in a second with one line instead of after training."""

from dataclasses import dataclass

from omegaconf import OmegaConf

from prefix_tuning.errors import UserError
from prefix_tuning.tasks.protocols import check_protocol

DEV_POOLS = ("train", "dev")


@dataclass(frozen=True)
class TaskSettings:
    name: str
    train_split: str
    eval_split: str
    eval_stride: int  # every k-th evaluation item
    eval_sample: int | None  # a random sample of this many evaluation items (seeded), or all
    eval_sample_seed: int
    train_size: int | None  # a low-data random subset of the training pairs
    subset_seed: int
    dev_split: str | None
    dev_size: int | None  # a random sample of this many dev pairs (seed 0), or all
    dev_fraction: float | None  # low-data dev set: this fraction of train_size
    dev_pool: str
    source_prompt: str | None
    protocol: str  # the one place the scoring protocol is set (tasks/protocols.py)
    loader_args: dict
    max_source_tokens: int
    max_target_tokens: int
    decoding: dict
    train_range: list | None = None  # [start, end) slices (offline stand-ins)
    dev_range: list | None = None
    eval_range: list | None = None

    def __post_init__(self):
        from prefix_tuning.tasks.registry import task_module

        task_module(self.name)  # an unknown task names the known ones
        check_protocol(self.protocol)
        if self.eval_stride < 1:
            raise UserError(f"task.eval_stride must be at least 1, got {self.eval_stride}")
        for key in ("eval_sample", "train_size", "dev_size"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise UserError(f"task.{key} must be a positive count or null, got {getattr(self, key)}")
        if self.dev_fraction is not None and not 0 < self.dev_fraction < 1:
            raise UserError(f"task.dev_fraction must be in (0, 1) or null, got {self.dev_fraction}")
        if self.dev_pool not in DEV_POOLS:
            raise UserError(f"unknown task.dev_pool {self.dev_pool!r}; choose one of {', '.join(DEV_POOLS)}")
        if min(self.max_source_tokens, self.max_target_tokens) < 1:
            raise UserError("task.max_source_tokens and task.max_target_tokens must be positive")

    @classmethod
    def from_config(cls, task_cfg) -> "TaskSettings":
        """The checked settings of a composed `task:` section (its decoding section checked too)."""
        from prefix_tuning.settings import from_section
        from prefix_tuning.tasks.decoding import DecodeSettings

        values = OmegaConf.to_container(task_cfg, resolve=True) if OmegaConf.is_config(task_cfg) else dict(task_cfg)
        settings = from_section(cls, values, "task")
        DecodeSettings.from_mapping(settings.decoding)
        return settings
