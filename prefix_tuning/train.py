"""Train a prefix for a frozen LM, save it, then decode and score (Hydra entry point).

    python -m prefix_tuning.train task=e2e model=smollm2-135m method=prefix [train.max_steps=..] [logger=none]
"""

import json
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from prefix_tuning import methods, tasks
from prefix_tuning.base_model import context_length, load_base_model, load_tokenizer
from prefix_tuning.data.batching import encode_pair, encode_seq2seq_pair
from prefix_tuning.errors import UserError, exit_on_user_error
from prefix_tuning.evaluate import evaluate_run, run_identity
from prefix_tuning.plots import plot_loss
from prefix_tuning.run_logger import RunLogger
from prefix_tuning.trainer import TrainSettings, make_accelerator, train_method

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


def check_fits_context(lm, prefix_length: int, task_cfg):
    target = max(task_cfg.max_target_tokens, task_cfg.decoding.max_new_tokens) + 1
    if lm.config.is_encoder_decoder:
        if not getattr(lm.config, "max_position_embeddings", None):
            return  # relative positions (T5): no limit
        # The encoder prefix takes no position; decoder tokens take positions after the decoder prefix.
        longest = max(task_cfg.max_source_tokens, prefix_length + target)
    else:
        longest = prefix_length + task_cfg.max_source_tokens + 1 + target
    if longest > context_length(lm):
        raise UserError(f"prefix_length {prefix_length} + source/target lengths = {longest} tokens exceeds the "
                        f"model's context of {context_length(lm)}")


def run_training(cfg: DictConfig) -> dict:
    """The whole job: set up, train, save the prefix, evaluate. Returns a summary with stage timings."""
    timings = {}
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    settings = TrainSettings.from_mapping(cfg.train)
    accelerator = make_accelerator(cfg.mixed_precision)
    pairs = tasks.load_train_pairs(cfg.task)
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
    logger = RunLogger(run_dir, cfg.logger.kind, cfg.logger.project, cfg.logger.mode,
                       OmegaConf.to_container(cfg, resolve=True), enabled=accelerator.is_main_process)
    summary = train_method(model, examples, settings, run_dir, tokenizer.pad_token_id, accelerator, logger, cfg.resume)
    if accelerator.is_main_process:
        methods.save(cfg.method, model, run_dir, run_identity(cfg, lm))
    timings["train"] = time.perf_counter() - start
    trained = sum(p.numel() for p in model.trainable.parameters() if p.requires_grad)
    base = sum(p.numel() for p in lm.parameters())
    stored = model.stored_values()
    summary.update(train_pairs=len(pairs), trainable_parameters=trained, base_parameters=base,
                   stored_values=stored, stored_percent=100 * stored / base)
    accelerator.print(f"trained {trained:,} parameters; saved {stored:,} values ({summary['stored_percent']:.3f}% of "
                      f"the {base:,}-parameter base model) to {run_dir}")

    if cfg.eval.after_training and accelerator.is_main_process:
        start = time.perf_counter()
        summary["eval"] = evaluate_run(cfg, run_dir, lm=lm, tokenizer=tokenizer, split=cfg.eval.split, max_items=cfg.eval.max_items)
        timings["eval"] = time.perf_counter() - start
        logger.log({f"eval/{k}": v for k, v in summary["eval"]["scores"].items()}, summary["steps"])
    logger.finish()
    if accelerator.is_main_process and (plot := plot_loss(run_dir)):
        accelerator.print(f"loss curve: {plot}")
    summary["timings"] = timings
    if accelerator.is_main_process:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig):
    summary = run_training(cfg)
    if "eval" in summary:
        from prefix_tuning.score import format_table

        print(format_table(summary["eval"]["scores"], f"{cfg.task.name} {summary['eval']['split']}"))


if __name__ == "__main__":
    main()
