"""The beam engine against Hugging Face `generate` (the independent reference): the same outputs for greedy
and beam search with every decoding setting we use, with continuous refill, mixed prefixes of different
lengths, and items that join a batch while others decode."""

from dataclasses import replace

import pytest
import torch

from prefix_tuning.generation.beam_engine import BeamEngine, Item
from prefix_tuning.generation.decode import cut_at_eos, decode, generate_kwargs, search_settings
from prefix_tuning.prefix.causal import PrefixLM, causal_generate
from prefix_tuning.prefix.encoder import FixedPrefix
from prefix_tuning.tasks.encoding import encode_source

SOURCES = [
    "name : The Vaults | Type : pub | price : more than £ 30 | near : Café Adriatic",
    "name : Aromi",
    "name : Zizzi | food : Japanese",
    "name : The Eagle | Type : coffee shop | food : Japanese | area : city centre",
    "name : Blue Spice | area : riverside",
    "x",
]


@pytest.fixture
def settings(compose_cfg):
    from prefix_tuning.generation.decode import DecodeSettings

    return DecodeSettings.from_mapping(compose_cfg("task=e2e").task.decoding)


@pytest.mark.parametrize(
    "changes",
    [
        dict(num_beams=1, min_new_tokens=2, max_new_tokens=12),
        dict(num_beams=3, min_new_tokens=2, max_new_tokens=12),
        dict(num_beams=5, min_new_tokens=5, max_new_tokens=15),
        dict(num_beams=4, min_new_tokens=1, max_new_tokens=10, length_penalty=0.6, early_stopping=True),
        dict(num_beams=4, min_new_tokens=0, max_new_tokens=10, length_penalty=1.8, ban_newlines=False),
    ],
)
def test_decode_with_the_engine_equals_generate(tiny_lm, random_kv, settings, changes):
    """More sources than slots (batch_size 2): items leave and join as they finish."""
    _, lm, tok, geometry = tiny_lm
    model = PrefixLM(lm, FixedPrefix(random_kv(geometry, 4, seed=7, scale=3.0)))
    settings = replace(settings, engine_batch_size=2, **changes)
    fast = decode(model, tok, SOURCES, settings, engine=True)
    reference = decode(model, tok, SOURCES, replace(settings, batch_size=1), engine=False)
    assert fast == reference
    assert len(set(fast)) > 1


def test_items_with_their_own_prefixes_joining_mid_flight_equal_generate(tiny_lm, random_kv, settings):
    """Continuous batching: items with prefixes of different lengths join a running engine at different steps;
    each answer equals `generate` with that prefix alone."""
    _, lm, tok, geometry = tiny_lm
    settings = replace(settings, num_beams=3, min_new_tokens=3, max_new_tokens=14)
    search = search_settings(settings, tok)
    prefixes = [random_kv(geometry, length, seed=seed, scale=3.0) for seed, length in enumerate((2, 5, 3, 6))]
    prompts = [encode_source(tok, source, 64) for source in SOURCES[:4]]
    engine = BeamEngine(lm, search, rows_budget=3 * search.num_beams)
    items = [Item(prompt, kv, key=i) for i, (prompt, kv) in enumerate(zip(prompts, prefixes))]
    results, step = {}, 0
    while len(results) < len(items):
        if step < len(items):
            engine.add(items[step])  # one more item joins at every step
        for item in engine.step():
            results[item.key] = item.result
        step += 1
    kwargs = generate_kwargs(settings, tok)
    for i, (prompt, kv) in enumerate(zip(prompts, prefixes)):
        ids = torch.tensor([prompt])
        want = causal_generate(lm, ids, torch.ones_like(ids), kv, **kwargs)[0].tolist()
        assert cut_at_eos(results[i], tok.eos_token_id) == cut_at_eos(want, tok.eos_token_id), i


def test_cancel_frees_the_rows_and_leaves_the_others_unchanged(tiny_lm, random_kv, settings):
    _, lm, tok, geometry = tiny_lm
    settings = replace(settings, num_beams=2, min_new_tokens=6, max_new_tokens=6)
    kv = random_kv(geometry, 3, seed=1, scale=3.0)
    engine = BeamEngine(lm, search_settings(settings, tok), rows_budget=4)
    prompts = [encode_source(tok, source, 64) for source in SOURCES[:2]]
    for i, prompt in enumerate(prompts):
        engine.add(Item(prompt, kv, key=i))
    engine.step()
    assert engine.last_tokens.shape[0] == 4
    engine.cancel(0)  # item 1 moves into the freed slot 0
    assert engine.last_tokens.shape[0] == 2 and [item.key for item in engine.active] == [1]
    finished = []
    while engine.busy():
        finished += engine.step()
    alone = decode(PrefixLM(lm, FixedPrefix(kv)), tok, SOURCES[1:2], replace(settings, batch_size=1), engine=False)
    assert [item.key for item in finished] == [1]
    assert tok.decode(cut_at_eos(finished[0].result, tok.eos_token_id), skip_special_tokens=True).strip() == alone[0]


