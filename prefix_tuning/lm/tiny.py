"""Small randomly initialized models of every supported family (`lm/families.py`), for fast tests and
`model=tiny-<family>` smoke runs: transformers' own config classes with the family's tiny sizes.

They use GPT-2's tokenizer: BART's own BPE is GPT-2's; for T5 and the others it stands in for their own
vocabularies, with its EOS as BOS, pad and decoder start token (T5 starts decoding from pad).
"""

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

from prefix_tuning.errors import UserError
from prefix_tuning.lm.families import BY_TYPE, tiny_config


def tiny_random(arch: str, vocab_size: int, eos_id: int, seed: int = 0, **sizes):
    """A small random model of the family whose Hugging Face model type is `arch` (gpt2, llama, qwen3, t5, ...)."""
    if arch not in BY_TYPE:
        raise UserError(f"unknown tiny architecture {arch!r}; choose one of: {', '.join(BY_TYPE)}")
    family = BY_TYPE[arch]
    torch.manual_seed(seed)
    auto = AutoModelForSeq2SeqLM if family.kind == "seq2seq" else AutoModelForCausalLM
    return auto.from_config(tiny_config(family, vocab_size, eos_id, **sizes))
