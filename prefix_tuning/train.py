"""Train a method on a task, save it, then decode and score (Hydra entry point).

python -m prefix_tuning.train task=e2e model=smollm2-135m method=prefix [train.max_steps=..] [logger=none]
"""

import hydra
from omegaconf import DictConfig

from prefix_tuning.errors import exit_on_user_error
from prefix_tuning.paths import CONFIG_DIR
from prefix_tuning.pipeline import train_run
from prefix_tuning.report.console import format_table


@hydra.main(config_path=str(CONFIG_DIR), config_name="train", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig):
    summary = train_run(cfg)
    if "eval" in summary:
        print(format_table(summary["eval"]["scores"], f"{cfg.task.name} {summary['eval']['split']}"))


if __name__ == "__main__":
    main()
