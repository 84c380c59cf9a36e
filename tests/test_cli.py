"""Entry points as users run them: configs compose, user mistakes give one clear line and exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG_DIR, compose_config

REPO = Path(__file__).resolve().parent.parent
TINY = ["model=tiny-gpt2", "logger=none", "task.train_size=8", "train.max_steps=1", "train.batch_size=4",
        "eval.after_training=false"]


def run(args, env=None, module="prefix_tuning.train"):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("group", ["task", "model", "method", "logger", "experiment"])
def test_every_config_composes(group):
    for path in sorted(Path(CONFIG_DIR, group).glob("*.yaml")):
        cfg = compose_config(f"{group}={path.stem}")
        assert cfg.task.name and cfg.model.name and cfg.method.name


def assert_user_error(result, *words):
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in errors[0]


@pytest.mark.parametrize("override, words", [
    ("method.prefix_length=0", ["prefix_length", "positive"]),
    ("method.prefix_length=600", ["exceeds the model's context"]),
    ("method.init=words", ["init_words"]),
    ("train.loss_reduction=median", ["loss_reduction"]),
    ("task.train_size=100000", ["train_size"]),
])
def test_bad_values_fail_cleanly_and_write_nothing(tmp_path, override, words):
    run_dir = tmp_path / "run"
    assert_user_error(run([*TINY, f"run_dir={run_dir}", override]), *words)
    assert not run_dir.exists()


def test_unknown_config_choice_names_the_options(tmp_path):
    result = run([*TINY, f"run_dir={tmp_path / 'run'}", "task=nope"])
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "Could not find 'task/nope'" in result.stderr


def test_missing_data_dir(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run([*TINY, f"run_dir={tmp_path / 'run'}"], env={"PREFIX_TUNING_DATA": str(empty)}), "missing E2E file")


def test_prefix_for_another_model_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    assert run([*TINY, f"run_dir={run_dir}"]).returncode == 0
    config = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(config.replace("arch: gpt2\n  seed: 0", "arch: gpt2\n  seed: 1"))
    result = run([f"run_dir={run_dir}", "max_items=2"], module="prefix_tuning.evaluate")
    assert_user_error(result, "was trained for")


def test_train_then_evaluate_end_to_end(tmp_path):
    """The real entry points on a tiny model: train one step, decode 3 test MRs, score all five metrics."""
    run_dir = tmp_path / "run"
    assert run([*TINY, f"run_dir={run_dir}"]).returncode == 0
    result = run([f"run_dir={run_dir}", "max_items=3"], module="prefix_tuning.evaluate")
    assert result.returncode == 0, result.stderr[-2000:]
    for metric in ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"):
        assert metric in result.stdout
    assert len((run_dir / "eval" / "test" / "outputs.txt").read_text().splitlines()) == 3
