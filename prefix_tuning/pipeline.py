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
from prefix_tuning.errors import UserError
from prefix_tuning.generation.chat_prompt import ChatPrompt
from prefix_tuning.generation.decode import DecodeSettings, decode
from prefix_tuning.lm.loading import context_length, load_base_model, load_tokenizer, model_identity
from prefix_tuning.paths import code_version
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.seq2seq import Seq2SeqPrefixLM
from prefix_tuning.prefix.word_init import init_token_ids
from prefix_tuning.reporting.loss_plot import plot_loss
from prefix_tuning.sweeps.run_records import RESTORED_MARK
from prefix_tuning.tasks import registry
from prefix_tuning.tasks.encoding import encode_pair, encode_seq2seq_pair, prompt_ids
from prefix_tuning.tasks.records import Pair
from prefix_tuning.tasks.settings import TaskSettings
from prefix_tuning.training.run_logger import RunLogger, wandb_identity
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


# Settings that change where a run lives, how often it saves or logs, how many sources decode at once (the
# engine's text is the same at any width: tests/generation) or whether its test set is decoded yet, never its
# numbers: a run that differs only in these is the same run (so a run restored from its record under results/
# counts as finished: sweeps/run_records.py).
RESULT_NEUTRAL = (
    ("run_dir",),
    ("train", "checkpoint_every"),
    ("train", "log_every"),
    ("task", "decoding", "engine_batch_size"),
    ("eval", "after_training"),  # a run trained without its evaluation is evaluated when asked again with it
)


# Settings added after runs were recorded, each with the value that reproduces what those runs did: a saved config
# without the setting is read with that value, so adding a setting does not orphan every finished run (a run
# recorded before it exists is the same run as one asking for the old behaviour). Add here whatever you add to a
# config section that recorded runs have (results/*/runs/).
ADDED_SETTINGS: dict[tuple[str, ...], object] = {
    ("train", "epochs_factor"): 1,  # 2026-12-08: runs recorded before it trained for train.epochs
}


def _result_config(cfg, saved: bool = False) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    for *parents, key in ADDED_SETTINGS if saved else ():
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node.setdefault(key, ADDED_SETTINGS[(*parents, key)])
    for *parents, key in RESULT_NEUTRAL:
        node = config
        for parent in parents:
            node = node.get(parent) or {}
        node.pop(key, None)
    return config


def finished_summary(cfg: DictConfig) -> dict | None:
    """The summary of a run that already finished in `cfg.run_dir` with this very config (up to RESULT_NEUTRAL);
    None if there is none (a killed run resumes from its checkpoint). A folder holding another config is an
    error naming the first setting that differs."""
    run_dir = Path(cfg.run_dir)
    if not (run_dir / "config.yaml").is_file():
        return None
    saved, wanted = _result_config(OmegaConf.load(run_dir / "config.yaml"), saved=True), _result_config(cfg)
    if saved != wanted:
        mark = run_dir / RESTORED_MARK
        hint = f"it came from the record {mark.read_text().strip()}: delete both" if mark.is_file() else "remove it"
        raise UserError(
            f"{run_dir} holds a run with another config ({_first_difference(saved, wanted)}); "
            f"{hint} or sweep into another RUNS folder"
        )
    summary = run_dir / "summary.json"
    return json.loads(summary.read_text()) if summary.is_file() else None


def _first_difference(saved, wanted, path: str = "") -> str:
    """`key: saved -> wanted` for the first differing setting, in the saved config's order."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key in [*saved, *(k for k in wanted if k not in saved)]:
            if saved.get(key, "<unset>") != wanted.get(key, "<unset>"):
                return _first_difference(saved.get(key, "<unset>"), wanted.get(key, "<unset>"), f"{path}{key}.")
    return f"{path.rstrip('.')}: {saved!r} there, {wanted!r} now"


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


def added_positions(method_cfg, tokenizer) -> int:
    """Positions a method puts before the real tokens (a prefix's L; word init: the words' token count)."""
    length = method_cfg.get("prefix_length")
    if length is None and method_cfg.get("init") == "words" and method_cfg.get("init_words"):
        length = len(init_token_ids(tokenizer, method_cfg.init_words))
    return int(length or 0)


def encode_examples(tokenizer, pairs, task_cfg, seq2seq: bool) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels of training pairs, with the task's source prompt (if any) before each source."""
    if seq2seq:
        prompt = f"{task_cfg.source_prompt} " if task_cfg.get("source_prompt") else ""
        return [
            encode_seq2seq_pair(
                tokenizer, Pair(prompt + p.source, p.target), task_cfg.max_source_tokens, task_cfg.max_target_tokens
            )
            for p in pairs
        ]
    prompt = prompt_ids(tokenizer, task_cfg.get("source_prompt"))
    return [encode_pair(tokenizer, p, task_cfg.max_source_tokens, task_cfg.max_target_tokens, prompt) for p in pairs]


