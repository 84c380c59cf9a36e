"""Choose the demo's discrete-prompt baseline on dev: every instruction x number of training pairs of
configs/prompting/e2e.yaml, decoded on a random sample of E2E dev MRs (seed 0) with the task's decoding and scored
(BLEU, paper protocol); the best goes in the config's `chosen` by hand, the table in results/prompt_choice.md.

    python scripts/choose_prompt.py [--out results/prompt_choice]

The few-shot pairs are the demo's own training pairs (configs/experiment/demo.yaml), as the demo uses them.
Rows already in <out>.json are kept (a k added to the config decodes only its own rows; delete the file to redo all).
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra import compose, initialize_config_dir  # noqa: E402

from prefix_tuning.generation.chat_prompt import chat_prompt  # noqa: E402
from prefix_tuning.generation.decode import DecodeSettings, decode  # noqa: E402
from prefix_tuning.lm.loading import load_base_model, load_tokenizer  # noqa: E402
from prefix_tuning.paths import CONFIG_DIR, code_version  # noqa: E402
from prefix_tuning.pipeline import plain_model  # noqa: E402
from prefix_tuning.tasks import registry  # noqa: E402

SEED = 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "prompt_choice")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=demo"])
    tokenizer = load_tokenizer(cfg.model)
    model = plain_model(load_base_model(cfg.model, tokenizer))
    settings = DecodeSettings.from_mapping(cfg.task.decoding)
    dev = registry.load_eval_items(cfg.task, "dev")
    items = [dev[k] for k in sorted(random.Random(SEED).sample(range(len(dev)), cfg.prompting.dev_items))]
    pairs = registry.load_train_pairs(cfg.task)
    done = (
        json.loads(args.out.with_suffix(".json").read_text())["rows"] if args.out.with_suffix(".json").is_file() else []
    )
    kept = {(row["instruction"], row["shots"]): row for row in done}
    rows = []
    for name in cfg.prompting.instructions:
        for shots in cfg.prompting.shots:
            if (name, shots) in kept:
                rows.append(kept[(name, shots)])
                continue
            chat = chat_prompt(cfg.prompting, pairs, instruction=name, shots=shots)
            start = time.perf_counter()
            outputs = decode(model, tokenizer, [item.source for item in items], settings, desc=f"{name} k={shots}",
                             encode=lambda source, chat=chat: chat.encode(tokenizer, source, settings.max_source_tokens))  # fmt: skip
            bleu = 100 * registry.score("e2e", outputs, items, "paper", java=False)["BLEU"]
            rows.append({"instruction": name, "shots": shots, "bleu": bleu, "example": outputs[0],
                         "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
            print(f"{name} k={shots}: BLEU {bleu:.1f}  e.g. {outputs[0]!r}", flush=True)
    best = max(rows, key=lambda row: row["bleu"])
    lines = [
        "# The demo's prompting baseline, chosen on dev",
        "",
        f"`python scripts/choose_prompt.py` (last run at code {code_version()}): {cfg.model.name} with no prefix, its chat "
        f"template, each instruction of configs/prompting/e2e.yaml and k training pairs (the demo's own) as earlier "
        f"turns; a random {len(items)} E2E dev MRs (seed {SEED}), the task's decoding, BLEU (paper protocol). "
        f"Chosen: **{best['instruction']}, k={best['shots']}** (BLEU {best['bleu']:.1f}); test items play no part.",
        "",
        "| instruction | k | dev BLEU | first output | seconds |",
        "|---|---:|---:|---|---:|",
        *(f"| {r['instruction']} | {r['shots']} | {r['bleu']:.1f} | {r['example']} | {r['seconds']} |" for r in rows),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps({"chosen": best, "rows": rows}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
