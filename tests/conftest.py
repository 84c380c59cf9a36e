"""Shared fixtures (tests never import each other): composed Hydra configs, tiny random models (GPT-2 and
Llama with grouped-query attention), reference decoders, CLI runners, and the `needs_data` / `needs_java`
markers, which skip a test with the reason when ../shared/data or a Java runtime is missing."""

import os
import shutil
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.lm.loading import load_base_model, load_tokenizer
from prefix_tuning.methods.options import options
from prefix_tuning.paths import CONFIG_DIR, REPO_ROOT, data_dir
from prefix_tuning.prefix.config import PrefixConfig

TINY_MODELS = ("tiny-gpt2", "tiny-llama")


def compose_config(*overrides: str):
    """The real training config with overrides, as the CLI would build it."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def pytest_runtest_setup(item):
    """`needs_data("webnlg2017", ...)` names the data folders a test reads (default: e2e); a missing one skips it."""
    marker = item.get_closest_marker("needs_data")
    if marker:
        missing = [name for name in (marker.args or ("e2e",)) if not (data_dir() / name).is_dir()]
        if missing:
            pytest.skip(
                f"needs the {', '.join(missing)} data (../shared/data or PREFIX_TUNING_DATA); {data_dir()} has none"
            )
    if item.get_closest_marker("needs_java") and shutil.which("java") is None:
        pytest.skip("needs a Java runtime (METEOR 1.5 and the PTB tokenizer are Java)")


@pytest.fixture(scope="session")
def compose_cfg():
    """compose_cfg(*overrides) -> the composed configs/train.yaml."""
    return compose_config


@pytest.fixture(scope="session")
def prefix_config():
    """prefix_config(**changes) -> a PrefixConfig with configs/method/prefix.yaml's values, changed."""

    def build(**changes) -> PrefixConfig:
        return PrefixConfig.from_mapping({**options(compose_config("method=prefix").method), **changes})

    return build


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return load_tokenizer(compose_config("model=tiny-gpt2").model)


@pytest.fixture(scope="session", params=TINY_MODELS)
def tiny_lm(request, tiny_tokenizer):
    """(name, frozen model, tokenizer, geometry) for each tiny architecture."""
    model = load_base_model(compose_config(f"model={request.param}").model, tiny_tokenizer)
    return request.param, model, tiny_tokenizer, KVGeometry.of(model.config)


@pytest.fixture(scope="session")
def random_kv():
    """random_kv(geometry, length, seed=0, scale=1.0) -> a random prefix [layers, 2, kv_heads, L, head_dim]."""

    def make(geometry: KVGeometry, length: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        g = geometry
        return torch.randn(g.n_layers, 2, g.n_kv_heads, length, g.head_dim, generator=generator) * scale

    return make


@pytest.fixture(scope="session")
def greedy_reference():
    """greedy_reference(model, ids, steps): decode with no cache, re-running the whole sequence (with the
    prefix) for each new token: an independent check of `generate`."""

    def decode(model, ids: list[int], steps: int) -> list[int]:
        seq = torch.tensor([ids])
        for _ in range(steps):
            logits = model(seq, torch.ones_like(seq))
            seq = torch.cat([seq, logits[:, -1:].argmax(-1)], dim=1)
        return seq[0, len(ids) :].tolist()

    return decode


@pytest.fixture(scope="session")
def run_module():
    """run_module(module, *args, env=None): `python -m module args...` from the repo root, as a user runs it."""

    def run(module: str, *args, env: dict | None = None, timeout: int = 300):
        command = [sys.executable, "-m", module, *map(str, args)]
        return subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
        )

    return run


@pytest.fixture(scope="session")
def assert_user_error():
    """assert_user_error(result, *words): exit 2, exactly one `error:` line holding every word, no traceback."""

    def check(result, *words):
        assert result.returncode == 2, result.stderr[-2000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        for word in words:
            assert word in errors[0], errors[0]

    return check
