"""Saved files: one metadata schema for prefixes and other methods; a prefix keeps only P; loading
refuses a file made for another model, method or shape in one line."""

import json

import pytest
import torch

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.encoder import FixedPrefix, PrefixEncoder
from prefix_tuning.prefix.file_format import load_prefix, save_prefix
from prefix_tuning.tensor_files import atomic_dir, load_module, read_metadata, save_module

GEOMETRY = KVGeometry(n_layers=2, n_kv_heads=2, head_dim=16, hidden_size=64)
IDENTITY = {"base_model": "tiny", "architecture": "llama", "task": "e2e"}


def test_round_trip_keeps_p_and_drops_the_mlp(tmp_path, tiny_lm, prefix_config):
    name, lm, tok, geometry = tiny_lm
    encoder = PrefixEncoder(prefix_config(prefix_length=4, mlp_hidden=32), geometry)
    path = tmp_path / "prefix.safetensors"
    identity = {**IDENTITY, "architecture": lm.config.model_type}
    save_prefix(path, encoder.materialize(), identity, {"prefix": {"prefix_length": 4}})
    meta = read_metadata(path)
    assert meta["prefix_length"] == "4" and meta["base_model"] == "tiny" and meta["dtype"] == "float32"
    assert meta["method"] == "prefix" and json.loads(meta["extra"]) == {"task": "e2e", "prefix": {"prefix_length": 4}}
    kv = load_prefix(path, identity, geometry)
    assert kv.numel() == geometry.n_layers * 2 * geometry.n_kv_heads * 4 * geometry.head_dim
    x = tok(" name : A", return_tensors="pt").input_ids
    ones = torch.ones_like(x)
    torch.testing.assert_close(PrefixLM(lm, FixedPrefix(kv))(x, ones), PrefixLM(lm, encoder.eval())(x, ones))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("base_model", "other-model", "base_model=tiny"),
        ("architecture", "gpt2", "architecture=llama"),
        ("geometry", KVGeometry(3, 2, 16, 64), "n_layers=2"),
    ],
)
def test_mismatch_is_one_clear_line(tmp_path, field, value, message):
    path = tmp_path / "p.safetensors"
    save_prefix(path, torch.zeros(2, 2, 2, 3, 16), IDENTITY)
    identity, geometry = dict(IDENTITY), GEOMETRY
    if field == "geometry":
        geometry = value
    else:
        identity[field] = value
    with pytest.raises(UserError, match=message) as err:
        load_prefix(path, identity, geometry)
    assert "\n" not in str(err.value)


def test_not_a_prefix_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(UserError, match="not a safetensors file"):
        load_prefix(path, IDENTITY, GEOMETRY)


def test_method_files_share_the_schema_and_a_prefix_file_is_no_adapter(tmp_path):
    module = torch.nn.Linear(3, 2)
    save_module(module, tmp_path / "w.safetensors", IDENTITY, "adapter", {"bottleneck": 2})
    meta = read_metadata(tmp_path / "w.safetensors")
    assert {k: meta[k] for k in ("method", "base_model", "architecture")} == {
        "method": "adapter",
        "base_model": "tiny",
        "architecture": "llama",
    }
    other = torch.nn.Linear(3, 2)
    load_module(other, tmp_path / "w.safetensors", IDENTITY, "adapter")
    assert torch.equal(other.weight, module.weight)
    save_prefix(tmp_path / "p.safetensors", torch.zeros(2, 2, 2, 3, 16), IDENTITY)
    with pytest.raises(UserError, match="method=prefix"):
        load_module(other, tmp_path / "p.safetensors", IDENTITY, "adapter")


def test_atomic_dir_keeps_the_old_folder_when_the_write_fails(tmp_path):
    target = tmp_path / "checkpoint"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("first")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("crash mid-write")
    assert (target / "a").read_text() == "first"
