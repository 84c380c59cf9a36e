"""Shared-prompt attention against PyTorch's own attention over the full cache (each beam's copy of its input's
prompt, then its generated columns), with grouped heads, left padding and several inputs; and its buffers."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from prefix_tuning.generation.alternating_buffers import AlternatingBuffers
from prefix_tuning.generation.shared_prompt_attention import NAME, SharedPrompt, shared_prompt, shared_prompt_attention


class _Layer:  # what the attention function reads off the module
    layer_idx = 1


@pytest.mark.parametrize("heads,kv_heads", [(6, 2), (4, 4)])
def test_equals_sdpa_over_each_beams_full_cache(heads, kv_heads):
    torch.manual_seed(0)
    inputs, beams, dim, prompt_width, generated = 3, 4, 8, 7, 5
    rows = inputs * beams
    prompt_lengths = [7, 4, 2]  # left-padded to 7
    generated_lengths = [5, 1, 3]  # this step's column included; left-padded to 5
    prompt_keys = [torch.randn(inputs, kv_heads, prompt_width, dim) for _ in range(2)]
    prompt_values = [torch.randn(inputs, kv_heads, prompt_width, dim) for _ in range(2)]
    key, value = torch.randn(rows, kv_heads, generated, dim), torch.randn(rows, kv_heads, generated, dim)
    query = torch.randn(rows, heads, 1, dim)
    allowed = torch.zeros(rows, prompt_width + generated, dtype=torch.bool)
    for row in range(rows):
        item = row // beams
        allowed[row, prompt_width - prompt_lengths[item] : prompt_width] = True
        allowed[row, prompt_width + generated - generated_lengths[item] :] = True
    bias = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))

    lm = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))
    with shared_prompt(lm, SharedPrompt(prompt_keys, prompt_values, bias, beams)):
        assert lm.config._attn_implementation == NAME
        out, _ = shared_prompt_attention(_Layer(), query, key, value, None, scaling=0.3)
    assert lm.config._attn_implementation == "sdpa"

    # the reference: every row's own full cache, its heads' kv head repeated, PyTorch's attention
    full_keys = torch.cat([prompt_keys[1].repeat_interleave(beams, dim=0), key], dim=2)
    full_values = torch.cat([prompt_values[1].repeat_interleave(beams, dim=0), value], dim=2)
    full_keys = full_keys.repeat_interleave(heads // kv_heads, dim=1)
    full_values = full_values.repeat_interleave(heads // kv_heads, dim=1)
    expected = F.scaled_dot_product_attention(
        query, full_keys, full_values, attn_mask=allowed[:, None, None], scale=0.3
    )
    assert out.shape == (rows, 1, heads, dim)
    torch.testing.assert_close(out, expected.transpose(1, 2), rtol=1e-5, atol=1e-6)


def test_refuses_to_run_outside_a_decoding_step_or_with_attention_it_does_not_implement():
    q = torch.randn(2, 2, 1, 4)
    with pytest.raises(RuntimeError, match="only inside `shared_prompt`"):
        shared_prompt_attention(_Layer(), q, q, q, None)
    lm = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))
    prompt = SharedPrompt([q[:1]] * 2, [q[:1]] * 2, torch.zeros(2, 2), 2)
    with shared_prompt(lm, prompt), pytest.raises(NotImplementedError, match="sliding_window"):
        shared_prompt_attention(_Layer(), q, q, q, None, sliding_window=4096)


def test_alternating_buffers_never_hand_out_the_storage_still_being_read():
    buffers = AlternatingBuffers()
    like = torch.zeros(1)
    first = buffers.next(2, (3, 4), like)
    second = buffers.next(2, (3, 5), like)
    third = buffers.next(2, (2, 4), like)  # fits in the first storage: reused
    assert {t.data_ptr() for t in first}.isdisjoint(t.data_ptr() for t in second)
    assert [t.data_ptr() for t in third] == [t.data_ptr() for t in first]
    assert all(t.is_contiguous() and t.shape == (2, 4) for t in third)
    fourth = buffers.next(2, (10, 10), like)  # too big for the second storage: a new one, the third untouched
    assert {t.data_ptr() for t in fourth}.isdisjoint(t.data_ptr() for t in third)
    assert fourth[0].shape == (10, 10)
