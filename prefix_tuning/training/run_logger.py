"""Metrics logging: always a local `log.jsonl` in the run dir, plus Weights & Biases (offline by default).

A W&B run belongs to a `group` (a reproduction's artifact and profile, e.g. `table2-cpu`), has a
`job_type` (train or eval), tags (task, method, profile) and a name (the run's folder name, from its
overrides). Each RunLogger starts its own W&B run: in a multirun many runs share one process, and
wandb's default would hand back the previous run.
"""

import json
import os
from pathlib import Path

from prefix_tuning.errors import UserError

LOGGERS = ("wandb", "none")


class RunLogger:
    """Append-only JSON lines (nothing lost on a crash) mirrored to W&B when enabled."""

    def __init__(self, run_dir: Path, logger_cfg=None, config: dict | None = None, enabled: bool = True,
                 job_type: str = "train", group: str | None = None, tags: list[str] | None = None, name: str | None = None):  # fmt: skip
        logger_cfg = logger_cfg or {"kind": "none"}
        kind = logger_cfg.get("kind", "none")
        if kind not in LOGGERS:
            raise UserError(f"unknown logger {kind!r}; choose one of {', '.join(LOGGERS)}")
        self.enabled = enabled
        self.path = Path(run_dir) / "log.jsonl"
        self.wandb_run = None
        if enabled and kind == "wandb":
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            self.wandb_run = wandb.init(
                project=logger_cfg.get("project", "prefix-tuning"), mode=logger_cfg.get("mode", "offline"),
                dir=str(run_dir), config=config or {}, name=name or Path(run_dir).name, group=group,
                job_type=job_type, tags=tags or [], reinit="create_new",
            )  # fmt: skip

    def log(self, values: dict, step: int):
        if not self.enabled:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(values, step=step)

    def summarize(self, values: dict, samples: list[tuple[str, str, str]] | None = None):
        """Final numbers into the W&B run summary, and a table of sample outputs beside their references."""
        if self.wandb_run is None:
            return
        self.wandb_run.summary.update(values)
        if samples:
            import wandb

            table = wandb.Table(columns=["input", "output", "reference"], data=[list(row) for row in samples])
            self.wandb_run.log({"eval/samples": table})

    def finish(self):
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None


def wandb_identity(cfg) -> dict:
    """group, tags and name of a run's W&B run, from its config (reproduction runs carry their artifact and profile)."""
    reproduce = cfg.get("reproduce") or {}
    profile = reproduce.get("profile")
    group = f"{reproduce['artifact']}-{profile}" if reproduce.get("artifact") else cfg.logger.get("group")
    tags = [str(cfg.task.name), str(cfg.method.name)] + ([str(profile)] if profile else [])
    name = reproduce.get("run") or Path(str(cfg.run_dir)).name
    return {"group": group, "tags": tags, "name": str(name).replace("/", "_")}