def train_run(cfg: DictConfig, lm=None, tokenizer=None) -> dict:
    """Set up, train, save the method, evaluate. Returns a summary with stage timings (also `summary.json`).

    `lm`/`tokenizer`: use these instead of loading the configured model (tests look at the LM trained).
    """
    timings = {}
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    settings = TrainSettings.from_mapping(cfg.train)
    TaskSettings.from_config(cfg.task)  # a typo in the task or its decoding fails here, not after training
    accelerator = make_accelerator(cfg.mixed_precision)
    pairs = registry.load_train_pairs(cfg.task)
    dev_pairs = registry.load_dev_pairs(cfg.task) if settings.eval_every > 0 else []
    tokenizer = tokenizer or load_tokenizer(cfg.model)
    lm = (lm or load_base_model(cfg.model, tokenizer)).to(accelerator.device)
    check_fits_context(lm, added_positions(cfg.method, tokenizer), cfg.task)
    seq2seq = lm.config.is_encoder_decoder
    examples = encode_examples(tokenizer, pairs, cfg.task, seq2seq)
    dev_examples = encode_examples(tokenizer, dev_pairs, cfg.task, seq2seq)
    torch.manual_seed(cfg.seed)
    model = methods.build(cfg.method, lm, tokenizer)  # validates the method options before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    if accelerator.is_main_process:
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    timings["setup"] = time.perf_counter() - start

    start = time.perf_counter()
    logger = RunLogger(run_dir, cfg.logger, OmegaConf.to_container(cfg, resolve=True), accelerator.is_main_process,
                       job_type="train", **wandb_identity(cfg))  # fmt: skip
    pad = tokenizer.pad_token_id
    summary = train_method(model, examples, settings, run_dir, pad, accelerator, logger, cfg.resume, dev_examples)
    if accelerator.is_main_process:
        methods.save(cfg.method, model, run_dir, run_identity(cfg, lm))
    timings["train"] = time.perf_counter() - start
    trained = sum(p.numel() for p in model.trainable.parameters() if p.requires_grad)
    base = sum(p.numel() for p in lm.parameters())
    stored = model.stored_values()
    summary.update(
        train_pairs=len(pairs), dev_pairs=len(dev_pairs), prefix_length=added_positions(cfg.method, tokenizer),
        trainable_parameters=trained, base_parameters=base,
        stored_values=stored, stored_percent=100 * stored / base,
    )  # fmt: skip
    accelerator.print(
        f"trained {trained:,} parameters; saved {stored:,} values ({summary['stored_percent']:.3f}% of "
        f"the {base:,}-parameter base model) to {run_dir}"
    )

    if cfg.eval.after_training and accelerator.is_main_process:
        timings["eval"] = _evaluate_into(summary, cfg, logger, lm, tokenizer)
    logger.finish()
    if accelerator.is_main_process and (plot := plot_loss(run_dir)):
        accelerator.print(f"loss curve: {plot}")
    summary["timings"] = timings
    summary["code"] = code_version()
    if accelerator.is_main_process:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _evaluate_into(summary: dict, cfg: DictConfig, logger: RunLogger, lm=None, tokenizer=None) -> float:
    """Decode and score the run's saved method into `summary["eval"]`, logged; returns the seconds it took."""
    start = time.perf_counter()
    summary["eval"] = evaluate_run(
        cfg, Path(cfg.run_dir), lm=lm, tokenizer=tokenizer, split=cfg.eval.split, max_items=cfg.eval.max_items
    )
    final = {f"eval/{k}": v for k, v in summary["eval"]["scores"].items()}
    logger.log(final, summary["steps"])
    logger.summarize({**final, "stored_percent": summary["stored_percent"]}, summary["eval"]["samples"])
    return time.perf_counter() - start


