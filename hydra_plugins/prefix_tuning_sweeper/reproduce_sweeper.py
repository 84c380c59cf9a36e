"""`hydra/sweeper=reproduce`: one Hydra multirun over a paper artifact's grid of runs.

    python -m prefix_tuning.train -m hydra/sweeper=reproduce hydra.sweeper.artifact=table2 [hydra.sweeper.profile=cpu]

The grid is an explicit list of runs (prefix_tuning/sweeps/grids.py, from configs/artifact and configs/profile),
not a cartesian product: a table's cells differ in task, method, model and settings at once. Each run gets its
own folder under hydra.sweep.dir, named from what tells it apart; any launcher (basic, joblib, submitit) runs
the jobs. A profile that searches learning rates runs in stages: when the search runs of a group have
finished (trained, dev loss only), the runs at the chosen rate are launched in the same sweep, the chosen trial
again to decode its test set. The runs a claim reads are launched
first (their searches, then their runs at the choice), the other cells after them. Command-line overrides of the sweep
apply to every run. With `claims_only` (CLAIMS_ONLY=1 through `make reproduce-X`) the sweep stops once the runs
a claim reads have finished: on a budget, the verdicts come before the rest of the table, which the same command
without it fills in later (nothing runs twice). With DRY_RUN=1 it prints each run's resolved settings as one JSON
object per line (and, on stderr, the cells that wait for a learning-rate choice) and launches nothing. A failed run does not stop
the others; the sweep lists the failures at the end and exits non-zero.
"""

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

DRY_RUN_KEYS = {
    "task": "task.name", "model": "model.name", "method": "method.name", "lr": "train.lr",
    "epochs": "train.epochs", "epochs_factor": "train.epochs_factor", "max_steps": "train.max_steps", "batch_size": "train.batch_size",
    "prefix_length": "method.prefix_length", "init_words": "method.init_words", "train_size": "task.train_size",
    "subset_seed": "task.subset_seed", "seed": "seed", "checkpoint_every": "train.checkpoint_every",
    "eval_every": "train.eval_every", "patience": "train.patience", "eval_sample": "task.eval_sample",
    "select_best": "train.select_best",
}  # fmt: skip


@dataclass
class ReproduceSweeperConf:
    _target_: str = "hydra_plugins.prefix_tuning_sweeper.reproduce_sweeper.ReproduceSweeper"
    artifact: str = "table2"
    profile: str | None = None  # None: PROFILE, else paper with a CUDA GPU, else cpu
    claims_only: bool = False  # launch only the runs a claim reads (their searches and their runs at the choice)


ConfigStore.instance().store(
    group="hydra/sweeper", name="reproduce", node=ReproduceSweeperConf, provider="prefix_tuning"
)


class ReproduceSweeper(Sweeper):
    def __init__(self, artifact: str, profile: str | None = None, claims_only: bool = False):
        self.artifact, self.requested_profile, self.claims_only = artifact, profile, claims_only
        self.config = self.launcher = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def jobs(self, arguments: list[str], profile: str, sweep_dir: Path):
        """(the plan given the runs finished in the sweep folder, the job of each run to launch)."""
        from prefix_tuning.sweeps.grids import plan
        from prefix_tuning.sweeps.sweep_runs import finished_summaries

        current = plan(self.artifact, profile, finished_summaries(sweep_dir))
        return current, [[*run.overrides, *arguments, f"+reproduce.run='{run.name}'"] for run in current.runs]

    @staticmethod
    def next_stage(
        current, jobs: list[list[str]], launched: set[tuple], claims_only: bool = False
    ) -> tuple[list[list[str]], bool] | None:
        """(the jobs to launch now, whether they are runs a claim reads), None when all are launched (with
        `claims_only`: all the runs a claim reads): the runs a claim reads before any other, so a sweep cut short
        leaves evidence, not a little of everything. A job is told apart by all its overrides: the chosen search
        trial comes back with its test decoding on."""
        pending = [(run, job) for run, job in zip(current.runs, jobs, strict=True) if tuple(job) not in launched]
        first = [job for run, job in pending if run.for_claims]
        if first or claims_only:
            return (first, True) if first else None
        return ([job for _, job in pending], False) if pending else None

    def sweep(self, arguments: list[str]) -> Any:
        from prefix_tuning.sweeps.profiles import chosen_profile, profile_line

        profile, why = chosen_profile(self.requested_profile)
        if not os.environ.get("REPRODUCE_COMMAND"):  # run directly, not through `python -m prefix_tuning.reproduce`
            print(profile_line(self.artifact, profile, why), flush=True)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        current, jobs = self.jobs(list(arguments), profile, sweep_dir)
        if os.environ.get("DRY_RUN", "") not in ("", "0"):
            for run, job in zip(current.runs, jobs, strict=True):
                if self.claims_only and not run.for_claims:
                    continue
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, job)
                print(json.dumps({key: OmegaConf.select(cfg, path) for key, path in DRY_RUN_KEYS.items()}), flush=True)
            if current.waiting:
                print(f"{len(current.waiting)} cells wait for their learning-rate choice (runs listed once the "
                      f"search runs have finished): {', '.join(current.waiting)}", file=sys.stderr, flush=True)  # fmt: skip
            return []
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        command = os.environ.get("REPRODUCE_COMMAND") or " ".join(["python -m prefix_tuning.train", *sys.argv[1:]])
        launched, results, failed = [], [], []
        while stage := self.next_stage(current, jobs, {tuple(job) for job in launched}, self.claims_only):
            new, for_claims = stage
            record = {"artifact": self.artifact, "profile": profile, "command": command,
                      "runs": list(dict.fromkeys(job[-1] for job in launched + new))}  # fmt: skip
            (sweep_dir / "reproduce.json").write_text(json.dumps(record, indent=2) + "\n")
            what = "runs the claims read" if for_claims else "runs"
            print(f"{len(new)} {what} in {sweep_dir}{' (next stage)' if launched else ''}", flush=True)
            outcome = self.launcher.launch(new, initial_job_idx=len(launched))
            launched += new
            results.append(outcome)
            failed += [(job, result) for job, result in zip(new, outcome) if result.status != JobStatus.COMPLETED]
            current, jobs = self.jobs(list(arguments), profile, sweep_dir)
        waiting = current.waiting
        if self.claims_only:
            from prefix_tuning.sweeps.grids import claimed_cells

            waiting = [cell for cell in waiting if cell in claimed_cells(self.artifact)]
            if rest := [run for run in current.runs if not run.for_claims]:
                print(f"claims only: {len(rest)} runs no claim reads are left; the same command without CLAIMS_ONLY "
                      "runs them", flush=True)  # fmt: skip
        if waiting and not failed:
            print(f"{len(waiting)} cells still wait for a learning-rate choice (every search run of "
                  f"their group diverged?): {', '.join(waiting)}", file=sys.stderr, flush=True)  # fmt: skip
        for job, result in failed:
            print(
                f"run failed: {job[-1]}: {type(result._return_value).__name__}: {result._return_value}", file=sys.stderr
            )
        if failed:
            sys.exit(
                f"{len(failed)} of {len(launched)} runs failed (their folders keep their checkpoints; run the target again "
                "to resume)"
            )
        return results
