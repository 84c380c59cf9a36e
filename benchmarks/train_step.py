"""Training-step speed: our prefix trainer step vs PEFT's prefix tuning on SmolLM2, real E2E batches of 8.

    python benchmarks/train_step.py [--steps 5] [--batch-size 8]

Each variant runs in its own process (so peak memory is its own) on the same examples:
  peft          PEFT PrefixTuning (MLP projection 512), batches of a shuffled order (a plain DataLoader), padded
  ours-same     our step on exactly PEFT's batches (the same examples per batch), packed as our trainer packs them
                (prefix/packing.py: no padding, the LM head only where there is a label)
  ours-grouped  our step on length-grouped batches of the same examples (what our trainer does), packed
Prints a table (s/step, real tokens/s, peak RSS, fraction of the limit) and writes
results/benchmarks/train_step.json.

The limit: the useful matmul FLOPs of a step over the matmul peak measured in the same process (before and
after the steps; the higher of the two). Useful means
what any implementation must compute for a frozen model: every real token through every linear layer,
forward and backward to the activations (the frozen weights get no gradient: 2 x the forward), and the LM
head forward and backward on label tokens only. Attention scores are left out (short sequences).
`limit_fraction` = that floor's seconds / the measured seconds.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
VARIANTS = ("peft", "ours-same", "ours-grouped")


def batches(examples, batch_size: int, steps: int, grouped: bool, seed: int = 0):
    from prefix_tuning.training.batching import length_grouped_batches

    pool = list(range(batch_size * steps))
    if grouped:
        return length_grouped_batches([len(examples[i][0]) for i in pool], batch_size, seed, 0)[:steps]
    random.Random(seed).shuffle(pool)
    return [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)][:steps]


def run_variant(variant: str, steps: int, batch_size: int) -> dict:
    import torch
    from omegaconf import OmegaConf

    from benchmarks.matmul_peak import matmul_flops_per_token, matmul_peak_flops
    from prefix_tuning.core.geometry import KVGeometry
    from prefix_tuning.lm.loading import load_base_model, load_tokenizer
    from prefix_tuning.methods.options import options
    from prefix_tuning.prefix.causal import PrefixLM
    from prefix_tuning.prefix.config import PrefixConfig
    from prefix_tuning.prefix.encoder import PrefixEncoder
    from prefix_tuning.prefix.packing import pack
    from prefix_tuning.tasks.e2e import data as e2e
    from prefix_tuning.tasks.encoding import encode_pair
    from prefix_tuning.training.batching import collate_training

    torch.manual_seed(0)
    model_cfg = OmegaConf.load(REPO / "configs/model/smollm2-135m.yaml")
    tok = load_tokenizer(model_cfg)
    lm = load_base_model(model_cfg, tok)
    pairs = random.Random(1).sample(e2e.load_pairs("train"), batch_size * steps)
    examples = [encode_pair(tok, p, 128, 128) for p in pairs]
    plan = batches(examples, batch_size, steps, grouped=variant == "ours-grouped")
    if variant == "peft":
        import peft

        config = peft.PrefixTuningConfig(
            task_type="CAUSAL_LM", num_virtual_tokens=10, prefix_projection=True, encoder_hidden_size=512
        )
        model = peft.get_peft_model(lm, config)
        params = [p for p in model.parameters() if p.requires_grad]

        def loss_of(batch):
            return model(**batch).loss
    else:
        prefix_cfg = {
            **options(OmegaConf.load(REPO / "configs/method/prefix.yaml")),
            "prefix_length": 10,
            "mlp_hidden": 512,
        }
        model = PrefixLM(lm, PrefixEncoder(PrefixConfig.from_mapping(prefix_cfg), KVGeometry.of(lm.config)))
        params = list(model.prefix.parameters())

        def loss_of(batch):
            packed = pack([examples[i] for i in batch["rows"]], 10)
            return model(packed=packed, reduction="token_mean").loss

    head = lm.get_output_embeddings().weight.numel() * 2
    body = matmul_flops_per_token(lm) - head
    peak = matmul_peak_flops()
    model.train()
    optimizer = torch.optim.AdamW(params, lr=5e-5)
    times, tokens, useful = [], [], []
    for index in [plan[0]] + plan:  # the first step is a warm-up, not timed
        batch = collate_training([examples[i] for i in index], tok.pad_token_id)
        labelled = int((batch["labels"][:, 1:] != -100).sum())
        real = int(batch["attention_mask"].sum())
        if variant != "peft":
            batch = {"rows": index}
        start = time.perf_counter()
        loss = loss_of(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
        tokens.append(real)
        useful.append(2 * (real * body + labelled * head))
    times, tokens, useful = times[1:], tokens[1:], useful[1:]
    # this host's peak drifts between and within processes (102-155 GFLOP/s seen): the best of before and
    # after the steps is the stricter yardstick
    peak = max(peak, matmul_peak_flops())
    return {
        "variant": variant,
        "steps": steps,
        "batch_size": batch_size,
        "seconds_per_step": sum(times) / len(times),
        "real_tokens_per_second": sum(tokens) / sum(times),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "matmul_peak_gflops": peak / 1e9,
        "limit_seconds_per_step": sum(useful) / peak / len(useful),
        "limit_fraction": sum(useful) / peak / sum(times),
        "torch_threads": torch.get_num_threads(),
        "trainable_parameters": sum(p.numel() for p in params),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/train_step.json")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.steps, args.batch_size)))
        return
    rows = []
    for variant in VARIANTS:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--variant",
                variant,
                "--steps",
                str(args.steps),
                "--batch-size",
                str(args.batch_size),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        if out.returncode != 0:
            sys.exit(f"{variant} failed:\n{out.stderr[-2000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]["real_tokens_per_second"]
    print(f"{'variant':<14}{'s/step':>9}{'real tok/s':>12}{'vs PEFT':>9}{'peak GB':>9}{'limit s':>9}{'of limit':>10}")
    for r in rows:
        print(
            f"{r['variant']:<14}{r['seconds_per_step']:>9.2f}{r['real_tokens_per_second']:>12.1f}"
            f"{r['real_tokens_per_second'] / base:>8.2f}x{r['peak_rss_gb']:>9.2f}"
            f"{r['limit_seconds_per_step']:>9.2f}{100 * r['limit_fraction']:>9.0f}%"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "cpu_count": os.cpu_count()}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
