"""Decode a task's evaluation split with a trained run (or the bare model: use_prefix=false) and score it.

    python -m prefix_tuning.evaluate run_dir=runs/<run> [split=test] [max_items=N] [use_prefix=false]

Options: configs/eval.yaml. The run's own config (`run_dir/config.yaml`) gives task, model and method.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from prefix_tuning.errors import UserError, exit_on_user_error
from prefix_tuning.paths import CONFIG_DIR
from prefix_tuning.pipeline import evaluate_run, load_run_config
from prefix_tuning.reporting.console import format_table

USAGE = "usage: python -m prefix_tuning.evaluate run_dir=runs/<run> [split=S] [max_items=N] [use_prefix=false]"


@hydra.main(config_path=str(CONFIG_DIR), config_name="eval", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> dict:
    if not cfg.run_dir:
        raise UserError(f"run_dir is required; {USAGE}")
    run_cfg = load_run_config(Path(cfg.run_dir))
    result = evaluate_run(
        run_cfg, Path(cfg.run_dir), split=cfg.split, max_items=cfg.max_items, use_prefix=bool(cfg.use_prefix)
    )
    print(format_table(result["scores"], f"{run_cfg.task.name} {result['split']} ({result['items']} items)"))
    return result


if __name__ == "__main__":
    main()
