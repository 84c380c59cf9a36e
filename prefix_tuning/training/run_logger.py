"""Metrics logging: always a local `log.jsonl` in the run dir, plus Weights & Biases (offline by default)."""

import json
import os
from pathlib import Path

from prefix_tuning.errors import UserError

LOGGERS = ("wandb", "none")


class RunLogger:
    """Append-only JSON lines (nothing lost on a crash) mirrored to W&B when enabled."""

    def __init__(
        self,
        run_dir: Path,
        kind: str = "none",
        project: str = "prefix-tuning",
        mode: str = "offline",
        config: dict | None = None,
        enabled: bool = True,
    ):
        if kind not in LOGGERS:
            raise UserError(f"unknown logger {kind!r}; choose one of {', '.join(LOGGERS)}")
        self.enabled = enabled
        self.path = Path(run_dir) / "log.jsonl"
        self.wandb_run = None
        if enabled and kind == "wandb":
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            self.wandb_run = wandb.init(
                project=project,
                mode=mode,
                dir=str(run_dir),
                config=config or {},
                name=Path(run_dir).name,
                reinit="finish_previous",
            )

    def log(self, values: dict, step: int):
        if not self.enabled:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(values, step=step)

    def finish(self):
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None
