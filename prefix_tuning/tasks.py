"""The task registry: which loader reads a task and which scorer scores it."""

import importlib
import random

from prefix_tuning.errors import UserError

TASKS = ("e2e", "webnlg", "dart", "xsum")


def task_module(kind: str, task: str):
    """`prefix_tuning.data.<task>` (kind='data') or `prefix_tuning.metrics.<task>` (kind='metrics')."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    name = f"prefix_tuning.{kind}.{task}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name:
            raise UserError(f"task {task!r} has no {kind} module yet") from None
        raise


def load_train_pairs(task_cfg):
    """Training pairs of the task's train split, with the optional low-data subset."""
    pairs = task_module("data", task_cfg.name).load_pairs(task_cfg.train_split)
    if task_cfg.get("train_size"):
        pairs = subsample(pairs, int(task_cfg.train_size), int(task_cfg.get("subset_seed", 0)))
    return pairs


def load_eval_items(task_cfg, split: str, max_items: int | None = None):
    items = task_module("data", task_cfg.name).load_eval(split)
    return items[:max_items] if max_items else items


def score(task: str, hypotheses: list[str], items) -> dict[str, float]:
    """Score outputs against the references carried by the evaluation items."""
    return task_module("metrics", task).score_items(hypotheses, items)


def subsample(pairs: list, size: int, seed: int) -> list:
    """A low-data subset (paper section 6.2): `size` pairs drawn without replacement with a subset seed."""
    if size <= 0 or size > len(pairs):
        raise UserError(f"low-data train_size must be between 1 and {len(pairs)}, got {size}")
    return random.Random(seed).sample(pairs, size)
