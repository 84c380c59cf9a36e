"""Reading a task config: low-data subsets and their dev splits (appendix A.2), dev splits for model selection."""

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.tasks import registry

pytestmark = pytest.mark.needs_data


@pytest.mark.parametrize("size", [50, 100, 200, 500])
def test_low_data_dev_split_is_30_percent_disjoint_and_deterministic(size, compose_cfg):
    task = compose_cfg("experiment=lowdata", f"task.train_size={size}", "task.subset_seed=3").task
    train, dev = registry.load_train_pairs(task), registry.load_dev_pairs(task)
    assert len(train) == size and len(dev) == round(0.3 * size)
    pool = set(registry.load_train_pairs(compose_cfg("task=e2e").task))
    assert set(dev) <= pool  # drawn from the training data ...
    assert not set(train) & set(dev)  # ... and disjoint from the subset
    assert registry.load_dev_pairs(task) == dev and registry.load_train_pairs(task) == train
    other = compose_cfg("experiment=lowdata", f"task.train_size={size}", "task.subset_seed=4").task
    assert registry.load_train_pairs(other) != train and registry.load_dev_pairs(other) != dev


def test_the_subset_does_not_depend_on_its_dev_split(compose_cfg):
    with_dev = compose_cfg("experiment=lowdata", "task.train_size=100").task
    without = compose_cfg("task=e2e", "task.train_size=100").task
    assert registry.load_train_pairs(with_dev) == registry.load_train_pairs(without)


def test_full_data_dev_split_and_its_range(compose_cfg):
    assert len(registry.load_dev_pairs(compose_cfg("task=e2e").task)) == 4672
    dart = compose_cfg("task=dart_offline_dev").task
    train, dev = registry.load_train_pairs(dart), registry.load_dev_pairs(dart)
    assert (len(train), len(dev)) == (6278, 702)
    assert not {p.source for p in train} & {p.source for p in dev}  # split at a triple-set boundary


def test_the_cpu_profiles_test_samples_are_every_kth_item_as_its_caption_says(compose_cfg):
    """grids.CPU_EVAL's strides: the caption promises 98 WebNLG entries (52 seen, 46 unseen) and 60 DART ones."""
    webnlg = compose_cfg("task=webnlg", "task.eval_stride=19").task
    every = registry.load_eval_items(compose_cfg("task=webnlg").task, "test")
    sample = registry.load_eval_items(webnlg, "test")
    assert sample == every[::19] and len(sample) == 98
    assert sum(item.meta["seen"] for item in sample) == 52 and sum(not item.meta["seen"] for item in sample) == 46
    dart = compose_cfg("task=dart_offline_dev", "task.eval_stride=85").task
    assert len(registry.load_eval_items(dart, "test")) == 60
    with pytest.raises(UserError, match="task.eval_stride must be at least 1, got 0"):
        registry.load_eval_items(compose_cfg("task=e2e", "task.eval_stride=0").task, "test")
