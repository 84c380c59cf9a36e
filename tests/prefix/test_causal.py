"""The prefix path against independent references: real tokens, no-cache decoding, PEFT."""

import pytest
import torch

from prefix_tuning.errors import UserError
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.encoder import FixedPrefix, PrefixEncoder, from_kv
from prefix_tuning.prefix.word_init import init_from_words, init_token_ids, with_word_length, word_activations
from prefix_tuning.training.batching import pad_batch

SENTENCES = [" name : The Eagle | Type : coffee shop", " a b", " name : Aromi | food : English | area : riverside"]


def test_prefix_from_words_equals_feeding_the_words(tiny_lm, prefix_config):
    """Paper 7.4: a prefix of the words' activations is exactly the words as real tokens."""
    _, lm, tok, geometry = tiny_lm
    words = " table-to-text generation"
    length = len(tok(words)["input_ids"])
    encoder = PrefixEncoder(
        prefix_config(prefix_length=length, mlp_hidden=None, init="words", init_words=words), geometry
    )
    init_from_words(encoder, lm, tok)
    x = tok(SENTENCES[0], return_tensors="pt").input_ids
    ours = PrefixLM(lm, encoder)(x, torch.ones_like(x))
    full = torch.cat([tok(words, return_tensors="pt").input_ids, x], dim=1)
    reference = lm(full).logits[:, length:]
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_mlp_init_fits_only_the_mlp_to_the_word_activations(tiny_lm, prefix_config):
    _, lm, tok, geometry = tiny_lm
    words = "summarization"
    count = len(tok(" summarization", add_special_tokens=False)["input_ids"])
    config = prefix_config(
        prefix_length=count, mlp_hidden=32, init="words", init_words=words, init_fit_steps=300, init_fit_lr=1e-2
    )
    encoder = PrefixEncoder(config, geometry)
    p_prime = encoder.embedding.detach().clone()
    target = from_kv(word_activations(lm, tok, words))
    before = torch.nn.functional.mse_loss(encoder.flat(), target).item()
    after = init_from_words(encoder, lm, tok)
    assert after < 0.1 * before
    assert torch.equal(encoder.embedding, p_prime)  # the original fits the MLP only; P' stays as drawn


def test_word_init_length_is_the_token_count_of_the_words_after_a_space(tiny_tokenizer, prefix_config):
    """GPT-2 BPE: " elephant" is one token (no leading space: two), "table-to-text:" six (appendix A.2's L=6)."""
    assert (
        init_token_ids(tiny_tokenizer, "elephant") == tiny_tokenizer(" elephant", add_special_tokens=False)["input_ids"]
    )
    assert len(tiny_tokenizer("elephant", add_special_tokens=False)["input_ids"]) == 2
    for words, count in (("elephant", 1), ("table-to-text:", 6), ("summarize", 1)):
        config = with_word_length(prefix_config(prefix_length=None, init="words", init_words=words), tiny_tokenizer)
        assert config.prefix_length == count, words
    with pytest.raises(UserError, match="are 6 tokens") as err:
        with_word_length(prefix_config(prefix_length=10, init="words", init_words="table-to-text:"), tiny_tokenizer)
    assert "method.prefix_length=6" in str(err.value)
    with pytest.raises(UserError, match="may only be null with init=words"):
        prefix_config(prefix_length=None)


def test_generate_equals_no_cache_reference_left_padded(tiny_lm, random_kv, greedy_reference):
    _, lm, tok, geometry = tiny_lm
    model = PrefixLM(lm, FixedPrefix(random_kv(geometry, 5)))
    prompts = [tok(s)["input_ids"] for s in SENTENCES]
    ids, mask = pad_batch(prompts, tok.pad_token_id, "left")
    batched = model.generate(
        ids, mask, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=None
    )
    for row, prompt in enumerate(prompts):
        assert batched[row].tolist() == greedy_reference(model, prompt, 6)


def test_beam_search_batched_left_padded_equals_one_at_a_time(tiny_lm, random_kv):
    _, lm, tok, geometry = tiny_lm
    model = PrefixLM(lm, FixedPrefix(random_kv(geometry, 4, seed=1)))
    prompts = [tok(s)["input_ids"] for s in SENTENCES]
    kwargs = dict(num_beams=4, max_new_tokens=7, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=None)
    ids, mask = pad_batch(prompts, tok.pad_token_id, "left")
    batched = model.generate(ids, mask, **kwargs)
    for row, prompt in enumerate(prompts):
        single = model.generate(torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long), **kwargs)
        assert batched[row].tolist() == single[0].tolist()


def test_prefix_changes_generated_text(tiny_lm, random_kv):
    """Guards against the silent failure of PEFT's generate here: a prefix that is ignored."""
    _, lm, tok, geometry = tiny_lm
    ids = tok(SENTENCES[0], return_tensors="pt").input_ids
    mask = torch.ones_like(ids)
    kwargs = dict(max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=None)
    outputs = {
        scale: PrefixLM(lm, FixedPrefix(random_kv(geometry, 5, scale=scale))).generate(ids, mask, **kwargs)[0].tolist()
        for scale in (1.0, 20.0)
    }
    plain = PrefixLM(lm, None).generate(ids, mask, **kwargs)[0].tolist()
    assert outputs[1.0] != outputs[20.0] or outputs[1.0] != plain


def test_per_row_prefixes_equal_separate_batches(tiny_lm, random_kv):
    """Serving: one batch mixing two tasks' prefixes gives each row what its own prefix gives."""
    _, lm, tok, geometry = tiny_lm
    kv_a, kv_b = random_kv(geometry, 3, seed=2), random_kv(geometry, 3, seed=3)
    prompts = [tok(s)["input_ids"] for s in SENTENCES[:2]]
    ids, mask = pad_batch(prompts, tok.pad_token_id, "left")
    kwargs = dict(num_beams=2, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=None)
    mixed = PrefixLM(lm, None).generate(ids, mask, kv=torch.stack([kv_a, kv_b]), **kwargs)
    assert mixed[0].tolist() == PrefixLM(lm, FixedPrefix(kv_a)).generate(ids, mask, **kwargs)[0].tolist()
    assert mixed[1].tolist() == PrefixLM(lm, FixedPrefix(kv_b)).generate(ids, mask, **kwargs)[1].tolist()


def test_same_logits_as_peft_prefix_tuning(tiny_lm, random_kv):
    """PEFT is a valid reference for the forward pass (not for generate on transformers 5.x)."""
    peft = pytest.importorskip("peft")
    name, lm, tok, geometry = tiny_lm
    length = 6
    kv = random_kv(geometry, length, seed=4)
    config = peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=length, prefix_projection=False)
    peft_model = peft.get_peft_model(lm, config)
    try:
        peft_model.prompt_encoder["default"].embedding.weight.data.copy_(from_kv(kv))
        x = tok(SENTENCES[0], return_tensors="pt").input_ids
        theirs = peft_model(input_ids=x, attention_mask=torch.ones_like(x)).logits
        ours = PrefixLM(peft_model.get_base_model(), FixedPrefix(kv))(x, torch.ones_like(x))
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    finally:
        peft_model.unload() if hasattr(peft_model, "unload") else None
