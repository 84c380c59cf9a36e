"""The task registry: which loader reads a task, which scorer scores it, and the task config's options.

A task config (configs/task/*.yaml) names the loader's splits and may add:
  loader_args: {...}          keyword arguments for the loader (WebNLG categories, XSUM extrapolation split)
  train_range / eval_range:   [start, end) slices of the split (offline smoke runs on tiny data)
  eval_stride:                every k-th evaluation item (a sample spread over the split)
  eval_sample, eval_sample_seed: a random sample of N evaluation items drawn with a seed (the same items for
                              every run with the same seed), kept in split order
  train_size, subset_seed:    a low-data random subset of the training pairs (paper section 6.2)
  dev_split, dev_range, dev_size: the pairs whose loss selects the checkpoint kept (train.eval_every);
                              dev_range slices the split, dev_size draws that many at random (seed 0)
  dev_fraction, dev_pool:     low-data: a dev set of dev_fraction x train_size pairs drawn with the subset
                              (appendix A.2: 30%), from the training pool (disjoint from the subset) or the dev split
"""

import functools
import json
import random
from dataclasses import replace

from omegaconf import OmegaConf

from prefix_tuning.errors import UserError
from prefix_tuning.tasks import dart, e2e, webnlg, xsum

DEV_SAMPLE_SEED = 0  # task.dev_size draws its dev pairs with this seed (the same pairs for every run)

# Each task package exposes load_pairs(split, **loader_args), load_eval(split, **loader_args),
# score_items(hypotheses, items), item_stats(hypotheses, items, protocol) and score_file(hyps_path, refs_paths, split).
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


@functools.lru_cache(maxsize=8)
def _cached_pairs(task: str, split: str, loader_args: str) -> tuple:
    """A split's pairs, read once per process (a sweep's runs share them; pairs are immutable)."""
    return tuple(task_module(task).load_pairs(split, **json.loads(loader_args)))


def _pairs(task_cfg, split: str) -> list:
    return list(_cached_pairs(task_cfg.name, split, json.dumps(_loader_args(task_cfg), sort_keys=True, default=str)))


def _train_pool(task_cfg) -> list:
    return _slice(_pairs(task_cfg, task_cfg.train_split), task_cfg.get("train_range"), "train_range")


def load_train_pairs(task_cfg) -> list:
    """Training pairs of the task's train split, with the optional range and low-data subset."""
    pairs = _train_pool(task_cfg)
    if task_cfg.get("train_size"):
        pairs = subsample(pairs, int(task_cfg.train_size), int(task_cfg.get("subset_seed", 0)))[0]
    return pairs


def dev_size_of(task_cfg) -> int:
    """The low-data dev set's size: dev_fraction x train_size, at least 1 (0 without a low-data subset)."""
    if not task_cfg.get("train_size") or not task_cfg.get("dev_fraction"):
        return 0
    return max(1, round(float(task_cfg.dev_fraction) * int(task_cfg.train_size)))


def load_dev_pairs(task_cfg) -> list:
    """The pairs whose loss picks the checkpoint kept: a low-data subset's own dev set, or the dev split."""
    size, pool = dev_size_of(task_cfg), task_cfg.get("dev_pool", "train")
    if size and pool == "train":
        return subsample(_train_pool(task_cfg), int(task_cfg.train_size), int(task_cfg.get("subset_seed", 0)), size)[1]
    if not task_cfg.get("dev_split"):
        raise UserError(f"task {task_cfg.name} has no dev_split for train.eval_every (set task.dev_split)")
    pairs = _pairs(task_cfg, task_cfg.dev_split)
    if size:  # low-data dev drawn from the dev split (the original XSUM low-data runs)
        return subsample(pairs, size, int(task_cfg.get("subset_seed", 0)))[0]
    pairs = _slice(pairs, task_cfg.get("dev_range"), "dev_range")
    cap = task_cfg.get("dev_size")
    if not cap or int(cap) >= len(pairs):
        return pairs
    return [pairs[i] for i in sorted(random.Random(DEV_SAMPLE_SEED).sample(range(len(pairs)), int(cap)))]


def load_eval_items(task_cfg, split: str, max_items: int | None = None) -> list:
    """Evaluation items of a split, each with its position in the split (`meta["index"]`, which pairs the
    items of two runs): the eval split's `eval_range` slice, every `eval_stride`-th item (a sample spread over
    a split ordered by category, such as WebNLG's), a seeded random sample of `eval_sample` items (in split
    order), then the first `max_items` (quick looks only: a split's first items are not a sample)."""
    module = task_module(task_cfg.name)
    items = [
        replace(item, meta={**item.meta, "index": k})
        for k, item in enumerate(module.load_eval(split, **_loader_args(task_cfg)))
    ]
    if split == task_cfg.eval_split:
        items = _slice(items, task_cfg.get("eval_range"), "eval_range")
        stride = task_cfg.get("eval_stride")
        stride = 1 if stride is None else int(stride)
        if stride < 1:
            raise UserError(f"task.eval_stride must be at least 1, got {stride}")
        items = items[::stride]
        sample = task_cfg.get("eval_sample")
        if sample and int(sample) < len(items):
            chosen = random.Random(int(task_cfg.get("eval_sample_seed", 0))).sample(range(len(items)), int(sample))
            items = [items[k] for k in sorted(chosen)]
    return items[:max_items] if max_items else items


def score(task: str, hypotheses: list[str], items, protocol: str, java: bool = True) -> dict[str, float]:
    """Score outputs against the references carried by the evaluation items (`tasks/protocols.py`);
    `java=False` leaves out the metrics a Java program computes (METEOR; E2E's ROUGE-L and CIDEr too)."""
    return task_module(task).score_items(hypotheses, items, protocol, java)


def item_stats(task: str, hypotheses: list[str], items, protocol: str) -> dict:
    """Per-item statistics of the task's claim metrics, for the reports' bootstrap (scoring/item_stats.py)."""
    return task_module(task).item_stats(hypotheses, items, protocol)


def subsample(pairs: list, size: int, seed: int, dev_size: int = 0) -> tuple[list, list]:
    """A low-data subset (paper section 6.2) and its dev set: `size` + `dev_size` pairs drawn without
    replacement with the subset seed; the first `size` train, the rest are the (disjoint) dev pairs.
    The training subset is the same whatever `dev_size` is."""
    if size <= 0 or size + dev_size > len(pairs):
        raise UserError(
            f"low-data train_size (+ its dev set) must be between 1 and {len(pairs)}, got {size} + {dev_size}"
        )
    drawn = random.Random(seed).sample(range(len(pairs)), size + dev_size)
    return [pairs[i] for i in drawn[:size]], [pairs[i] for i in drawn[size:]]
