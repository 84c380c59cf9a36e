"""Shared fixtures: composed Hydra configs and tiny random models (GPT-2 and Llama with GQA)."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from prefix_tuning.base_model import KVGeometry, load_base_model, load_tokenizer

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
TINY_MODELS = ("tiny-gpt2", "tiny-llama")


def compose_config(*overrides: str):
    """The real training config with overrides, as the CLI would build it."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return load_tokenizer(compose_config("model=tiny-gpt2").model)


@pytest.fixture(scope="session", params=TINY_MODELS)
def tiny_lm(request, tiny_tokenizer):
    """(name, frozen model, tokenizer, geometry) for each tiny architecture."""
    model = load_base_model(compose_config(f"model={request.param}").model, tiny_tokenizer)
    return request.param, model, tiny_tokenizer, KVGeometry.of(model.config)


def random_kv(geometry: KVGeometry, length: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    g = geometry
    return torch.randn(g.n_layers, 2, g.n_kv_heads, length, g.head_dim, generator=generator) * scale


def run_score_cli(task: str, *args):
    """`python -m prefix_tuning.score --task TASK ARGS...` as a user runs it."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "prefix_tuning.score", "--task", task, *map(str, args)]
    return subprocess.run(command, cwd=Path(CONFIG_DIR).parent, capture_output=True, text=True, timeout=300)
