"""A finished run's record (config.yaml + summary.json kept under results/) restored into another folder counts
as that run finished; a folder that holds a run of its own is never overwritten; a record whose config differs
from the run asked for is an error naming the record."""

import json

import pytest
from omegaconf import OmegaConf, open_dict

from prefix_tuning.errors import UserError
from prefix_tuning.pipeline import finished_summary
from prefix_tuning.sweeps.run_records import keep_records, restore_records


def asked(compose_cfg, run_dir, *overrides):
    cfg = compose_cfg("task=e2e", "model=tiny-gpt2", *overrides)
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)
    return cfg


def record(tmp_path, compose_cfg, *overrides):
    """A run finished in sweep/run, kept as a record under results/runs/table2."""
    folder = tmp_path / "sweep" / "experiment=x" / "run"
    folder.mkdir(parents=True)
    cfg = asked(compose_cfg, folder, *overrides)
    OmegaConf.save(cfg, folder / "config.yaml", resolve=True)
    (folder / "summary.json").write_text(json.dumps({"steps": 3}))
    records = tmp_path / "results" / "runs" / "table2"
    assert keep_records([folder], tmp_path / "sweep", records) == 1
    return records


def test_a_restored_record_counts_as_the_run_finished(tmp_path, compose_cfg):
    records = record(tmp_path, compose_cfg, "train.lr=1e-3")
    assert restore_records(records, tmp_path / "new") == ["experiment=x/run"]
    again = asked(compose_cfg, tmp_path / "new" / "experiment=x" / "run", "train.lr=1e-3")
    assert finished_summary(again) == {"steps": 3}


def test_a_folder_holding_its_own_run_is_not_overwritten(tmp_path, compose_cfg):
    records = record(tmp_path, compose_cfg)
    own = tmp_path / "new" / "experiment=x" / "run"
    own.mkdir(parents=True)
    (own / "config.yaml").write_text("killed: run\n")
    assert restore_records(records, tmp_path / "new") == []
    assert (own / "config.yaml").read_text() == "killed: run\n" and not (own / "summary.json").exists()


def test_a_record_of_another_config_is_an_error_naming_the_record(tmp_path, compose_cfg):
    records = record(tmp_path, compose_cfg, "train.lr=1e-3")
    restore_records(records, tmp_path / "new")
    again = asked(compose_cfg, tmp_path / "new" / "experiment=x" / "run", "train.lr=5e-4")
    with pytest.raises(UserError, match=r"train\.lr: 0\.001 there, 0\.0005 now\); it came from the record .*results/"
                       r"runs/table2/experiment=x/run: delete both or sweep into another RUNS folder"):  # fmt: skip
        finished_summary(again)
