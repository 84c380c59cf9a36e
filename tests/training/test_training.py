"""The trainer on tiny models: frozen LM, gradients only in the prefix, exact resume, data parallel."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, load_model

from prefix_tuning import methods
from prefix_tuning.errors import UserError
from prefix_tuning.lm.loading import load_base_model, load_tokenizer
from prefix_tuning.paths import REPO_ROOT as REPO
from prefix_tuning.pipeline import train_run as run_training
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.encoder import PrefixEncoder
from prefix_tuning.tasks.encoding import encode_pair
from prefix_tuning.tasks.records import Pair
from prefix_tuning.training import trainer
from prefix_tuning.training.batching import collate_training, length_grouped_batches

PAIRS = [
    Pair(f"name : Place{i} | food : {f}", f"Place{i} serves {f} food .")
    for i, f in enumerate(["French", "Italian", "English", "Chinese", "Indian", "Japanese", "fast", "Thai"])
]


def tiny_examples(tok):
    return [encode_pair(tok, p, 64, 64) for p in PAIRS]


def test_loss_masks_the_source_and_gradients_reach_only_the_prefix(tiny_lm, prefix_config):
    _, lm, tok, geometry = tiny_lm
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    model = PrefixLM(lm, PrefixEncoder(prefix_config(prefix_length=3, mlp_hidden=16, dropout=0.1), geometry))
    batch = collate_training(tiny_examples(tok)[:4], tok.pad_token_id)
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    model.train()
    assert not lm.training  # the frozen LM keeps dropout off
    model(**batch).loss.backward()
    assert all(p.grad is None for p in lm.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.prefix.parameters())
    assert all(torch.equal(before[k], v) for k, v in lm.state_dict().items())


def test_sequence_sum_and_token_mean_reductions(tiny_lm, prefix_config):
    _, lm, tok, geometry = tiny_lm
    model = PrefixLM(lm, PrefixEncoder(prefix_config(prefix_length=2, mlp_hidden=None), geometry))
    batch = collate_training(tiny_examples(tok)[:3], tok.pad_token_id)
    n_targets = (batch["labels"][:, 1:] != -100).sum().item()
    seq_sum = model(**batch, reduction="sequence_sum").loss.item()
    token_mean = model(**batch, reduction="token_mean").loss.item()
    assert seq_sum * 3 == pytest.approx(token_mean * n_targets, rel=1e-5)


def test_length_grouped_batches_are_deterministic_and_cover_everything():
    lengths = [5, 50, 7, 48, 6, 49, 8, 47, 9, 46, 4, 45]
    a = length_grouped_batches(lengths, 2, seed=1, epoch=0, group=6)
    assert a == length_grouped_batches(lengths, 2, seed=1, epoch=0, group=6)
    assert a != length_grouped_batches(lengths, 2, seed=1, epoch=1, group=6)
    assert sorted(i for b in a for i in b) == list(range(12))
    assert sum(abs(lengths[b[0]] - lengths[b[1]]) for b in a) < 20  # similar lengths batched together


@pytest.fixture
def train_cfg(compose_cfg):
    return lambda run_dir, *extra: compose_cfg(
        "model=tiny-llama",
        "logger=none",
        f"run_dir={run_dir}",
        "task.train_size=24",
        "train.max_steps=6",
        "train.batch_size=4",
        "train.lr=1e-2",
        "train.checkpoint_every=2",
        "method.prefix_length=3",
        "method.mlp_hidden=16",
        "method.dropout=0.2",
        "eval.after_training=false",
        *extra,
    )


@pytest.mark.needs_data
def test_the_step_cap_is_epochs_times_epochs_factor(tmp_path, train_cfg):
    """24 pairs in batches of 4 are 6 steps an epoch: 1 epoch x 1.5 (the cpu profile's generous cap uses 2) = 9."""
    cap = ("train.max_steps=0", "train.epochs=1", "train.checkpoint_every=100")
    summary = run_training(train_cfg(tmp_path / "run", *cap, "train.epochs_factor=1.5"))
    assert (summary["steps"], summary["max_steps"]) == (9, 9)
    with pytest.raises(UserError, match="train.epochs_factor must be positive, got 0"):
        run_training(train_cfg(tmp_path / "zero", *cap, "train.epochs_factor=0"))


@pytest.mark.needs_data
def test_training_lowers_loss_and_leaves_the_trained_lm_unchanged(tmp_path, train_cfg):
    """The LM that `train_run` actually trained on (handed in, so we can look at it) is bitwise unchanged."""
    cfg = train_cfg(tmp_path / "run", "train.max_steps=30", "train.checkpoint_every=100", "method.dropout=0.0")
    tokenizer = load_tokenizer(cfg.model)
    lm = load_base_model(cfg.model, tokenizer)
    before = {name: tensor.clone() for name, tensor in lm.state_dict().items()}
    summary = run_training(cfg, lm=lm, tokenizer=tokenizer)
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert summary["steps"] == 30 and len(lines) == 3
    losses = [json.loads(line)["train/loss"] for line in lines]
    assert losses[-1] < losses[0]
    assert not lm.training and all(p.grad is None for p in lm.parameters())
    changed = [name for name, tensor in lm.state_dict().items() if not torch.equal(tensor, before[name])]
    assert changed == []


@pytest.mark.needs_data
def test_dev_loss_picks_the_weights_kept_and_a_resumed_run_picks_the_same(tmp_path, train_cfg, monkeypatch):
    """Validation every 2 steps with the lowest-dev-loss weights kept: the saved prefix is the best step's
    (logged), not the last step's, and a run killed mid-way and resumed saves the same file."""
    extra = ("train.eval_every=2", "train.select_best=true", "train.lr=3.0", "train.max_steps=8", "task.dev_size=8",
             "model=tiny-gpt2")  # fmt: skip
    run_training(train_cfg(tmp_path / "straight", *extra))
    records = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    dev = {r["step"]: r["dev/loss_per_token"] for r in records if "dev/loss_per_token" in r}
    assert sorted(dev) == [2, 4, 6, 8]
    best_step = min(dev, key=dev.get)
    assert best_step < 8  # this lr overshoots after a while: the kept weights are not the last ones
    summary = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert summary["best_step"] == best_step and summary["best_dev_loss"] == pytest.approx(dev[best_step])
    cfg = train_cfg(tmp_path / "straight", *extra)
    tokenizer = load_tokenizer(cfg.model)
    model = methods.build(cfg.method, load_base_model(cfg.model, tokenizer), tokenizer)
    load_model(model.trainable, str(tmp_path / "straight" / "best" / "trainable.safetensors"))
    saved = load_file(str(tmp_path / "straight" / "prefix.safetensors"))["prefix_kv"]
    torch.testing.assert_close(model.prefix.materialize(), saved, atol=0, rtol=0)  # the best step's P was saved
    load_model(model.trainable, str(tmp_path / "straight" / "checkpoint" / "trainable.safetensors"))
    assert not torch.equal(model.prefix.materialize(), saved)  # ... not the last step's

    def crash(step, loss):
        if step == 5:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(trainer, "on_step_end", crash)
    with pytest.raises(KeyboardInterrupt):
        run_training(train_cfg(tmp_path / "resumed", *extra))
    monkeypatch.setattr(trainer, "on_step_end", lambda step, loss: None)
    run_training(train_cfg(tmp_path / "resumed", *extra))
    straight = load_file(str(tmp_path / "straight" / "prefix.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "prefix.safetensors"))
    torch.testing.assert_close(resumed, straight, atol=0, rtol=0)


@pytest.mark.needs_data
def test_early_stopping_ends_a_run_on_a_dev_plateau_and_a_resumed_run_ends_the_same(tmp_path, train_cfg, monkeypatch):
    """lr 1.0 overshoots: the dev loss stops improving, and after `patience` evaluations without a 1% drop the
    run stops, long before its cap; its summary keeps the dev curve and says it converged. Killed on the
    plateau and resumed, it stops at the same step with the same curve and the same prefix."""
    extra = ("train.eval_every=2", "train.select_best=true", "train.lr=1.0", "train.max_steps=40",
             "task.dev_size=8", "train.patience=2", "train.min_improvement=0.01", "train.checkpoint_every=2")  # fmt: skip
    straight = run_training(train_cfg(tmp_path / "straight", *extra))
    curve = straight["dev_curve"]
    assert straight["stopped_early"] and straight["converged"] and straight["steps"] < 40 == straight["max_steps"]
    assert [step for step, _ in curve] == list(range(2, straight["steps"] + 1, 2))
    best = min(range(len(curve)), key=lambda k: curve[k][1])
    assert straight["best_step"] == curve[best][0] and straight["best_dev_loss"] == curve[best][1]
    reference = curve[0][1]  # the plateau: `patience` evaluations in a row none of which beat the last improvement
    for _, loss in curve[1:-2]:
        reference = min(reference, loss) if loss < reference * 0.99 else reference
    assert all(loss >= reference * 0.99 for _, loss in curve[-2:])

    def crash(step, loss):
        if step == straight["steps"] - 1:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(trainer, "on_step_end", crash)
    with pytest.raises(KeyboardInterrupt):
        run_training(train_cfg(tmp_path / "resumed", *extra))
    monkeypatch.setattr(trainer, "on_step_end", lambda step, loss: None)
    resumed = run_training(train_cfg(tmp_path / "resumed", *extra))
    assert (resumed["steps"], resumed["dev_curve"]) == (straight["steps"], curve)
    torch.testing.assert_close(load_file(str(tmp_path / "resumed" / "prefix.safetensors")),
                               load_file(str(tmp_path / "straight" / "prefix.safetensors")), atol=0, rtol=0)  # fmt: skip


def test_patience_needs_dev_evaluations_and_unknown_batch_orders_are_refused(tmp_path, train_cfg):
    from prefix_tuning.errors import UserError
    from prefix_tuning.training.settings import TrainSettings

    with pytest.raises(UserError, match="train.patience needs train.eval_every > 0"):
        TrainSettings.from_mapping(train_cfg(tmp_path, "train.patience=2").train)
    with pytest.raises(UserError, match="unknown train.batch_order 'sorted'; choose one of length_grouped, random"):
        TrainSettings.from_mapping(train_cfg(tmp_path, "train.batch_order=sorted").train)


def test_random_batch_order_is_a_fresh_permutation_each_epoch_and_repeatable():
    from prefix_tuning.training.batching import random_batches

    a = random_batches(23, 5, seed=1, epoch=0)
    assert a == random_batches(23, 5, seed=1, epoch=0) and a != random_batches(23, 5, seed=1, epoch=1)
    assert sorted(i for b in a for i in b) == list(range(23)) and [len(b) for b in a] == [5, 5, 5, 5, 3]


@pytest.mark.needs_data
def test_resume_after_a_crash_gives_the_same_prefix(tmp_path, monkeypatch, train_cfg):
    run_training(train_cfg(tmp_path / "straight"))

    def crash(step, loss):
        if step == 3:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(trainer, "on_step_end", crash)
    with pytest.raises(KeyboardInterrupt):
        run_training(train_cfg(tmp_path / "resumed"))
    assert not (tmp_path / "resumed" / "prefix.safetensors").exists()
    monkeypatch.setattr(trainer, "on_step_end", lambda step, loss: None)
    run_training(train_cfg(tmp_path / "resumed"))  # checkpoint at step 2, resumes to 6
    straight = load_file(str(tmp_path / "straight" / "prefix.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "prefix.safetensors"))
    torch.testing.assert_close(resumed, straight, atol=0, rtol=0)


@pytest.mark.needs_data
@pytest.mark.slow
def test_two_process_data_parallel_matches_one_process(tmp_path):
    """2 processes (gloo, CPU) with the same global batch follow the 1-process trajectory."""
    args = [
        "-m",
        "prefix_tuning.train",
        "model=tiny-gpt2",
        "logger=none",
        "task.train_size=16",
        "train.max_steps=4",
        "train.batch_size=4",
        "train.lr=1e-2",
        "method.prefix_length=3",
        "method.mlp_hidden=16",
        "eval.after_training=false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, *args, f"run_dir={tmp_path / 'one'}"], check=True, cwd=REPO, env=env)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29533",
            *args,
            f"run_dir={tmp_path / 'two'}",
        ],
        check=True,
        cwd=REPO,
        env=env,
    )
    import json

    summaries = [json.loads((tmp_path / run / "summary.json").read_text()) for run in ("one", "two")]
    assert [s["processes"] for s in summaries] == [1, 2]  # really data parallel, not two lone runs
    one = load_file(str(tmp_path / "one" / "prefix.safetensors"))["prefix_kv"]
    two = load_file(str(tmp_path / "two" / "prefix.safetensors"))["prefix_kv"]
    assert not torch.equal(one, torch.zeros_like(one))
    torch.testing.assert_close(two, one, atol=1e-5, rtol=1e-4)


@pytest.mark.needs_data
def test_wandb_logs_offline_without_network(tmp_path, train_cfg):
    cfg = train_cfg(tmp_path / "run", "logger=wandb", "train.max_steps=2")
    run_training(cfg)
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
