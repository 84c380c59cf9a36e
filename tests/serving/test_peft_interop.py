"""PEFT prefix-tuning checkpoints in and out: the same logits as PEFT's own loader on the same tiny model."""

import json

import pytest
import torch
from safetensors.torch import save_file

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.lm.loading import load_base_model, load_tokenizer
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.encoder import FixedPrefix
from prefix_tuning.prefix.file_format import load_prefix
from prefix_tuning.serving.peft_interop import export_peft, import_peft, read_peft_prefix

peft = pytest.importorskip("peft")
IDENTITIES = {
    "tiny-gpt2": {"base_model": "tiny-random-gpt2-seed0", "architecture": "gpt2", "task": "e2e"},
    "tiny-llama": {"base_model": "tiny-random-llama-seed0", "architecture": "llama", "task": "e2e"},
}
TEXT = " name : The Eagle | Type : coffee shop | area : riverside"


@pytest.fixture(params=list(IDENTITIES))
def fresh_lm(request, compose_cfg):
    """(name, a tiny LM of its own (PEFT wraps it), tokenizer, geometry)."""
    cfg = compose_cfg(f"model={request.param}").model
    tok = load_tokenizer(cfg)
    lm = load_base_model(cfg, tok)
    return request.param, lm, tok, KVGeometry.of(lm.config)


def ours_and_theirs(peft_model, kv, tok):
    ids = tok(TEXT, return_tensors="pt").input_ids
    mask = torch.ones_like(ids)
    theirs = peft_model(input_ids=ids, attention_mask=mask).logits
    ours = PrefixLM(peft_model.get_base_model(), FixedPrefix(kv))(ids, mask)
    return ours, theirs


def test_exported_prefix_gives_the_same_logits_in_peft(tmp_path, fresh_lm, write_prefix):
    name, lm, tok, geometry = fresh_lm
    kv = write_prefix(tmp_path / "ours.safetensors", name, length=5, seed=7)
    export_peft(tmp_path / "ours.safetensors", tmp_path / "peft")
    peft_model = peft.PeftModel.from_pretrained(lm, tmp_path / "peft")
    ours, theirs = ours_and_theirs(peft_model, kv, tok)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(theirs, lm(tok(TEXT, return_tensors="pt").input_ids).logits, atol=1e-3)  # P is used


@pytest.mark.parametrize("projection", [False, True])
def test_peft_checkpoint_imports_with_the_same_logits(tmp_path, fresh_lm, projection):
    name, lm, tok, geometry = fresh_lm
    torch.manual_seed(3)
    config = peft.PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=4, prefix_projection=projection, encoder_hidden_size=16
    )
    peft_model = peft.get_peft_model(lm, config)
    peft_model.save_pretrained(tmp_path / "peft")
    kv = import_peft(tmp_path / "peft", tmp_path / "ours.safetensors", geometry, IDENTITIES[name])
    assert torch.equal(load_prefix(tmp_path / "ours.safetensors", IDENTITIES[name], geometry), kv)
    ours, theirs = ours_and_theirs(peft_model, kv, tok)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_checkpoint_holding_the_mlp_is_run_through_it(tmp_path, fresh_lm):
    """A checkpoint with the MLP itself (embedding + transform) gives P = MLP(P'), as PEFT computes it."""
    name, lm, tok, geometry = fresh_lm
    torch.manual_seed(4)
    config = peft.PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=3, prefix_projection=True, encoder_hidden_size=16
    )
    peft_model = peft.get_peft_model(lm, config)
    encoder = peft_model.prompt_encoder["default"]
    (tmp_path / "mlp").mkdir()
    save_file({f"prompt_encoder.{k}": v.contiguous() for k, v in encoder.state_dict().items()},
              str(tmp_path / "mlp" / "adapter_model.safetensors"))  # fmt: skip
    (tmp_path / "mlp" / "adapter_config.json").write_text(json.dumps(peft_model.peft_config["default"].to_dict()))
    kv, _ = read_peft_prefix(tmp_path / "mlp", geometry)
    ours, theirs = ours_and_theirs(peft_model, kv, tok)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_cli_round_trip_and_one_line_errors(tmp_path, write_prefix, run_module, assert_user_error):
    kv = write_prefix(tmp_path / "ours.safetensors", seed=5)
    exported = run_module("prefix_tuning.serve", "export-peft", tmp_path / "ours.safetensors", tmp_path / "peft")
    assert exported.returncode == 0, exported.stderr[-2000:]
    back = tmp_path / "back.safetensors"
    imported = run_module("prefix_tuning.serve", "import-peft", tmp_path / "peft", back, "--task", "e2e")
    assert imported.returncode == 0, imported.stderr[-2000:]
    geometry = KVGeometry(n_layers=2, n_kv_heads=4, head_dim=16, hidden_size=64)
    assert torch.equal(load_prefix(back, IDENTITIES["tiny-gpt2"], geometry), kv)
    wrong = run_module("prefix_tuning.serve", "import-peft", tmp_path / "peft", back, "--task", "e2e", "--model", "tiny-llama")  # fmt: skip
    assert_user_error(wrong, "(layers, kv heads, head size) = (2, 4, 16)", "(2, 2, 16)")


def test_bad_checkpoints_are_one_line_errors(tmp_path, write_prefix):
    geometry = KVGeometry(n_layers=2, n_kv_heads=4, head_dim=16, hidden_size=64)
    with pytest.raises(UserError, match="not a PEFT checkpoint"):
        read_peft_prefix(tmp_path, geometry)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "task_type": "CAUSAL_LM"}))
    with pytest.raises(UserError, match="PEFT LORA checkpoint, not PREFIX_TUNING"):
        read_peft_prefix(tmp_path, geometry)
    write_prefix(tmp_path / "ours.safetensors")
    export_peft(tmp_path / "ours.safetensors", tmp_path / "peft")
    save_file({"something_else": torch.zeros(2, 2)}, str(tmp_path / "peft" / "adapter_model.safetensors"))
    with pytest.raises(UserError, match="holds no prefix-tuning tensor"):
        read_peft_prefix(tmp_path / "peft", geometry)
    with pytest.raises(UserError, match="not a safetensors file"):
        export_peft(tmp_path / "adapter_config.json", tmp_path / "out")
