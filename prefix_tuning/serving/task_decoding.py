"""The decoding a served prefix gets: what `prefix_tuning.evaluate` would use for the same prefix.

A prefix in a run folder (`<run>/prefix.safetensors` beside the run's `config.yaml`) gets the run's own task
config, as `evaluate` reads it; a bare prefix file gets the defaults of the task its metadata names
(configs/task/<task>.yaml with its configs/decoding/ section, composed by Hydra as `train` composes them).
Either way: the same `DecodeSettings` (beams, min/max new tokens, newline ban, ...), the same source
truncation (`max_source_tokens`) and the same source prompt (`task.source_prompt`, if any).
"""

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf

from prefix_tuning.errors import UserError
from prefix_tuning.generation.decode import DecodeSettings
from prefix_tuning.paths import CONFIG_DIR

_HYDRA = threading.Lock()  # Hydra's global state: one composition at a time


@dataclass(frozen=True)
class TaskDecoding:
    task: str
    settings: DecodeSettings
    source_prompt: str | None  # text before every source (`task.source_prompt`)


@functools.cache
def default_task_config(task: str) -> DictConfig:
    """configs/task/<task>.yaml as `python -m prefix_tuning.train task=<task>` composes it."""
    with _HYDRA, initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        try:
            cfg = compose(config_name="train", overrides=[f"task={task}", "logger=none"])
        except MissingConfigException:
            known = ", ".join(sorted(p.stem for p in (CONFIG_DIR / "task").glob("*.yaml")))
            raise UserError(f"unknown task {task!r} (known: {known})") from None
    return OmegaConf.create(OmegaConf.to_container(cfg.task, resolve=True))


def task_decoding(task: str, run_config: Path | None = None) -> TaskDecoding:
    """The decoding of `task`, from the run's config.yaml when there is one (what `evaluate` reads)."""
    if run_config is not None and run_config.is_file():
        task_cfg = OmegaConf.load(run_config).task
        if task_cfg.name != task:
            raise UserError(f"{run_config} is a {task_cfg.name} run, but its prefix names task {task}")
    else:
        task_cfg = default_task_config(task)
    return TaskDecoding(task, DecodeSettings.from_mapping(task_cfg.decoding), task_cfg.get("source_prompt"))
