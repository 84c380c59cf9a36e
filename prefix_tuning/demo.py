"""The main job on the embedded offline default: train a prefix, decode, score, print the table.

    python -m prefix_tuning.demo experiment=demo      (what `make demo` runs)

Prints the E2E metrics of the trained prefix beside the same model with no prefix, prompted as a practitioner
would prompt an instruct model (generation/chat_prompt.py: its chat template and an instruction; zero-shot, and few-shot with
training pairs as earlier turns; instruction and k chosen on dev, configs/prompting/e2e.yaml): the discrete
prompting the paper argues against. All are scored the same way; it prints three example outputs, the time each
stage took, and the path of a `metrics.json` with the three rows.
"""

import json
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from prefix_tuning.errors import exit_on_user_error
from prefix_tuning.generation.chat_prompt import chat_prompt
from prefix_tuning.lm.loading import load_base_model, load_tokenizer
from prefix_tuning.paths import CONFIG_DIR
from prefix_tuning.pipeline import evaluate_run, train_run
from prefix_tuning.reporting.console import metric_table
from prefix_tuning.tasks import registry


@hydra.main(config_path=str(CONFIG_DIR), config_name="train", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig):
    start = time.perf_counter()
    tokenizer = load_tokenizer(cfg.model)
    lm = load_base_model(cfg.model, tokenizer)  # frozen: the prefix run and both baselines share it
    summary = train_run(cfg, lm=lm, tokenizer=tokenizer)
    run_dir = Path(cfg.run_dir)
    baselines, timings = {}, dict(summary["timings"])
    pairs = registry.load_train_pairs(cfg.task)  # the prefix's own training pairs: the few-shot examples
    for name, shots in (("zero_shot", 0), ("few_shot", cfg.eval.few_shot)):
        stage = time.perf_counter()
        baselines[name] = evaluate_run(
            cfg, run_dir, lm=lm, tokenizer=tokenizer, split=cfg.eval.split, max_items=cfg.eval.max_items,
            use_prefix=False, chat=chat_prompt(cfg.prompting, pairs, shots=shots),
        )  # fmt: skip
        timings[f"{name.replace('_', '-')} eval"] = time.perf_counter() - stage
    zero_shot, few_shot = baselines["zero_shot"], baselines["few_shot"]
    prefix = summary["eval"]
    rows = {"prefix": prefix["scores"], "zero_shot": zero_shot["scores"], "few_shot": few_shot["scores"]}
    print(
        f"\nE2E {prefix['split']}, a random {prefix['items']} MRs (seed {cfg.task.eval_sample_seed}), {cfg.model.name}, "
        f"prefix L={summary['prefix_length']} trained on {summary['train_pairs']} pairs for {summary['steps']} steps "
        f"(final loss {summary['final_loss_per_token']:.3f} per target token); zero-/few-shot: the chat template, "
        f"the instruction {few_shot['chat_prompt']['instruction']!r} and 0 / {cfg.eval.few_shot} training pairs "
        f"(chosen on dev: configs/prompting/e2e.yaml); scored against {prefix['protocol']}-protocol references "
        "(tokenized, as the paper)"
    )
    print(metric_table(rows))
    print("\nexamples (input / prefix / zero-shot / few-shot output / a reference):")
    for (source, hyp, ref), (_, zero, _), (_, few, _) in zip(
        prefix["examples"], zero_shot["examples"], few_shot["examples"]
    ):
        print(
            f"  input:     {source}\n  prefix:    {hyp}\n  zero-shot: {zero}\n  few-shot:  {few}\n  reference: {ref}\n"
        )
    timings["total"] = time.perf_counter() - start
    print("time per stage: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    path = run_dir / "metrics.json"
    path.write_text(json.dumps({"protocol": prefix["protocol"], **rows}, indent=2) + "\n")
    print(f"metrics: {path.resolve()}")


if __name__ == "__main__":
    main()
