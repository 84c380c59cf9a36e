"""`hydra/sweeper=reproduce`: one Hydra multirun over a paper artifact's grid of runs.

    python -m prefix_tuning.train -m hydra/sweeper=reproduce hydra.sweeper.artifact=table2 [hydra.sweeper.profile=cpu]

The grid is an explicit list of runs (prefix_tuning/sweeps/grids.py), not a cartesian product: a table's
cells differ in task, method, model and settings at once. Each run gets its own folder under
hydra.sweep.dir, named from the overrides that tell it apart; any launcher (basic, joblib, submitit)
runs the jobs. Command-line overrides of the sweep apply to every run. With DRY_RUN=1 it prints each
run's resolved settings as one JSON object per line and launches nothing. A failed run does not stop
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
    "epochs": "train.epochs", "max_steps": "train.max_steps", "batch_size": "train.batch_size",
    "prefix_length": "method.prefix_length", "init_words": "method.init_words", "train_size": "task.train_size",
    "subset_seed": "task.subset_seed", "seed": "seed", "checkpoint_every": "train.checkpoint_every",
}  # fmt: skip


@dataclass
class ReproduceSweeperConf:
    _target_: str = "hydra_plugins.prefix_tuning_sweeper.reproduce_sweeper.ReproduceSweeper"
    artifact: str = "table2"
    profile: str | None = None  # None: PROFILE, else paper with a CUDA GPU, else cpu


ConfigStore.instance().store(
    group="hydra/sweeper", name="reproduce", node=ReproduceSweeperConf, provider="prefix_tuning"
)


class ReproduceSweeper(Sweeper):
    def __init__(self, artifact: str, profile: str | None = None):
        self.artifact, self.requested_profile = artifact, profile
        self.config = self.launcher = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def jobs(self, arguments: list[str]) -> tuple[str, list[list[str]]]:
        from prefix_tuning.sweeps.grids import grid
        from prefix_tuning.sweeps.profiles import chosen_profile, profile_line

        profile, why = chosen_profile(self.requested_profile)
        if not os.environ.get("REPRODUCE_COMMAND"):  # run directly, not through `python -m prefix_tuning.reproduce`
            print(profile_line(self.artifact, profile, why), flush=True)
        return profile, [
            [*run.overrides, *arguments, f"+reproduce.run='{run.name}'"] for run in grid(self.artifact, profile)
        ]

    def sweep(self, arguments: list[str]) -> Any:
        profile, jobs = self.jobs(list(arguments))
        if os.environ.get("DRY_RUN", "") not in ("", "0"):
            for job in jobs:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, job)
                print(json.dumps({key: OmegaConf.select(cfg, path) for key, path in DRY_RUN_KEYS.items()}), flush=True)
            return []
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        command = os.environ.get("REPRODUCE_COMMAND") or " ".join(["python -m prefix_tuning.train", *sys.argv[1:]])
        record = {"artifact": self.artifact, "profile": profile, "command": command, "runs": [job[-1] for job in jobs]}
        (sweep_dir / "reproduce.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"{len(jobs)} runs in {sweep_dir}", flush=True)
        results = self.launcher.launch(jobs, initial_job_idx=0)
        failed = [(job, result) for job, result in zip(jobs, results) if result.status != JobStatus.COMPLETED]
        for job, result in failed:
            print(
                f"run failed: {job[-1]}: {type(result._return_value).__name__}: {result._return_value}", file=sys.stderr
            )
        if failed:
            sys.exit(
                f"{len(failed)} of {len(jobs)} runs failed (their folders keep their checkpoints; run the target again to resume)"
            )
        return [results]
