"""Saved prefixes: only P with metadata; loading refuses a prefix trained for another model."""

import pytest
import torch

from prefix_tuning.base_model import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.prefix_config import PrefixConfig
from prefix_tuning.prefix_encoder import FixedPrefix, PrefixEncoder
from prefix_tuning.prefix_io import load_prefix, read_metadata, save_prefix
from prefix_tuning.prefix_model import PrefixLM

GEOMETRY = KVGeometry(n_layers=2, n_kv_heads=2, head_dim=16, hidden_size=64)


def test_round_trip_keeps_p_and_drops_the_mlp(tmp_path, tiny_lm):
    name, lm, tok, geometry = tiny_lm
    encoder = PrefixEncoder(PrefixConfig(prefix_length=4, mlp_hidden=32), geometry)
    path = tmp_path / "prefix.safetensors"
    save_prefix(path, encoder.materialize(), "tiny", lm.config.model_type, {"task": "e2e"})
    meta = read_metadata(path)
    assert meta["prefix_length"] == "4" and meta["base_model"] == "tiny" and meta["dtype"] == "float32"
    kv = load_prefix(path, "tiny", lm.config.model_type, geometry)
    assert kv.numel() == geometry.n_layers * 2 * geometry.n_kv_heads * 4 * geometry.head_dim
    x = tok(" name : A", return_tensors="pt").input_ids
    torch.testing.assert_close(PrefixLM(lm, FixedPrefix(kv))(x, torch.ones_like(x)), PrefixLM(lm, encoder.eval())(x, torch.ones_like(x)))


@pytest.mark.parametrize("field, value, message", [
    ("base_model", "other-model", "base_model=tiny"),
    ("architecture", "gpt2", "architecture=llama"),
    ("geometry", KVGeometry(3, 2, 16, 64), "n_layers=2"),
])
def test_mismatch_is_one_clear_line(tmp_path, field, value, message):
    path = tmp_path / "p.safetensors"
    save_prefix(path, torch.zeros(2, 2, 2, 3, 16), "tiny", "llama")
    args = {"base_model": "tiny", "architecture": "llama", "geometry": GEOMETRY}
    args[field] = value
    with pytest.raises(UserError, match=message) as err:
        load_prefix(path, **args)
    assert "\n" not in str(err.value)


def test_not_a_prefix_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(UserError, match="not a prefix file"):
        load_prefix(path, "tiny", "llama", GEOMETRY)
