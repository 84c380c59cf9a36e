"""The paper profile's shapes without its downloads: gpt2-medium's and bart-large's architectures with random
weights, run through the paper cells' own settings (batch sizes, sequence lengths, precision, loss, decoding) for
a few training steps, dev-loss selection (the low-data protocol's), decoding and scoring of a few test items.

    python scripts/check_paper_profile.py [--out results/paper_shape_check]     (make check-paper-profile)

It proves the paper profile's code paths run at the paper's sizes, not what the paper's numbers are (random
weights score ~0). Writes <out>.md and <out>.json; names each architecture it checks in what it prints.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra import compose, initialize_config_dir  # noqa: E402

from prefix_tuning.lm.loading import load_base_model, load_tokenizer  # noqa: E402
from prefix_tuning.paths import CONFIG_DIR, code_version  # noqa: E402
from prefix_tuning.pipeline import train_run  # noqa: E402

FEW = ["train.max_steps=3", "train.checkpoint_every=3", "task.eval_sample=3", "logger=none", "resume=false"]
CHECKS = {  # what each check runs: a paper cell on the random-weight architecture of its model
    "table2/e2e_prefix (final model decoded)": ["experiment=table2/e2e_prefix", "model=gpt2-medium-random",
                                                "task.train_size=30"],
    "lowdata prefix (dev-loss selection, Table 8)": ["experiment=lowdata", "task.train_size=50",
                                                     "model=gpt2-medium-random", "train.eval_every=1"],
    "table3/xsum_prefix_2 (BART, 3 prefixes)": ["experiment=table3/xsum_prefix_2", "model=bart-large-random",
                                                "task=xsum_offline50", "task.max_source_tokens=512",
                                                "task.max_target_tokens=60", "train.eval_every=1",
                                                "train.select_best=true"],
}  # fmt: skip


def architecture(lm) -> str:
    config = lm.config
    layers = (
        f"{config.encoder_layers}+{config.decoder_layers} layers"
        if config.is_encoder_decoder
        else f"{config.num_hidden_layers} layers"
    )
    heads = getattr(config, "num_attention_heads", None) or config.encoder_attention_heads
    params = sum(p.numel() for p in lm.parameters())
    return f"{type(lm).__name__}: {layers}, d {config.hidden_size}, {heads} heads, {params / 1e6:.0f}M parameters"


def run_check(name: str, overrides: list[str], folder: Path) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*overrides, *FEW, f"run_dir={folder}"])
    tokenizer = load_tokenizer(cfg.model)
    lm = load_base_model(cfg.model, tokenizer)
    arch = architecture(lm)
    print(f"== {name}: {arch}", flush=True)
    start = time.perf_counter()
    summary = train_run(cfg, lm=lm, tokenizer=tokenizer)
    return {
        "check": name,
        "architecture": arch,
        "batch_size": cfg.train.batch_size,
        "max_source_tokens": cfg.task.max_source_tokens,
        "max_target_tokens": cfg.task.max_target_tokens,
        "precision": f"{cfg.mixed_precision} (CPU: fp32)" if cfg.mixed_precision not in ("no", "auto") else "fp32",
        "loss_reduction": cfg.train.loss_reduction,
        "steps": summary["steps"],
        "dev_selection": f"best step {summary['best_step']} of {summary['dev_curve']}" if cfg.train.select_best else
        "final model (as the original code's full-data runs)",
        "decoding": f"beam {cfg.task.decoding.num_beams}, {cfg.task.decoding.min_new_tokens}-"
                    f"{cfg.task.decoding.max_new_tokens} new tokens",
        "items": summary["eval"]["items"],
        "scores": summary["eval"]["scores"],
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "paper_shape_check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checks = [run_check(name, overrides, Path(tmp) / str(k)) for k, (name, overrides) in enumerate(CHECKS.items())]
    lines = [
        "# Paper-profile shape check (random weights)",
        "",
        f"`python scripts/check_paper_profile.py` (make check-paper-profile) at code {code_version()}: the paper cells' "
        "settings on gpt2-medium's and bart-large's architectures with random weights; a few steps each. Proves the "
        "paper profile's code paths run at its sizes; the scores of random weights mean nothing.",
        "",
        "| check | architecture | batch | source / target tokens | precision | steps | model decoded | decoding | "
        "items | seconds |",
        "|---|---|---:|---|---|---:|---|---|---:|---:|",
    ]
    for c in checks:
        lines.append(
            f"| {c['check']} | {c['architecture']} | {c['batch_size']} | {c['max_source_tokens']} / "
            f"{c['max_target_tokens']} | {c['precision']} | {c['steps']} | {c['dev_selection']} | {c['decoding']} | "
            f"{c['items']} | {c['seconds']} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(checks, indent=2) + "\n")
    print(f"wrote {args.out.with_suffix('.md')} and .json")


if __name__ == "__main__":
    main()
