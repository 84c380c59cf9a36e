"""Scoring speed: each metric fixture scored in full by its task's official-equivalent scorer.

    python benchmarks/score_speed.py [--tasks e2e webnlg dart xsum]

Rows: E2E (tgen output, 630 MRs), WebNLG (BART-large, 1,862 outputs; all / seen / unseen), DART
(BART-large, 5,097 outputs), XSUM (ConvS2S, 11,334 summaries); a task whose scorer module is not
there yet is listed as skipped. Wall seconds and CPU seconds (this process and its children: the
METEOR JVM, TER workers). Target: under 30 s wall per fixture on 2 cores. Prints a table and writes
results/benchmarks/score_speed.json.
"""

import argparse
import gzip
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from prefix_tuning.paths import data_file  # noqa: E402
from prefix_tuning.tasks.registry import task_module  # noqa: E402

FIXTURES = {  # row name -> (task, fixture path parts, split)
    "e2e": ("e2e", ("eval_fixtures", "e2e", "tgen-std.run0.test-orig.txt"), None),
    "webnlg-all": ("webnlg", ("eval_fixtures", "webnlg2017", "bart-large_webnlg-all.txt"), "all"),
    "webnlg-seen": ("webnlg", ("eval_fixtures", "webnlg2017", "bart-large_webnlg-all.txt"), "seen"),
    "webnlg-unseen": ("webnlg", ("eval_fixtures", "webnlg2017", "bart-large_webnlg-all.txt"), "unseen"),
    "dart": ("dart", ("eval_fixtures", "dart", "bart-large_dart.txt"), None),
    "xsum": ("xsum", ("xsum", "model-predictions", "convs2s-test-output.txt.gz"), None),
}


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def score_fixture(task: str, parts: tuple, split: str | None) -> dict:
    scorer = task_module(task)
    with tempfile.TemporaryDirectory() as tmp:
        hyps = data_file(*parts)
        if hyps.suffix == ".gz":  # system outputs are plain text; the shipped XSUM ones are gzipped
            plain = Path(tmp) / hyps.stem
            plain.write_bytes(gzip.decompress(hyps.read_bytes()))
            hyps = plain
        wall, cpu = time.perf_counter(), cpu_seconds()
        scores = scorer.score_file(hyps, None, split)
    return {"scores": dict(scores), "seconds": time.perf_counter() - wall, "cpu_seconds": cpu_seconds() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=sorted({task for task, _, _ in FIXTURES.values()}))
    args = parser.parse_args()
    rows = {name: spec for name, spec in FIXTURES.items() if spec[0] in args.tasks}
    machine = {"cpus": len(os.sched_getaffinity(0)), "load_average_at_start": os.getloadavg()[0]}
    results = {}
    print(f"{'fixture':<14} {'wall s':>7} {'cpu s':>7}  metrics")
    for name, (task, parts, split) in rows.items():
        results[name] = result = score_fixture(task, parts, split)
        if "skipped" in result:
            print(f"{name:<14} {'-':>7} {'-':>7}  skipped: {result['skipped']}")
            continue
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in result["scores"].items())
        print(f"{name:<14} {result['seconds']:>7.1f} {result['cpu_seconds']:>7.1f}  {metrics}", flush=True)
    out = REPO / "results" / "benchmarks" / "score_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "fixtures": results}, indent=2) + "\n")
    print(
        f"wrote {out.relative_to(REPO)} ({machine['cpus']} CPUs, load average {machine['load_average_at_start']:.1f} at start)"
    )


if __name__ == "__main__":
    main()
