"""A sweep started again skips a run that finished with the same config: settings that change only how often it
saved or logged, or how many sources decoded at once, do not make it another run; any other setting does, and
the error names it. A run trained without its evaluation and asked for again with it is evaluated, not trained."""

import json

import pytest
from omegaconf import OmegaConf, open_dict

from prefix_tuning.errors import UserError
from prefix_tuning.pipeline import finished_summary


def finished_run(tmp_path, compose_cfg, *overrides):
    cfg = compose_cfg("task=e2e", "model=tiny-gpt2", *overrides)
    with open_dict(cfg):
        cfg.run_dir = str(tmp_path)
    OmegaConf.save(cfg, tmp_path / "config.yaml", resolve=True)
    (tmp_path / "summary.json").write_text(json.dumps({"steps": 3}))
    return cfg


def test_bookkeeping_settings_do_not_make_another_run(tmp_path, compose_cfg):
    finished_run(tmp_path, compose_cfg, "train.checkpoint_every=1000", "train.log_every=10")
    again = compose_cfg("task=e2e", "model=tiny-gpt2", "train.checkpoint_every=20", "train.log_every=1",
                        "task.decoding.engine_batch_size=4", f"run_dir={tmp_path}")  # fmt: skip
    assert finished_summary(again) == {"steps": 3}


def test_an_older_config_without_a_bookkeeping_key_is_the_same_run(tmp_path, compose_cfg):
    cfg = finished_run(tmp_path, compose_cfg)
    saved = OmegaConf.load(tmp_path / "config.yaml")
    del saved.task.decoding["engine_batch_size"]  # written before the setting existed
    OmegaConf.save(saved, tmp_path / "config.yaml")
    assert finished_summary(cfg) == {"steps": 3}


def test_a_setting_that_changes_results_is_another_run_and_is_named(tmp_path, compose_cfg):
    finished_run(tmp_path, compose_cfg, "train.lr=1e-3")
    again = compose_cfg("task=e2e", "model=tiny-gpt2", "train.lr=5e-4", f"run_dir={tmp_path}")
    with pytest.raises(UserError, match=r"another config \(train\.lr: 0\.001 there, 0\.0005 now\)"):
        finished_summary(again)


def test_a_run_without_a_summary_is_resumed_not_skipped(tmp_path, compose_cfg):
    cfg = finished_run(tmp_path, compose_cfg)
    (tmp_path / "summary.json").unlink()
    assert finished_summary(cfg) is None


def sweep_one_run(run_module, folder, *overrides):
    """`python -m prefix_tuning.train -m ...` with one run named as the reproduction sweeper names its runs."""
    result = run_module("prefix_tuning.train", "-m", "debug=tiny", f"hydra.sweep.dir={folder}", "+reproduce.run=trial",
                        *overrides)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result, folder / "trial"


def train_steps_logged(run) -> int:
    return sum("train/loss" in line for line in (run / "log.jsonl").read_text().splitlines())


@pytest.mark.needs_data
def test_a_run_trained_without_its_evaluation_is_evaluated_later_not_trained_again(tmp_path, run_module):
    """What a learning-rate search does with the trial it chooses (sweeps/grids.py): the same outputs and scores
    as a run evaluated right after training, its weights untouched, no training step taken again."""
    _, straight = sweep_one_run(run_module, tmp_path / "straight")
    _, run = sweep_one_run(run_module, tmp_path / "deferred", "eval.after_training=false")
    assert "eval" not in json.loads((run / "summary.json").read_text())
    weights = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in run.glob("*.safetensors")}
    steps = train_steps_logged(run)

    again, _ = sweep_one_run(run_module, tmp_path / "deferred")
    assert f"evaluate {run}: trained earlier without its evaluation" in again.stdout
    assert {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in run.glob("*.safetensors")} == weights
    assert train_steps_logged(run) == steps
    late, direct = (json.loads((folder / "summary.json").read_text())["eval"] for folder in (run, straight))
    assert late["scores"] == direct["scores"] and late["items"] == direct["items"] == 3
    assert (run / "eval" / "test" / "outputs.txt").read_text() == (
        straight / "eval" / "test" / "outputs.txt"
    ).read_text()
    assert OmegaConf.load(run / "config.yaml").eval.after_training is True  # its record says it was decoded

    third, _ = sweep_one_run(run_module, tmp_path / "deferred")
    assert f"skip {run}: finished with the same config" in third.stdout


@pytest.mark.needs_data
def test_a_restored_run_without_its_weights_trains_again_to_be_evaluated(tmp_path, run_module):
    _, run = sweep_one_run(run_module, tmp_path / "deferred", "eval.after_training=false")
    for path in run.glob("*.safetensors"):
        path.unlink()  # a record holds config.yaml and summary.json only
    (run / "restored_from.txt").write_text("results/cpu/runs/x/trial\n")
    again, _ = sweep_one_run(run_module, tmp_path / "deferred")
    assert f"evaluate {run}" in again.stdout and list(run.glob("*.safetensors"))  # trained: its weights are back
    assert json.loads((run / "summary.json").read_text())["eval"]["items"] == 3
    assert not (run / "restored_from.txt").exists()
