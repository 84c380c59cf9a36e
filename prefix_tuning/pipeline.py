"""The job itself, with no command line: train a method on a task, save it, decode and score.

`train_run(cfg)` and `evaluate_run(cfg, run_dir, ...)` are what the entry points (`train`, `evaluate`,
`demo`) call; `cfg` is the composed Hydra config (configs/train.yaml), saved as the run's `config.yaml`.
"""

import json
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from prefix_tuning import methods
from prefix_tuning.core.causal import PrefixLM
from prefix_tuning.core.seq2seq import Seq2SeqPrefixLM
from prefix_tuning.errors import UserError
from prefix_tuning.generation.decode import DecodeSettings, decode
from prefix_tuning.lm.loading import context_length, load_base_model, load_tokenizer, model_identity
from prefix_tuning.report.loss_plot import plot_loss
from prefix_tuning.tasks import registry
from prefix_tuning.tasks.encoding import encode_pair, encode_seq2seq_pair
from prefix_tuning.training.run_logger import RunLogger
from prefix_tuning.training.settings import TrainSettings
from prefix_tuning.training.trainer import make_accelerator, train_method


def run_identity(cfg: DictConfig, lm) -> dict:
    """What a saved method must match: the base model and its architecture (and the task it was trained on)."""
    return {"base_model": model_identity(cfg.model, lm), "architecture": lm.config.model_type, "task": cfg.task.name}


def load_run_config(run_dir: Path) -> DictConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a training run (no config.yaml)")
    return OmegaConf.load(path)


def check_fits_context(lm, prefix_length: int, task_cfg):
    """A one-line error when prefix + source + target cannot fit the model's positions."""
    target = max(task_cfg.max_target_tokens, task_cfg.decoding.max_new_tokens) + 1
    if lm.config.is_encoder_decoder:
        if not getattr(lm.config, "max_position_embeddings", None):
            return  # relative positions (T5): no limit
        # The encoder prefix takes no position; decoder tokens take positions after the decoder prefix.
        longest = max(task_cfg.max_source_tokens, prefix_length + target)
    else:
        longest = prefix_length + task_cfg.max_source_tokens + 1 + target
    if longest > context_length(lm):
        raise UserError(
            f"prefix_length {prefix_length} + source/target lengths = {longest} tokens exceeds the "
            f"model's context of {context_length(lm)}"
        )


def plain_model(lm):
    """The base model with nothing trained (zero-shot), through the same code path as a prefix model."""
    return (Seq2SeqPrefixLM if lm.config.is_encoder_decoder else PrefixLM)(lm, None)


def train_run(cfg: DictConfig) -> dict:
    """Set up, train, save the method, evaluate. Returns a summary with stage timings (also `summary.json`)."""
    timings = {}
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    settings = TrainSettings.from_mapping(cfg.train)
    accelerator = make_accelerator(cfg.mixed_precision)
    pairs = registry.load_train_pairs(cfg.task)
    tokenizer = load_tokenizer(cfg.model)
    lm = load_base_model(cfg.model, tokenizer).to(accelerator.device)
    check_fits_context(lm, int(cfg.method.get("prefix_length", 0)), cfg.task)
    encode = encode_seq2seq_pair if lm.config.is_encoder_decoder else encode_pair
    examples = [encode(tokenizer, p, cfg.task.max_source_tokens, cfg.task.max_target_tokens) for p in pairs]
    torch.manual_seed(cfg.seed)
    model = methods.build(cfg.method, lm, tokenizer)  # validates the method options before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    if accelerator.is_main_process:
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    timings["setup"] = time.perf_counter() - start

    start = time.perf_counter()
    logger = RunLogger(
        run_dir, cfg.logger.kind, cfg.logger.project, cfg.logger.mode,
        OmegaConf.to_container(cfg, resolve=True), enabled=accelerator.is_main_process,
    )  # fmt: skip
    summary = train_method(model, examples, settings, run_dir, tokenizer.pad_token_id, accelerator, logger, cfg.resume)
    if accelerator.is_main_process:
        methods.save(cfg.method, model, run_dir, run_identity(cfg, lm))
    timings["train"] = time.perf_counter() - start
    trained = sum(p.numel() for p in model.trainable.parameters() if p.requires_grad)
    base = sum(p.numel() for p in lm.parameters())
    stored = model.stored_values()
    summary.update(
        train_pairs=len(pairs), trainable_parameters=trained, base_parameters=base,
        stored_values=stored, stored_percent=100 * stored / base,
    )  # fmt: skip
    accelerator.print(
        f"trained {trained:,} parameters; saved {stored:,} values ({summary['stored_percent']:.3f}% of "
        f"the {base:,}-parameter base model) to {run_dir}"
    )

    if cfg.eval.after_training and accelerator.is_main_process:
        start = time.perf_counter()
        summary["eval"] = evaluate_run(
            cfg, run_dir, lm=lm, tokenizer=tokenizer, split=cfg.eval.split, max_items=cfg.eval.max_items
        )
        timings["eval"] = time.perf_counter() - start
        logger.log({f"eval/{k}": v for k, v in summary["eval"]["scores"].items()}, summary["steps"])
    logger.finish()
    if accelerator.is_main_process and (plot := plot_loss(run_dir)):
        accelerator.print(f"loss curve: {plot}")
    summary["timings"] = timings
    if accelerator.is_main_process:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def evaluate_run(cfg: DictConfig, run_dir: Path, lm=None, tokenizer=None, split: str | None = None,
                 max_items: int | None = None, use_prefix: bool = True, name: str | None = None) -> dict:  # fmt: skip
    """Decode and score; writes `run_dir/eval/<name>/{outputs.txt,metrics.json}` and returns the metrics."""
    run_dir = Path(run_dir)
    split = split or cfg.task.eval_split
    tokenizer = tokenizer or load_tokenizer(cfg.model)
    lm = lm or load_base_model(cfg.model, tokenizer)
    model = methods.load(cfg.method, run_dir, lm, run_identity(cfg, lm)) if use_prefix else plain_model(lm)
    items = registry.load_eval_items(cfg.task, split, max_items)
    settings = DecodeSettings.from_mapping(cfg.task.decoding)
    name = name or f"{split}{'' if use_prefix else '-zero_shot'}"
    start = time.perf_counter()
    hypotheses = decode(model, tokenizer, [item.source for item in items], settings, desc=f"decode {name}")
    decode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = registry.score(cfg.task.name, hypotheses, items)
    score_seconds = time.perf_counter() - start
    out_dir = run_dir / "eval" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "outputs.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    result = {
        "split": split, "items": len(items), "use_prefix": use_prefix, "scores": scores,
        "decode_seconds": decode_seconds, "score_seconds": score_seconds,
    }  # fmt: skip
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    result["examples"] = [(item.source, h, item.references[0]) for item, h in list(zip(items, hypotheses))[:3]]
    return result