def evaluate_trained_run(cfg: DictConfig, summary: dict) -> dict | None:
    """A run that finished training with `eval.after_training=false`, asked for again with it true: decode and score
    the weights it saved instead of training again (a learning-rate search decodes the test set for the chosen
    rate's trial only: sweeps/grids.py). None when its weights are not here (a run restored from its record): it
    trains again."""
    run_dir = Path(cfg.run_dir)
    if (run_dir / RESTORED_MARK).is_file():
        (run_dir / RESTORED_MARK).unlink()
        (run_dir / "summary.json").unlink()
        return None
    logger = RunLogger(run_dir, cfg.logger, OmegaConf.to_container(cfg, resolve=True), job_type="eval",
                       **wandb_identity(cfg))  # fmt: skip
    summary.setdefault("timings", {})["eval"] = _evaluate_into(summary, cfg, logger)
    logger.finish()
    summary["eval_code"] = code_version()  # the code that decoded it, when it differs from the training's
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)  # the record says its test set was decoded
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def evaluate_run(
    cfg: DictConfig, run_dir: Path, lm=None, tokenizer=None, split: str | None = None,
    max_items: int | None = None, use_prefix: bool = True, chat: ChatPrompt | None = None,
) -> dict:  # fmt: skip
    """Decode and score; writes `run_dir/eval/<name>/{outputs.txt,metrics.json}` and returns the metrics.

    `use_prefix=False`: the base model alone, on the same inputs, or prompted as `chat` says (the discrete-prompt
    baseline, `generation/chat_prompt.py`: zero-shot with no training pairs in it, few-shot with some).
    """
    run_dir = Path(run_dir)
    split = split or cfg.task.eval_split
    tokenizer = tokenizer or load_tokenizer(cfg.model)
    lm = lm or load_base_model(cfg.model, tokenizer)
    model = methods.load(cfg.method, run_dir, lm, run_identity(cfg, lm)) if use_prefix else plain_model(lm)
    items = registry.load_eval_items(cfg.task, split, max_items)
    settings = DecodeSettings.from_mapping(cfg.task.decoding)
    few_shot = len(chat.examples) if chat is not None and not use_prefix else 0
    mode = "method" if use_prefix else ("few_shot" if few_shot else "zero_shot")
    name = split if use_prefix else f"{split}-{mode}"
    prompt = prompt_ids(tokenizer, cfg.task.get("source_prompt")) if use_prefix else []
    encode = (
        None
        if use_prefix or chat is None
        else (lambda source: chat.encode(tokenizer, source, settings.max_source_tokens))
    )
    start = time.perf_counter()
    sources = [item.source for item in items]
    hypotheses = decode(model, tokenizer, sources, settings, desc=f"decode {name}", prompt=prompt, encode=encode)
    decode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    protocol = TaskSettings.from_config(cfg.task).protocol
    scores = registry.score(cfg.task.name, hypotheses, items, protocol, bool(cfg.eval.get("java_metrics", True)))
    item_stats = registry.item_stats(cfg.task.name, hypotheses, items, protocol)  # the reports' bootstrap
    score_seconds = time.perf_counter() - start
    out_dir = run_dir / "eval" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "outputs.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    result = {
        "split": split, "items": len(items), "use_prefix": use_prefix, "mode": mode, "few_shot": few_shot,
        "protocol": protocol, "scores": scores, "decode_seconds": decode_seconds, "score_seconds": score_seconds,
        **({"chat_prompt": {"instruction": chat.instruction, "pairs": few_shot}} if encode else {}),
        "item_stats": item_stats,
    }  # fmt: skip
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    result["samples"] = [(item.source, h, item.references[0]) for item, h in list(zip(items, hypotheses))[:20]]
    result["examples"] = result["samples"][:3]
    return result
