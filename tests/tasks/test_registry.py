"""Reading a task config: low-data subsets and their dev splits (appendix A.2), dev splits for model selection."""

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.tasks import registry

pytestmark = pytest.mark.needs_data("e2e", "webnlg2017", "dart")


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


def test_eval_stride_takes_every_kth_item(compose_cfg):
    webnlg = compose_cfg("task=webnlg", "task.eval_stride=19").task
    every = registry.load_eval_items(compose_cfg("task=webnlg").task, "test")
    sample = registry.load_eval_items(webnlg, "test")
    assert sample == every[::19] and len(sample) == 98
    assert [item.meta["index"] for item in sample] == list(range(0, 1862, 19))
    with pytest.raises(UserError, match="task.eval_stride must be at least 1, got 0"):
        registry.load_eval_items(compose_cfg("task=e2e", "task.eval_stride=0").task, "test")


def test_the_cpu_profiles_test_samples_are_random_seeded_and_the_same_for_every_run(compose_cfg):
    """configs/profile/cpu.yaml: a random 200 of the 630 E2E test MRs (seed 0), in split order, each item knowing
    its position; the E2E test file is grouped by restaurant, so the first 200 would be a few restaurants."""
    task = compose_cfg("task=e2e", "task.eval_sample=200").task
    every = registry.load_eval_items(compose_cfg("task=e2e").task, "test")
    sample = registry.load_eval_items(task, "test")
    ids = [item.meta["index"] for item in sample]
    assert len(sample) == 200 and ids == sorted(ids) and ids != list(range(200)) and max(ids) > 600
    assert [item.source for item in sample] == [every[k].source for k in ids]
    assert registry.load_eval_items(task, "test") == sample  # the same items for every method and seed
    other = compose_cfg("task=e2e", "task.eval_sample=200", "task.eval_sample_seed=1").task
    assert registry.load_eval_items(other, "test") != sample
    webnlg = registry.load_eval_items(compose_cfg("task=webnlg", "task.eval_sample=300").task, "test")
    assert 100 < sum(not item.meta["seen"] for item in webnlg) < 200  # both S and U columns get items


def test_dev_size_draws_random_dev_pairs(compose_cfg):
    pairs = registry.load_dev_pairs(compose_cfg("task=e2e").task)
    sample = registry.load_dev_pairs(compose_cfg("task=e2e", "task.dev_size=100").task)
    assert len(sample) == 100 and set(sample) <= set(pairs) and sample != pairs[:100]


@pytest.mark.parametrize(
    ("override", "words"),
    [("task.protocol=papr", "unknown scoring protocol 'papr'; choose one of paper, challenge"),
     ("+task.eval_smaple=200", "unknown task option(s): eval_smaple"),
     ("task.dev_pool=test", "unknown task.dev_pool 'test'"),
     ("task.decoding.num_beams=0", "num_beams"),
     ("task.eval_sample=0", "task.eval_sample must be a positive count")],
)  # fmt: skip
def test_a_bad_task_config_fails_at_start_before_any_model_loads(override, words, run_module, assert_user_error):
    """The task schema (tasks/settings.py) is checked first: a typo fails in seconds, not after training."""
    result = run_module("prefix_tuning.train", "debug=tiny", "run_dir=/nonexistent/run", override, timeout=120)
    assert_user_error(result, words)


def test_the_pipelines_scoring_path_honours_the_protocol():
    """registry.score (what every run's evaluation calls) scores E2E against the tokenized references under
    "paper" and the CSV ones under "challenge", and DART's outputs in the official references' form."""
    from prefix_tuning.tasks.dart import data as dart_data
    from prefix_tuning.tasks.e2e.data import load_eval

    items = load_eval("test")[:40]
    system = [item.meta["tokenized_references"][0] for item in items]  # the authors' tokenized form
    paper = registry.score("e2e", system, items, "paper", java=False)["BLEU"]
    challenge = registry.score("e2e", system, items, "challenge", java=False)["BLEU"]
    assert paper == pytest.approx(1.0) and challenge < 0.98
    dart = dart_data.load_eval("test")[:40]
    cased = [item.references[0].upper() for item in dart]  # the paper protocol lowercases both sides
    assert registry.score("dart", cased, dart, "paper", java=False)["BLEU"] > 99
    assert registry.score("dart", cased, dart, "challenge", java=False)["BLEU"] < 50


def test_an_evaluation_scores_with_its_tasks_protocol(tmp_path, compose_cfg, monkeypatch):
    """evaluate_run passes the run config's task.protocol to the scorer (and records it)."""
    from prefix_tuning import pipeline

    seen = []
    real = registry.score
    monkeypatch.setattr(
        registry,
        "score",
        lambda task, h, items, protocol, java: seen.append(protocol) or real(task, h, items, protocol, java),
    )  # noqa: E501
    for protocol in ("challenge", "paper"):
        cfg = compose_cfg(
            "debug=tiny", f"run_dir={tmp_path / protocol}", f"task.protocol={protocol}", "eval.java_metrics=false"
        )
        summary = pipeline.train_run(cfg)
        assert summary["eval"]["protocol"] == protocol
    assert seen == ["challenge", "paper"]
