"""The task registry: which loader reads a task, which scorer scores it, and the task config's options.

A task config (configs/task/*.yaml) names the loader's splits and may add:
  loader_args: {...}          keyword arguments for the loader (WebNLG categories, XSUM extrapolation split)
  train_range / eval_range:   [start, end) slices of the split (offline smoke runs on tiny data)
  train_size, subset_seed:    a low-data random subset of the training pairs (paper section 6.2)
"""

import random

from omegaconf import OmegaConf

from prefix_tuning.errors import UserError
from prefix_tuning.tasks import dart, e2e, webnlg, xsum

# Each task package exposes load_pairs(split, **loader_args), load_eval(split, **loader_args),
# score_items(hypotheses, items) and score_file(hyps_path, refs_paths, split).
TASKS = {"e2e": e2e, "webnlg": webnlg, "dart": dart, "xsum": xsum}


def task_module(task: str):
    """The package of a task, or a UserError naming the known ones."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[task]


def _loader_args(task_cfg) -> dict:
    args = task_cfg.get("loader_args") or {}
    return OmegaConf.to_container(args, resolve=True) if OmegaConf.is_config(args) else dict(args)


def _slice(items: list, bounds, what: str) -> list:
    if not bounds:
        return items
    start, end = int(bounds[0]), int(bounds[1])
    if not 0 <= start < end <= len(items):
        raise UserError(f"{what} [{start}, {end}) is outside the split's {len(items)} items")
    return items[start:end]


def load_train_pairs(task_cfg) -> list:
    """Training pairs of the task's train split, with the optional range and low-data subset."""
    module = task_module(task_cfg.name)
    pairs = _slice(
        module.load_pairs(task_cfg.train_split, **_loader_args(task_cfg)), task_cfg.get("train_range"), "train_range"
    )
    if task_cfg.get("train_size"):
        pairs = subsample(pairs, int(task_cfg.train_size), int(task_cfg.get("subset_seed", 0)))
    return pairs


def load_eval_items(task_cfg, split: str, max_items: int | None = None) -> list:
    module = task_module(task_cfg.name)
    items = module.load_eval(split, **_loader_args(task_cfg))
    if split == task_cfg.eval_split:
        items = _slice(items, task_cfg.get("eval_range"), "eval_range")
    return items[:max_items] if max_items else items


def score(task: str, hypotheses: list[str], items) -> dict[str, float]:
    """Score outputs against the references carried by the evaluation items."""
    return task_module(task).score_items(hypotheses, items)


def subsample(pairs: list, size: int, seed: int) -> list:
    """A low-data subset (paper section 6.2): `size` pairs drawn without replacement with a subset seed."""
    if size <= 0 or size > len(pairs):
        raise UserError(f"low-data train_size must be between 1 and {len(pairs)}, got {size}")
    return random.Random(seed).sample(pairs, size)
