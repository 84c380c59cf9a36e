"""A sweep started again skips a run that finished with the same config: settings that change only how often it
saved or logged, or how many sources decoded at once, do not make it another run; any other setting does, and
the error names it."""

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
