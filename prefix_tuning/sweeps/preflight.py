"""Before a paper-profile sweep starts: are its models and data here? Without internet or cached weights the
sweep would retry the hub with back-off in every run; instead it stops within seconds with one line naming
what is missing and the ways out.

Models: each hub model the runs use must be in the Hugging Face cache (`HF_HOME`) or the hub reachable.
Data: each task's training split must load (DART's train split and the XSUM articles are not shipped).
"""

import os
import socket
from functools import cache

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from prefix_tuning.errors import UserError
from prefix_tuning.paths import CONFIG_DIR
from prefix_tuning.sweeps.grids import plan

HUB = ("huggingface.co", 443)


@cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Can the hub be reached (HF_HUB_OFFLINE=1: no, as huggingface_hub itself decides)?"""
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    try:
        socket.create_connection(HUB, timeout=timeout).close()
        return True
    except OSError:
        return False


def model_cached(hf_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(hf_id, "config.json"), str)


def _composed(overrides: tuple[str, ...]):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=[o for o in overrides if not o.startswith("+")])


def missing_inputs(artifact: str, profile: str) -> tuple[list[str], list[str]]:
    """(hub models neither cached nor downloadable, data that does not load) for the runs of a sweep."""
    from prefix_tuning.tasks import registry

    configs = {run.cell: _composed(run.overrides) for run in plan(artifact, profile).runs}
    models = sorted({cfg.model.hf_id for cfg in configs.values() if cfg.model.source == "hub"})
    absent = [hf_id for hf_id in models if not model_cached(hf_id)]
    models_missing = absent if absent and not hub_reachable() else []
    data_missing, tasks = [], {}
    for cfg in configs.values():
        tasks.setdefault(OmegaConf.to_yaml(cfg.task), cfg.task)
    for task in tasks.values():
        try:
            registry.load_train_pairs(task)
        except UserError as err:
            data_missing.append(f"{task.name} {task.train_split} split ({str(err).split(';')[0]})")
    return models_missing, sorted(set(data_missing))


def check_inputs(artifact: str, profile: str) -> None:
    """A UserError naming every missing model and data set, and the ways out; nothing when all are here."""
    models, data = missing_inputs(artifact, profile)
    if not models and not data:
        return
    what = [f"the weights of {', '.join(models)} (not in the Hugging Face cache; huggingface.co unreachable)"] * bool(
        models
    ) + [f"the {', '.join(data)}"] * bool(data)
    raise UserError(
        f"the {profile} profile of {artifact} needs {' and '.join(what)}: connect to the internet (`make data` fetches "
        "the data), or set HF_HOME to a cache holding the weights and PREFIX_TUNING_DATA to the data, or run the "
        f"offline profile: make reproduce-{artifact} PROFILE=cpu"
    )
