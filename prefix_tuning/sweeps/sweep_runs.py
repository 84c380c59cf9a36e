"""Reading a sweep back: every finished run under a sweep folder, with its config and summary."""

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from prefix_tuning.errors import UserError


@dataclass(frozen=True)
class FinishedRun:
    folder: Path
    config: dict  # the run's resolved config.yaml
    summary: dict  # its summary.json (with "eval": split, items, protocol, scores)

    @property
    def scores(self) -> dict[str, float]:
        return self.summary.get("eval", {}).get("scores", {})

    def get(self, path: str, default=None):
        node = self.config
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node


def finished_runs(sweep_dir: Path) -> list[FinishedRun]:
    """Every run folder under `sweep_dir` holding a config.yaml and a summary.json, in folder order."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise UserError(f"sweep folder not found: {sweep_dir}")
    runs = []
    for summary in sorted(sweep_dir.rglob("summary.json")):
        config = summary.parent / "config.yaml"
        if config.is_file():
            runs.append(FinishedRun(summary.parent, OmegaConf.to_container(OmegaConf.load(config), resolve=True),
                                    json.loads(summary.read_text())))  # fmt: skip
    return runs


def sweep_record(sweep_dir: Path) -> dict:
    """What the reproduction sweeper wrote about the sweep (artifact, profile, command), if anything."""
    path = Path(sweep_dir) / "reproduce.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def finished_summaries(sweep_dir: Path) -> dict[str, dict]:
    """The summary of every finished run under `sweep_dir` by its name (its folder relative to the sweep)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        return {}
    return {str(run.folder.relative_to(sweep_dir)): run.summary for run in finished_runs(sweep_dir)}
