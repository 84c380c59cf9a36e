"""Train a method on a task, save it, then decode and score (Hydra entry point).

    python -m prefix_tuning.train task=e2e model=smollm2-135m method=prefix [train.max_steps=..] [logger=none]
    python -m prefix_tuning.train -m experiment=table2/e2e_prefix method.prefix_length=1,5,10 seed=1,2   (a sweep)

In a sweep (-m) each run lives in its own folder under hydra.sweep.dir (RUNS), named from its
overrides: running the sweep again skips the runs that finished with the same config and resumes a
killed one from its checkpoint; a run trained with eval.after_training=false and asked for again without it
decodes and scores its saved weights instead of training again.
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from prefix_tuning.errors import UserError, exit_on_user_error
from prefix_tuning.paths import CONFIG_DIR
from prefix_tuning.pipeline import evaluate_trained_run, finished_summary, train_run
from prefix_tuning.reporting.console import format_table
from prefix_tuning.sweeps.run_records import keep_record_now


@hydra.main(config_path=str(CONFIG_DIR), config_name="train", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig):
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return run(cfg)
    with open_dict(cfg):
        cfg.run_dir = HydraConfig.get().runtime.output_dir
    summary = finished_summary(cfg)
    try:
        if summary is not None and "eval" not in summary and cfg.eval.after_training:
            print(f"evaluate {cfg.run_dir}: trained earlier without its evaluation")
            summary = evaluate_trained_run(cfg, summary)  # None: its weights are not here, it trains again
        elif summary is not None:
            print(f"skip {cfg.run_dir}: finished with the same config")
        if summary is None:
            summary = run(cfg)
    except UserError as err:  # one run's mistake fails that run, not the whole sweep
        print(f"error: {err}", file=sys.stderr)
        raise RuntimeError(str(err)) from None
    keep_record_now(cfg.run_dir, HydraConfig.get().sweep.dir)  # under `reproduce`: recorded before the next run
    return summary


def run(cfg: DictConfig) -> dict:
    summary = train_run(cfg)
    if "eval" in summary:
        print(format_table(summary["eval"]["scores"], f"{cfg.task.name} {summary['eval']['split']}"))
    return summary


if __name__ == "__main__":
    main()
