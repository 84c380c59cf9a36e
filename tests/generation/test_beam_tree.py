"""The beam tree cache and its attention, against independent references: each beam row's own history kept as a
plain list of (key, value) columns through admissions, reorders, slot moves, compactions and growth; and
PyTorch's attention over each row's own full cache."""

import random
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from prefix_tuning.generation import beam_tree_cache
from prefix_tuning.generation.beam_tree_attention import NAME, BeamTree, beam_tree, beam_tree_attention
from prefix_tuning.generation.beam_tree_cache import BeamTreeCache


class _Layer:  # what the attention function reads off the module
    layer_idx = 1


def _visible(cache: BeamTreeCache, layer: int, row: int) -> torch.Tensor:
    """The keys row `row` may attend to, in column order: [kv_heads, columns, head_dim]."""
    slot = row // cache.beams
    return cache.keys[layer][slot][:, cache.mask[row, : cache.capacity]]


@pytest.mark.parametrize("compact_every", [1, 3, 50])
def test_every_row_sees_exactly_its_own_history_through_reorders_moves_and_compactions(monkeypatch, compact_every):
    monkeypatch.setattr(beam_tree_cache, "COMPACT_EVERY", compact_every)
    rng, gen = random.Random(0), torch.Generator().manual_seed(0)
    layers, kv_heads, dim, slots, beams = 2, 2, 3, 4, 3
    cache = BeamTreeCache(layers, kv_heads, dim, slots, beams, torch.float32, torch.device("cpu"))
    history: dict[int, list[list[torch.Tensor]]] = {}  # per row, per layer: its columns [kv_heads, n, dim]
    active = 0

    def admit():
        nonlocal active
        width = rng.randint(1, 6)
        keys = [torch.randn(1, kv_heads, width, dim, generator=gen) for _ in range(layers)]
        cache.admit(active, keys, [k + 100 for k in keys])
        for beam in range(beams):
            history[active * beams + beam] = [k[0] for k in keys]
        active += 1

    for _ in range(120):
        while active < slots and rng.random() < 0.5:
            admit()
        if not active:
            admit()
        rows = active * beams
        step_cache, bias = cache.step(active)
        new = [torch.randn(rows, kv_heads, 1, dim, generator=gen) for _ in range(layers)]
        for layer, (tree_layer, keys) in enumerate(zip(step_cache.layers, new)):
            tree_layer.update(keys, keys + 100)
            for row in range(rows):
                history[row][layer] = torch.cat([history[row][layer], keys[row]], dim=1)
        for row in range(rows):  # the bias lets each row see its own columns, nothing else
            assert int((bias[row] == 0).sum()) == history[row][0].shape[1]
            for layer in range(layers):
                torch.testing.assert_close(_visible(cache, layer, row), history[row][layer], rtol=0, atol=0)
                values = cache.values[layer][row // beams][:, cache.mask[row, : cache.capacity]]
                torch.testing.assert_close(values, history[row][layer] + 100, rtol=0, atol=0)
        # beams continue random parents within their slot, then a random slot leaves: the last one takes its place
        parents = [(row // beams) * beams + rng.randrange(beams) for row in range(rows)]
        cache.reorder(torch.tensor(parents))
        history.update({row: list(history[parent]) for row, parent in zip(range(rows), parents)})
        if rng.random() < 0.3:
            leaving, last = rng.randrange(active), active - 1
            if leaving != last:
                cache.move([leaving], [last])
                for beam in range(beams):
                    history[leaving * beams + beam] = history[last * beams + beam]
            active -= 1
    assert cache.capacity > 6 + beams  # it grew along the way


@pytest.mark.parametrize("heads,kv_heads", [(6, 2), (4, 4)])
def test_attention_equals_sdpa_over_each_rows_own_cache(heads, kv_heads):
    torch.manual_seed(0)
    slots, inputs, beams, dim, capacity, width = 4, 3, 2, 8, 12, 9
    rows = inputs * beams
    keys = [torch.randn(slots, kv_heads, capacity, dim) for _ in range(2)]
    values = [torch.randn(slots, kv_heads, capacity, dim) for _ in range(2)]
    allowed = torch.rand(rows, width) < 0.6
    allowed[:, 0] = True
    bias = torch.zeros(rows, width).masked_fill(~allowed, float("-inf"))
    query = torch.randn(rows, heads, 1, dim)

    lm = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))
    with beam_tree(lm, BeamTree(keys, values, bias, beams)):
        assert lm.config._attn_implementation == NAME
        out, _ = beam_tree_attention(_Layer(), query, None, None, None, scaling=0.3)
    assert lm.config._attn_implementation == "sdpa"

    # the reference: every row's own copy of its input's columns, its heads' kv head repeated, PyTorch's attention
    own_keys = keys[1][:inputs, :, :width].repeat_interleave(beams, dim=0).repeat_interleave(heads // kv_heads, dim=1)
    own_values = values[1][:inputs, :, :width].repeat_interleave(beams, 0).repeat_interleave(heads // kv_heads, 1)
    expected = F.scaled_dot_product_attention(query, own_keys, own_values, attn_mask=allowed[:, None, None], scale=0.3)
    assert out.shape == (rows, 1, heads, dim)
    torch.testing.assert_close(out, expected.transpose(1, 2), rtol=1e-5, atol=1e-6)


def test_refuses_to_run_outside_a_decoding_step_or_with_attention_it_does_not_implement():
    q = torch.randn(2, 2, 1, 4)
    with pytest.raises(RuntimeError, match="only inside `beam_tree`"):
        beam_tree_attention(_Layer(), q, q, q, None)
    lm = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))
    tree = BeamTree([q[:1]] * 2, [q[:1]] * 2, torch.zeros(2, 2), 2)
    with beam_tree(lm, tree), pytest.raises(NotImplementedError, match="a sliding window of 1 tokens"):
        beam_tree_attention(_Layer(), q, q, q, None, sliding_window=1)  # the rows attend to 2 columns
    with beam_tree(lm, tree), pytest.raises(NotImplementedError, match="softcap"):
        beam_tree_attention(_Layer(), q, q, q, None, softcap=30.0)
