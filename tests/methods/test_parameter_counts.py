"""results/parameter_counts.{md,json} is what the methods build today (regenerate: python scripts/parameter_counts.py),
and its GPT-2 medium rows agree with hand computations from the paper's description of each method."""

import importlib.util
import json

import pytest

from prefix_tuning.paths import REPO_ROOT

COMMITTED = json.loads((REPO_ROOT / "results" / "parameter_counts.json").read_text())
D, LAYERS, VOCAB = 1024, 24, 50257  # GPT-2 medium
BLOCK = 4 * D + (3 * D * D + 3 * D) + (D * D + D) + 2 * (4 * D * D) + 4 * D + D  # 2 LNs, qkv, proj, MLP: 12,596,224


def script():
    spec = importlib.util.spec_from_file_location("parameter_counts", REPO_ROOT / "scripts" / "parameter_counts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_gpt2_medium_table_is_what_the_methods_build_now():
    assert script().method_counts("gpt2-medium") == COMMITTED["gpt2-medium"]


@pytest.mark.slow
def test_the_committed_smollm2_table_is_what_the_methods_build_now():
    assert script().method_counts("smollm2-135m") == COMMITTED["smollm2-135m"]


def test_gpt2_medium_rows_by_hand():
    rows = COMMITTED["gpt2-medium"]
    assert BLOCK == 12_596_224
    assert rows["finetune"]["trainable_parameters"] == LAYERS * BLOCK + VOCAB * D + 1024 * D + 2 * D
    # FT-top2 (original code): the top 2 blocks, the tied token embedding and the final layer norm
    assert rows["ft_top2"]["trainable_parameters"] == 2 * BLOCK + VOCAB * D + 2 * D
    # prefix (default L=10): P = 10 x 24 layers x 2 (key, value) x 1024 stored; P' and the 512-wide MLP trained
    assert rows["prefix"]["stored_values"] == 10 * LAYERS * 2 * D == 491_520
    assert rows["prefix"]["trainable_parameters"] == 10 * D + (D * 512 + 512) + (512 * LAYERS * 2 * D + LAYERS * 2 * D)
    assert rows["prefix_no_mlp"]["trainable_parameters"] == 491_520
    assert round(rows["prefix"]["stored_percent"], 3) == 0.139
