"""Entry points as users run them: configs compose, user mistakes give one clear line and exit 2."""

import pytest

from prefix_tuning.paths import CONFIG_DIR

TINY = ["debug=tiny", "train.max_steps=1", "eval.after_training=false"]
pytestmark = pytest.mark.needs_data


@pytest.fixture
def run(run_module):
    def train_or(args, env=None, module="prefix_tuning.train"):
        return run_module(module, *args, env=env)

    return train_or


@pytest.mark.parametrize("group", ["task", "model", "method", "logger", "experiment", "init", "debug"])
def test_every_config_composes(group, compose_cfg):
    for path in sorted((CONFIG_DIR / group).rglob("*.yaml")):
        cfg = compose_cfg(f"{group}={path.relative_to(CONFIG_DIR / group).with_suffix('')}")
        assert cfg.task.name and cfg.model.name and cfg.method.name


@pytest.mark.parametrize(
    "override, words",
    [
        ("method.prefix_length=0", ["prefix_length", "positive"]),
        ("method.prefix_length=600", ["exceeds the model's context"]),
        ("method.init=words", ["init_words"]),
        ("train.loss_reduction=median", ["loss_reduction"]),
        ("task.train_size=100000", ["train_size"]),
        ("model=hub", ["model=hub needs model.hf_id="]),
    ],
)
def test_bad_values_fail_cleanly_and_write_nothing(tmp_path, override, words, run, assert_user_error):
    run_dir = tmp_path / "run"
    assert_user_error(run([*TINY, f"run_dir={run_dir}", override]), *words)
    assert not run_dir.exists()


def test_unknown_config_choice_names_the_options(tmp_path, run):
    result = run([*TINY, f"run_dir={tmp_path / 'run'}", "task=nope"])
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "Could not find 'task/nope'" in result.stderr


def test_missing_data_dir(tmp_path, run, assert_user_error):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(
        run([*TINY, f"run_dir={tmp_path / 'run'}"], env={"PREFIX_TUNING_DATA": str(empty)}), "missing E2E file"
    )


def test_prefix_for_another_model_is_refused(tmp_path, run, assert_user_error):
    run_dir = tmp_path / "run"
    assert run([*TINY, f"run_dir={run_dir}"]).returncode == 0
    config = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(config.replace("arch: gpt2\n  seed: 0", "arch: gpt2\n  seed: 1"))
    result = run([f"run_dir={run_dir}", "max_items=2"], module="prefix_tuning.evaluate")
    assert_user_error(result, "was trained for")


@pytest.mark.needs_java
def test_train_then_evaluate_end_to_end(tmp_path, run):
    """The real entry points on a tiny model: train one step, decode 3 test MRs, score all five metrics."""
    run_dir = tmp_path / "run"
    assert run([*TINY, f"run_dir={run_dir}"]).returncode == 0
    result = run([f"run_dir={run_dir}", "max_items=3"], module="prefix_tuning.evaluate")
    assert result.returncode == 0, result.stderr[-2000:]
    for metric in ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"):
        assert metric in result.stdout
    assert len((run_dir / "eval" / "test" / "outputs.txt").read_text().splitlines()) == 3


def test_evaluate_without_a_run_dir_prints_the_usage(run, assert_user_error):
    assert_user_error(run(["max_items=2"], module="prefix_tuning.evaluate"), "run_dir is required", "usage")


def test_evaluate_of_a_folder_that_is_no_run(tmp_path, run, assert_user_error):
    assert_user_error(run([f"run_dir={tmp_path}"], module="prefix_tuning.evaluate"), "is not a training run")
