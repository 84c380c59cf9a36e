"""Small randomly initialized models for fast tests: GPT-2, Llama (grouped-query attention), BART, T5."""

import torch
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from prefix_tuning.errors import UserError


def tiny_random(arch: str, vocab_size: int, eos_id: int, seed: int = 0, **sizes):
    """A small randomly initialized GPT-2, Llama (grouped-query attention), BART or T5 for fast tests.

    The encoder-decoders use GPT-2's tokenizer: BART's own BPE is GPT-2's; for T5 it stands in for
    SentencePiece, with its EOS as pad and decoder start token (T5 starts decoding from pad).
    """
    torch.manual_seed(seed)
    if arch == "gpt2":
        config = GPT2Config(vocab_size=vocab_size, bos_token_id=eos_id, eos_token_id=eos_id, **sizes)
        return GPT2LMHeadModel(config)
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=vocab_size, bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id, **sizes
        )
        return LlamaForCausalLM(config)
    special = dict(pad_token_id=eos_id, eos_token_id=eos_id, decoder_start_token_id=eos_id)
    if arch == "bart":
        # No forced BOS/EOS: the pretrained BART's generation quirks do not apply to a random model.
        config = BartConfig(
            vocab_size=vocab_size,
            bos_token_id=eos_id,
            forced_bos_token_id=None,
            forced_eos_token_id=None,
            **special,
            **sizes,
        )
        return BartForConditionalGeneration(config)
    if arch == "t5":
        return T5ForConditionalGeneration(T5Config(vocab_size=vocab_size, **special, **sizes))
    raise UserError(f"unknown tiny architecture {arch!r}; choose gpt2, llama, bart or t5")
