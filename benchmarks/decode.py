"""Beam decoding speed: our beam engine vs Hugging Face `generate`, same prefix, same E2E test MRs, one run.

    python benchmarks/decode.py [--inputs 40] [--all] [--prefix FILE] [--engine-batch N] [--skip-same-width]

Decodes the first `--inputs` E2E test MRs (`--all`: the whole test set, 630 MRs) with the paper's settings
(configs/decoding/beam_search.yaml: beam 5; `generate` batches of 8 inputs, the engine 48) on the embedded
SmolLM2-135M under one prefix (default: the activations of "table-to-text:", the paper's init words;
`--prefix` takes a trained prefix file), three times through `prefix_tuning.generation.decode.decode`:
  hf      engine=False: `generate` on fixed batches of 8 x 5 beams, the prefix as its cache
  ours-8  engine=True at `generate`'s width: the beam engine (one prefill per prompt, rows refilled as
          items finish) on 8 inputs x 5 beams
  ours    engine=True as `evaluate` decodes: the engine on `engine_batch_size` (48) inputs x 5 beams;
          `--engine-batch` sets another width
(`--skip-same-width` leaves out `ours-8`: on `--all` it saves ~40 minutes here.)
Per variant: total seconds, decode steps, rows per step, seconds per step, generated tokens/s and
`floor_fraction` = the step's compute floor (rows x matmul FLOPs per token / the matmul peak measured in
this process) over the measured step time. `ours_over_hf` (and `same_width_over_hf`, for `ours-8`) is the
tokens/s ratio (tokens: the outputs' tokens); `identical` says whether every output text equals `hf`'s.
The engine's rows also say how long admitting inputs took (their prefill, inside the steps' time) and how its
steps with every slot busy fared (`full_width_*`): the other steps run narrower, while the last inputs finish
with none left to take their rows, and they weigh more in a short run than in a long one.
Prints a table and writes results/benchmarks/decode.json.
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.matmul_peak import matmul_flops_per_token, matmul_peak_flops  # noqa: E402
from prefix_tuning.core.geometry import KVGeometry  # noqa: E402
from prefix_tuning.generation import decode as decode_module  # noqa: E402
from prefix_tuning.prefix.causal import PrefixLM  # noqa: E402
from prefix_tuning.prefix.encoder import FixedPrefix  # noqa: E402
from prefix_tuning.prefix.file_format import load_prefix  # noqa: E402
from prefix_tuning.prefix.word_init import word_activations  # noqa: E402
from prefix_tuning.serving.base_model import load_served_model, model_config_named  # noqa: E402
from prefix_tuning.serving.task_decoding import task_decoding  # noqa: E402
from prefix_tuning.tasks.e2e.data import load_eval  # noqa: E402


class Recorder:
    """Step times and rows per step, from inside `decode` (wrapping `generate` or the engine's `step`); for the
    engine also each step's (rows, seconds, every slot busy) and the time spent admitting (prefilling) inputs."""

    def __init__(self):
        self.seconds, self.rows, self.steps = 0.0, 0, 0
        self.engine_steps: list[tuple[int, float, bool]] = []
        self.prefill_seconds = 0.0

    def wrap_generate(self, model, beams: int):
        plain = model.generate

        def timed(ids, mask, **kwargs):
            start = time.perf_counter()
            new = plain(ids, mask, **kwargs)
            self.seconds += time.perf_counter() - start
            self.steps += new.shape[1]
            self.rows += new.shape[1] * ids.shape[0] * beams
            return new

        model.generate = timed

    def engine_class(self):
        recorder = self

        class TimedEngine(decode_module.BeamEngine):
            def step(self):
                self.rows_now = 0
                start = time.perf_counter()
                done = super().step()
                elapsed = time.perf_counter() - start
                recorder.seconds += elapsed
                if self.rows_now:
                    recorder.engine_steps.append((self.rows_now, elapsed, self.rows_now == self.slots * self.beams))
                return done

            def _admit(self):
                start = time.perf_counter()
                done = super()._admit()
                recorder.prefill_seconds += time.perf_counter() - start
                return done

            def _forward(self):
                self.rows_now = self.last_tokens.shape[0]
                recorder.steps += 1
                recorder.rows += self.rows_now
                return super()._forward()

        return TimedEngine

    def full_width(self, flops: int, peak: float) -> dict:
        """The engine's steps with every slot busy (none waiting for inputs to refill them): their count, mean
        seconds and floor fraction."""
        full = [(rows, seconds) for rows, seconds, busy in self.engine_steps if busy]
        if not full:
            return {"full_width_steps": 0}
        rows, seconds = sum(r for r, _ in full), sum(s for _, s in full)
        return {
            "full_width_steps": len(full),
            "full_width_seconds_per_step": seconds / len(full),
            "full_width_floor_fraction": rows * flops / peak / seconds,
        }


def run(model, tok, sources, settings, engine: bool, peak: float, flops: int) -> tuple[dict, list[str]]:
    recorder = Recorder()
    plain_generate, plain_engine = model.generate, decode_module.BeamEngine
    if engine:
        decode_module.BeamEngine = recorder.engine_class()
    else:
        recorder.wrap_generate(model, settings.num_beams)
    try:
        start = time.perf_counter()
        outputs = decode_module.decode(model, tok, sources, settings, desc="ours" if engine else "hf", engine=engine)
        total = time.perf_counter() - start
    finally:
        model.generate, decode_module.BeamEngine = plain_generate, plain_engine
    step = recorder.seconds / recorder.steps
    rows = recorder.rows / recorder.steps
    row = {
        "seconds": total,
        "steps": recorder.steps,
        "rows_per_step": rows,
        "seconds_per_step": step,
        "floor_seconds_per_step": rows * flops / peak,
        "floor_fraction": rows * flops / peak / step,
    }
    if engine:
        row |= {"prefill_seconds": recorder.prefill_seconds, **recorder.full_width(flops, peak)}
    return row, outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=40, help="the first N E2E test MRs (default 40)")
    parser.add_argument("--all", action="store_true", help="the whole E2E test set (630 MRs)")
    parser.add_argument(
        "--engine-batch", type=int, help="inputs the engine decodes at once in `ours` (default: config)"
    )
    parser.add_argument(
        "--skip-same-width", action="store_true", help="leave out `ours-8` (the engine at generate's width)"
    )
    parser.add_argument("--prefix", type=Path, help="a trained SmolLM2 prefix file (default: word activations)")
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/decode.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    lm, tok, identity = load_served_model(model_config_named("smollm2-135m"), "cpu")
    if args.prefix:
        kv = load_prefix(args.prefix, identity, KVGeometry.of(lm.config))
    else:
        kv = word_activations(lm, tok, "table-to-text:")
    model = PrefixLM(lm, FixedPrefix(kv))
    settings = task_decoding("e2e").settings
    items = load_eval("test")
    sources = [item.source for item in (items if args.all else items[: args.inputs])]
    peak = matmul_peak_flops()
    flops = matmul_flops_per_token(lm)

    if args.engine_batch:
        settings = dataclasses.replace(settings, engine_batch_size=args.engine_batch)
    narrow = f"ours-{settings.batch_size}"
    same_width = dataclasses.replace(settings, engine_batch_size=settings.batch_size)
    variants = [("hf", False, settings), (narrow, True, same_width), ("ours", True, settings)]
    if args.skip_same_width:
        del variants[1]
    rows, outputs = {}, {}
    for name, engine, chosen in variants:
        rows[name], outputs[name] = run(model, tok, sources, chosen, engine, peak, flops)
    for name, row in rows.items():
        row["generated_tokens"] = sum(len(tok(t, add_special_tokens=False).input_ids) + 1 for t in outputs[name])
        row["generated_tokens_per_second"] = row["generated_tokens"] / row["seconds"]
        row["identical"] = outputs[name] == outputs["hf"]
        row["differences"] = sum(a != b for a, b in zip(outputs[name], outputs["hf"]))
    speed = {name: row["generated_tokens_per_second"] for name, row in rows.items()}
    result = {
        "inputs": len(sources),
        "prefix": str(args.prefix) if args.prefix else "word activations of 'table-to-text:'",
        "prefix_length": kv.shape[-2],
        "num_beams": settings.num_beams,
        "batch_size": settings.batch_size,
        "engine_batch_size": settings.engine_batch_size,
        "matmul_peak_gflops": peak / 1e9,
        "matmul_mflops_per_token": flops / 1e6,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "rows": rows,
        "ours_over_hf": speed["ours"] / speed["hf"],
        "same_width_over_hf": speed[narrow] / speed["hf"] if narrow in speed else None,
        "identical": rows["ours"]["identical"],
        "differences": rows["ours"]["differences"],
    }
    print(f"{len(sources)} E2E test MRs, beam {settings.num_beams}, generate batches of {settings.batch_size}, "
          f"engine {settings.engine_batch_size} inputs; "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s, {flops / 1e6:.0f} MFLOP per token")  # fmt: skip
    print(
        f"{'variant':<9}{'seconds':>9}{'steps':>7}{'rows/step':>10}{'s/step':>8}{'floor s':>9}{'floor %':>9}"
        f"{'tok/s':>8}{'x hf':>7}  same text as hf"
    )
    for name, r in rows.items():
        print(
            f"{name:<9}{r['seconds']:>9.1f}{r['steps']:>7}{r['rows_per_step']:>10.1f}{r['seconds_per_step']:>8.3f}"
            f"{r['floor_seconds_per_step']:>9.3f}{100 * r['floor_fraction']:>8.0f}%{speed[name]:>8.1f}"
            f"{speed[name] / speed['hf']:>6.2f}x  {len(sources) - r['differences']}/{len(sources)}"
        )
    for name, r in rows.items():
        if "prefill_seconds" in r:
            full = (
                f"{r['full_width_steps']} steps with every slot busy: {r['full_width_seconds_per_step']:.3f} s/step, "
                f"{100 * r['full_width_floor_fraction']:.0f}% of the floor"
                if r["full_width_steps"]
                else "no step with every slot busy"
            )
            print(f"{name}: {full}; admitting (prefill) {r['prefill_seconds']:.1f} s of {r['seconds']:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