def test_generate_batches_never_end_in_the_pad_id_and_decode_as_with_eos_padding(tiny_lm, random_kv, settings):
    """Our prompts end with EOS; padding with EOS made `generate` warn of right padding on every batch. The
    prompt pad id differs from EOS, so its check never fires, and the outputs equal EOS-padded `generate`."""
    from prefix_tuning.training.batching import pad_batch

    _, lm, tok, geometry = tiny_lm
    model = PrefixLM(lm, FixedPrefix(random_kv(geometry, 3, seed=2, scale=3.0)))
    settings = replace(settings, num_beams=3, min_new_tokens=2, max_new_tokens=10, batch_size=3)
    seen = []
    plain_generate = model.generate

    def recording_generate(ids, mask, **kwargs):
        seen.append(bool((ids[:, -1] == kwargs["pad_token_id"]).any()))
        return plain_generate(ids, mask, **kwargs)

    model.generate = recording_generate
    ours = decode(model, tok, SOURCES, settings, engine=False)
    assert seen and not any(seen)

    prompts = [encode_source(tok, s, settings.max_source_tokens) for s in SOURCES]
    ids, mask = pad_batch(prompts, tok.eos_token_id, "left")
    kwargs = {**generate_kwargs(settings, tok), "pad_token_id": tok.eos_token_id}
    with_eos = [tok.decode(cut_at_eos(row, tok.eos_token_id), skip_special_tokens=True).strip()
                for row in plain_generate(ids, mask, **kwargs).tolist()]  # fmt: skip
    assert ours == with_eos


def test_items_admitted_together_are_prefilled_together_and_a_bad_prompt_fails_alone(tiny_lm, random_kv, settings):
    """Items admitted at one step share one left-padded prefill (prefixes of one length stacked per row, other
    lengths in their own batch); each answer equals `generate` with that prefix alone, and a prompt the model
    cannot read (an id past the vocabulary) fails its own item only."""
    _, lm, tok, geometry = tiny_lm
    settings = replace(settings, num_beams=3, min_new_tokens=2, max_new_tokens=12)
    prefixes = [random_kv(geometry, length, seed=seed, scale=3.0) for seed, length in enumerate((4, 4, 2, 4))]
    prompts = [encode_source(tok, source, 64) for source in SOURCES[:4]]
    bad = Item([len(tok) + 5, *prompts[0]], prefixes[0], key="bad")
    engine = BeamEngine(lm, search_settings(settings, tok), rows_budget=5 * 3)
    items = [Item(prompt, kv, key=i) for i, (prompt, kv) in enumerate(zip(prompts, prefixes))]
    for item in [items[0], bad, *items[1:]]:
        engine.add(item)
    finished = engine.step()  # all five admitted at once
    assert [item.key for item in finished] == ["bad"] and isinstance(bad.error, IndexError)
    while engine.busy():
        engine.step()
    kwargs = generate_kwargs(settings, tok)
    for item, prompt, kv in zip(items, prompts, prefixes):
        ids = torch.tensor([prompt])
        want = causal_generate(lm, ids, torch.ones_like(ids), kv, **kwargs)[0].tolist()
        assert cut_at_eos(item.result, tok.eos_token_id) == cut_at_eos(want, tok.eos_token_id), item.key


@pytest.fixture
def ending_lm(tiny_lm):
    """The tiny LM with its EOS logit raised along the direction its last hidden states share, so beams end at
    different lengths (a random model alone almost never emits EOS, and then EOS, minimum length, length penalty
    and early stopping never change an outcome)."""
    import copy

    name, lm, tok, geometry = tiny_lm
    lm = copy.deepcopy(lm)
    ids = [encode_source(tok, source, 64) for source in SOURCES]
    with torch.no_grad():
        hidden = torch.cat([lm(torch.tensor([i]), output_hidden_states=True).hidden_states[-1][0] for i in ids])
        head = lm.get_output_embeddings()
        weight = head.weight.detach().clone()  # untied: the input embedding of EOS stays as it was
        direction = hidden.mean(0) / hidden.mean(0).norm()
        weight[tok.eos_token_id] = direction * (hidden @ direction).abs().mean().reciprocal() * 9.0
        head.weight = torch.nn.Parameter(weight, requires_grad=False)
    return name, lm, tok, geometry


@pytest.mark.parametrize("length_penalty", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_beams_that_end_with_eos_equal_generate_under_every_length_penalty(
    ending_lm, random_kv, settings, length_penalty, early_stopping
):
    _, lm, tok, geometry = ending_lm
    model = PrefixLM(lm, FixedPrefix(random_kv(geometry, 3, seed=5, scale=2.0)))
    settings = replace(settings, engine_batch_size=3, num_beams=4, min_new_tokens=2, max_new_tokens=16,
                       length_penalty=length_penalty, early_stopping=early_stopping)  # fmt: skip
    fast = decode(model, tok, SOURCES, settings, engine=True)
    assert fast == decode(model, tok, SOURCES, replace(settings, batch_size=1), engine=False)


def test_the_ending_model_makes_eos_min_length_and_length_penalty_decide_outcomes(ending_lm, random_kv, settings):
    """What makes the test above able to fail: EOS ends beams at several lengths short of the limit, the minimum
    length changes outputs, and so does the length penalty."""
    _, lm, tok, geometry = ending_lm
    model = PrefixLM(lm, FixedPrefix(random_kv(geometry, 3, seed=5, scale=2.0)))
    base = replace(settings, num_beams=4, min_new_tokens=2, max_new_tokens=16, length_penalty=1.0, batch_size=1)
    outputs = decode(model, tok, SOURCES, base, engine=False)
    lengths = [len(tok(text)["input_ids"]) for text in outputs]
    assert len(set(lengths)) > 2 and sum(n < 16 for n in lengths) >= 4  # most end with EOS, at different lengths
    assert decode(model, tok, SOURCES, replace(base, min_new_tokens=6), engine=False) != outputs
    penalties = {tuple(decode(model, tok, SOURCES, replace(base, length_penalty=p), engine=False)) for p in (0.5, 2.5)}
    assert len(penalties | {tuple(outputs)}) > 1
