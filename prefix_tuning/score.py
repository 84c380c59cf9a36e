"""Score any system output against a task's official references.

    python -m prefix_tuning.score --task e2e --hyps FILE [--refs FILE ...] [--split S] [--protocol P] [--json OUT]

Each task's scorer is `prefix_tuning/tasks/<task>/scoring.py`, whose
`score_file(hyps_path, refs_paths, split) -> dict[str, float]` uses the official tools' scale.
"""

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

from prefix_tuning.errors import UserError, exit_on_user_error
from prefix_tuning.reporting.console import format_table
from prefix_tuning.tasks.protocols import PROTOCOLS
from prefix_tuning.tasks.registry import TASKS, task_module


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m prefix_tuning.score", description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, choices=list(TASKS))
    parser.add_argument("--hyps", required=True, type=Path, help="system output, one line per test item")
    parser.add_argument(
        "--refs", nargs="+", type=Path, default=None, help="reference file(s); default: official test refs"
    )
    parser.add_argument("--split", default=None, help="task-specific subset (webnlg: seen|unseen|all)")
    parser.add_argument(
        "--protocol", choices=PROTOCOLS, default="challenge",
        help="challenge (default): the official tool on raw outputs and release references, as published outputs "
        "are scored; paper: the form the paper scored (E2E: tokenized references; DART: lowercased, tokenized outputs)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="write the scores as JSON here")
    parser.add_argument(
        "--extra-metrics",
        nargs="+",
        default=[],
        metavar="NAME",
        help="optional model-based metrics to attempt (dart: MoverScore BERTScore BLEURT)",
    )
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None) -> dict[str, float]:
    args = parse_args(argv)
    start = time.perf_counter()
    module = task_module(args.task)
    extra = {}
    if args.extra_metrics:
        if "extra_metrics" not in inspect.signature(module.score_file).parameters:
            raise UserError(f"task {args.task!r} has no optional metrics")
        extra["extra_metrics"] = args.extra_metrics
    scores = module.score_file(args.hyps, args.refs, args.split, args.protocol, **extra)
    elapsed = time.perf_counter() - start
    title = f"{args.task}" + (f" ({args.split})" if args.split else "") + f", {args.protocol} protocol: {args.hyps}"
    print(format_table(scores, title))
    print(f"scored in {elapsed:.1f} s", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**scores, "protocol": args.protocol}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return scores


if __name__ == "__main__":
    main()
