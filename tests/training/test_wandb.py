"""Weights & Biases, offline: a run's `.wandb` file, read here with no server and no wandb reader (the
file is a block log of protobuf records), carries the group, job type, tags, name, resolved config,
final metrics, stored % and the sample-output table."""

import json
import struct

import pytest

from prefix_tuning.pipeline import train_run

pytestmark = [pytest.mark.needs_data, pytest.mark.needs_java]
BLOCK = 32 * 1024  # the log's block size; a record header never straddles blocks
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path):
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", data[:7])
    assert (ident, magic) == (b":W&B", 0xBEE1)
    payloads, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        space = BLOCK - pos % BLOCK
        if space < 7:  # the tail of a block too short for a header is padding
            pos += space
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == FULL:
            payloads.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            payloads.append(pending + chunk)
    return [wandb_internal_pb2.Record.FromString(p) for p in payloads]


def test_offline_run_file_has_group_tags_config_summary_and_samples(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    cfg = compose_cfg("debug=tiny", "logger=wandb", f"run_dir={run_dir}", "+reproduce.artifact=table2",
                      "+reproduce.profile=smoke", "+reproduce.run='experiment=table2/e2e_prefix'")  # fmt: skip
    summary = train_run(cfg)
    (path,) = list(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    records = read_records(path)
    kinds = [r.WhichOneof("record_type") for r in records]
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert (run.run_group, run.job_type) == ("table2-smoke", "train")
    assert list(run.tags) == ["e2e", "prefix", "smoke"] and run.display_name == "experiment=table2_e2e_prefix"
    updates = [r.run.config if r.WhichOneof("record_type") == "run" else r.config for r in records
               if r.WhichOneof("record_type") in ("run", "config")]  # fmt: skip
    config = {
        item.key: json.loads(item.value_json) for update in updates for item in update.update
    }  # resolved Hydra config
    assert config["method"]["prefix_length"] == cfg.method.prefix_length and config["train"]["max_steps"] == 3
    assert config["reproduce"]["artifact"] == "table2"
    final = {
        item.key: json.loads(item.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for item in r.summary.update
    }
    assert final["eval/BLEU"] == pytest.approx(summary["eval"]["scores"]["BLEU"])
    assert final["stored_percent"] == pytest.approx(summary["stored_percent"])
    history = [
        {i.key or i.nested_key[0]: i.value_json for i in r.history.item}
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    assert any("train/loss_per_token" in h for h in history)  # the loss curve
    assert any("eval/samples" in h for h in history) and "run" in kinds  # the table of sample outputs
