"""Encoder-decoder prefix-tuning (tiny BART and T5): the three seams against independent references."""

import copy
import json

import pytest
import torch

from prefix_tuning import methods
from prefix_tuning.errors import UserError
from prefix_tuning.generation.decode import DecodeSettings, decode
from prefix_tuning.lm.loading import load_base_model
from prefix_tuning.pipeline import check_fits_context
from prefix_tuning.pipeline import train_run as run_training
from prefix_tuning.prefix.seq2seq import PARTS, Seq2SeqPrefix, Seq2SeqPrefixLM, make_cache, seq2seq_geometries
from prefix_tuning.tasks.encoding import encode_text
from prefix_tuning.tensor_files import read_metadata
from prefix_tuning.training.batching import pad_batch

SOURCES = ["name : The Eagle | Type : coffee shop", "a b", "name : Aromi | food : English | area : riverside"]
TARGETS = [" The Eagle is a coffee shop .", " b", " Aromi serves English food ."]
SEQ2SEQ_MODELS = ("tiny-bart", "tiny-t5")


@pytest.fixture(scope="module")
def load_tiny(compose_cfg):
    """load_tiny(name, tokenizer, *overrides) -> a fresh tiny encoder-decoder."""
    return lambda name, tokenizer, *overrides: load_base_model(
        compose_cfg(f"model={name}", *overrides).model, tokenizer
    )


@pytest.fixture(scope="module", params=SEQ2SEQ_MODELS)
def tiny_seq2seq(request, tiny_tokenizer, load_tiny):
    """(name, frozen encoder-decoder, tokenizer)."""
    return request.param, load_tiny(request.param, tiny_tokenizer), tiny_tokenizer


@pytest.fixture(scope="module")
def random_kvs(random_kv):
    """random_kvs(lm, length, seed=0, scale=1.0) -> {part: random P} for the three parts."""

    def make(lm, length: int, seed: int = 0, scale: float = 1.0) -> dict[str, torch.Tensor]:
        geometries = seq2seq_geometries(lm.config)
        return {part: random_kv(geometries[part], length, seed=seed + i, scale=scale) for i, part in enumerate(PARTS)}

    return make


@pytest.fixture(scope="module")
def fixed_model(random_kvs):
    return lambda lm, length=3, seed=0: Seq2SeqPrefixLM(lm, Seq2SeqPrefix.fixed(random_kvs(lm, length, seed)))


def source_batch(tok, sources=SOURCES):
    """Right-padded source ids and mask (BART's encoder positions ignore the mask)."""
    return pad_batch([encode_text(tok, s, 64) for s in sources], tok.pad_token_id, "right")


def label_batch(tok, targets=TARGETS):
    return pad_batch([encode_text(tok, t, 64) for t in targets], -100, "right")[0]


def test_without_prefix_equals_the_base_model_exactly(tiny_seq2seq):
    _, lm, tok = tiny_seq2seq
    ids, mask = source_batch(tok)
    decoder_ids = lm.prepare_decoder_input_ids_from_labels(labels=label_batch(tok))
    ours = Seq2SeqPrefixLM(lm, None)(ids, mask, decoder_input_ids=decoder_ids)
    theirs = lm(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
    assert torch.equal(ours, theirs)


def test_each_of_the_three_prefixes_changes_the_logits(tiny_seq2seq, random_kvs):
    _, lm, tok = tiny_seq2seq
    ids, mask = source_batch(tok)
    decoder_ids = lm.prepare_decoder_input_ids_from_labels(labels=label_batch(tok))
    kvs = random_kvs(lm, 3)
    reference = Seq2SeqPrefixLM(lm, Seq2SeqPrefix.fixed(kvs))(ids, mask, decoder_input_ids=decoder_ids)
    plain = Seq2SeqPrefixLM(lm, None)(ids, mask, decoder_input_ids=decoder_ids)
    assert not torch.allclose(reference, plain, atol=1e-3)
    for part in PARTS:
        changed = {**kvs, part: kvs[part] * 3}
        logits = Seq2SeqPrefixLM(lm, Seq2SeqPrefix.fixed(changed))(ids, mask, decoder_input_ids=decoder_ids)
        assert not torch.allclose(logits, reference, atol=1e-3), f"the {part} prefix has no effect"


def test_gradients_reach_all_three_prefixes_and_nothing_else(tiny_seq2seq, prefix_config):
    _, lm, tok = tiny_seq2seq
    prefix = Seq2SeqPrefix.trainable(prefix_config(prefix_length=3, mlp_hidden=16), seq2seq_geometries(lm.config))
    model = Seq2SeqPrefixLM(lm, prefix).train()
    assert lm.training  # the original code trains with BART's own dropout on (frozen weights)
    ids, mask = source_batch(tok)
    model(ids, mask, label_batch(tok)).loss.backward()
    model.eval()
    assert all(p.grad is None for p in lm.parameters())
    for part in PARTS:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in prefix.parts[part].parameters()), part


# --- one layer against a hand computation ------------------------------------------------------------


def attention_parts(name: str, module):
    """(q, k, v, out projections, query scaling) of a BART or T5 attention module."""
    if name == "tiny-bart":
        return module.q_proj, module.k_proj, module.v_proj, module.out_proj, module.head_dim**-0.5
    return module.q, module.k, module.v, module.o, 1.0  # T5 does not scale the query


def split_heads(x, heads):
    batch, length, width = x.shape
    return x.view(batch, length, heads, width // heads).transpose(1, 2)


def hand_attention(name, module, query_in, key_in, prefix_k, prefix_v, key_mask, bias=None):
    """softmax(q [prefix keys; real keys]^T + bias + mask) [prefix values; real values], then the output projection."""
    q_proj, k_proj, v_proj, o_proj, scaling = attention_parts(name, module)
    heads, batch = prefix_k.shape[0], query_in.shape[0]
    q = split_heads(q_proj(query_in), heads) * scaling
    k = torch.cat([prefix_k.expand(batch, -1, -1, -1), split_heads(k_proj(key_in), heads)], dim=2)
    v = torch.cat([prefix_v.expand(batch, -1, -1, -1), split_heads(v_proj(key_in), heads)], dim=2)
    scores = q @ k.transpose(-1, -2) + (0 if bias is None else bias)
    visible = torch.cat([torch.ones(batch, prefix_k.shape[1], dtype=torch.bool), key_mask.bool()], dim=1)
    scores = scores.masked_fill(~visible[:, None, None, :], float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, query_in.shape[1], -1)
    return o_proj(out)


def t5_prefix_bias(module, source_length: int, prefix_length: int):
    """T5's relative bias with the prefix as L positions before the source (bidirectional buckets)."""
    query = torch.arange(source_length)[:, None] + prefix_length
    memory = torch.arange(prefix_length + source_length)[None, :]
    buckets = module._relative_position_bucket(
        memory - query,
        bidirectional=True,
        num_buckets=module.relative_attention_num_buckets,
        max_distance=module.relative_attention_max_distance,
    )
    return module.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)


def capture(module, records: list):
    """Record (kwargs incl. the first positional input, output) of every call of `module`."""

    def hook(mod, args, kwargs, output):
        records.append(({"hidden_states": args[0] if args else kwargs["hidden_states"], **kwargs}, output[0]))

    return module.register_forward_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("name", SEQ2SEQ_MODELS)
def test_one_layer_attention_equals_a_hand_computation(name, tiny_tokenizer, load_tiny, random_kvs):
    tok = tiny_tokenizer
    layers = (
        ("model.sizes.encoder_layers=1", "model.sizes.decoder_layers=1")
        if name == "tiny-bart"
        else ("model.sizes.num_layers=1", "model.sizes.num_decoder_layers=1")
    )
    lm = load_tiny(name, tok, *layers)
    length = 4
    kvs = random_kvs(lm, length, seed=5)
    model = Seq2SeqPrefixLM(lm, Seq2SeqPrefix.fixed(kvs))
    if name == "tiny-bart":
        encoder_attention, cross_attention = (
            lm.model.encoder.layers[0].self_attn,
            lm.model.decoder.layers[0].encoder_attn,
        )
    else:
        encoder_attention, cross_attention = (
            lm.encoder.block[0].layer[0].SelfAttention,
            lm.decoder.block[0].layer[1].EncDecAttention,
        )
    ids, mask = source_batch(tok, SOURCES[:2])
    encoder_records, cross_records = [], []
    handles = [capture(encoder_attention, encoder_records), capture(cross_attention, cross_records)]
    try:
        model(ids, mask, label_batch(tok, TARGETS[:2]))
    finally:
        for handle in handles:
            handle.remove()

    ((inputs, output),) = encoder_records
    hidden = inputs["hidden_states"]
    bias = t5_prefix_bias(encoder_attention, ids.shape[1], length) if name == "tiny-t5" else None
    expected = hand_attention(
        name, encoder_attention, hidden, hidden, kvs["encoder"][0, 0], kvs["encoder"][0, 1], mask, bias
    )
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)

    ((inputs, output),) = cross_records
    encoder_out = inputs["key_value_states"]
    expected = hand_attention(
        name, cross_attention, inputs["hidden_states"], encoder_out, kvs["cross"][0, 0], kvs["cross"][0, 1], mask
    )
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)


# --- generation ----------------------------------------------------------------------------------------

GENERATE = dict(do_sample=False, eos_token_id=None)


def greedy_seq2seq(model: Seq2SeqPrefixLM, source: list[int], steps: int) -> list[int]:
    """Decode without any cache: re-run the whole model (three prefixes) for each new token."""
    ids = torch.tensor([source])
    decoder = torch.tensor([[model.lm.config.decoder_start_token_id]])
    for _ in range(steps):
        logits = model(ids, torch.ones_like(ids), decoder_input_ids=decoder)
        decoder = torch.cat([decoder, logits[:, -1:].argmax(-1)], dim=1)
    return decoder[0, 1:].tolist()


def test_greedy_generate_equals_no_cache_reference_right_padded(tiny_seq2seq, fixed_model):
    _, lm, tok = tiny_seq2seq
    model = fixed_model(lm, 5)
    sources = [encode_text(tok, s, 64) for s in SOURCES]
    ids, mask = pad_batch(sources, tok.pad_token_id, "right")
    batched = model.generate(ids, mask, max_new_tokens=6, pad_token_id=tok.pad_token_id, **GENERATE)
    for row, source in enumerate(sources):
        assert batched[row].tolist() == greedy_seq2seq(model, source, 6)


def test_beam_search_batched_padded_equals_one_at_a_time(tiny_seq2seq, fixed_model):
    _, lm, tok = tiny_seq2seq
    model = fixed_model(lm, 4, seed=1)
    sources = [encode_text(tok, s, 64) for s in SOURCES]
    ids, mask = pad_batch(sources, tok.pad_token_id, "right")
    kwargs = dict(num_beams=4, max_new_tokens=7, pad_token_id=tok.pad_token_id, **GENERATE)
    batched = model.generate(ids, mask, **kwargs)
    for row, source in enumerate(sources):
        single = model.generate(torch.tensor([source]), torch.ones(1, len(source), dtype=torch.long), **kwargs)
        assert batched[row].tolist() == single[0].tolist()


def test_prefix_changes_generated_text(tiny_seq2seq, random_kvs):
    _, lm, tok = tiny_seq2seq
    ids, mask = source_batch(tok, SOURCES[:1])
    kwargs = dict(max_new_tokens=8, pad_token_id=tok.pad_token_id, **GENERATE)
    plain = Seq2SeqPrefixLM(lm, None).generate(ids, mask, **kwargs)[0].tolist()
    prefixed = (
        Seq2SeqPrefixLM(lm, Seq2SeqPrefix.fixed(random_kvs(lm, 5, scale=20.0)))
        .generate(ids, mask, **kwargs)[0]
        .tolist()
    )
    assert plain != prefixed


def test_decode_batches_equal_single_sources(tiny_seq2seq, fixed_model):
    _, lm, tok = tiny_seq2seq
    model = fixed_model(lm, 3, seed=2)
    settings = DecodeSettings(
        num_beams=2,
        min_new_tokens=1,
        max_new_tokens=6,
        length_penalty=1.0,
        no_repeat_ngram_size=0,
        early_stopping=False,
        ban_newlines=False,
        batch_size=3,
        max_source_tokens=64,
        engine_batch_size=3,
    )
    batched = decode(model, tok, SOURCES, settings)
    assert batched == [decode(model, tok, [s], settings)[0] for s in SOURCES]


# --- gradient checkpointing, save/load, training ----------------------------------------------------


def test_gradient_checkpointing_gives_the_same_gradients(tiny_seq2seq, tiny_tokenizer, load_tiny, prefix_config):
    name, lm, tok = tiny_seq2seq
    checkpointed_lm = load_tiny(name, tok, "model.gradient_checkpointing=true")
    prefix = Seq2SeqPrefix.trainable(prefix_config(prefix_length=3, mlp_hidden=16), seq2seq_geometries(lm.config))
    ids, mask = source_batch(tok)
    grads, calls = [], []
    for base in (lm, checkpointed_lm):
        model = Seq2SeqPrefixLM(base, copy.deepcopy(prefix)).train()
        attention = next(m for m in base.modules() if type(m).__name__ in ("BartAttention", "T5Attention"))
        count = []
        handle = attention.register_forward_hook(lambda *args, count=count: count.append(1))
        torch.manual_seed(0)  # the same dropout masks in both runs (checkpointing replays the RNG)
        model(ids, mask, label_batch(tok)).loss.backward()
        handle.remove()
        calls.append(len(count))
        grads.append({k: p.grad for k, p in model.prefix.named_parameters()})
    assert calls == [1, 2]  # the checkpointed layer ran again in backward
    for key, grad in grads[0].items():
        torch.testing.assert_close(grads[1][key], grad, atol=1e-6, rtol=1e-5)


def test_gradient_checkpointing_is_refused_for_causal_lms(tiny_tokenizer, load_tiny):
    with pytest.raises(UserError, match="encoder-decoder models only"):
        load_tiny("tiny-gpt2", tiny_tokenizer, "+model.gradient_checkpointing=true")


def test_save_load_round_trip_keeps_the_three_prefixes(tmp_path, tiny_seq2seq, random_kvs, compose_cfg):
    name, lm, tok = tiny_seq2seq
    method_cfg = compose_cfg(f"model={name}", "method.prefix_length=3", "method.mlp_hidden=16").method
    model = methods.build(method_cfg, lm, tok).eval()
    identity = {"base_model": f"tiny-{name}", "architecture": lm.config.model_type, "task": "e2e"}
    methods.save(method_cfg, model, tmp_path, identity)
    meta = read_metadata(tmp_path / "prefix.safetensors")
    assert meta["parts"] == "encoder,decoder,cross" and meta["cross.prefix_length"] == "3"
    assert json.loads(meta["extra"])["prefix"]["mlp_hidden"] == 16
    loaded = methods.load(method_cfg, tmp_path, lm, identity)
    assert loaded.stored_values() == model.stored_values() == sum(kv.numel() for kv in random_kvs(lm, 3).values())
    ids, mask = source_batch(tok)
    labels = label_batch(tok)
    torch.testing.assert_close(loaded(ids, mask, labels).loss, model(ids, mask, labels).loss, atol=0, rtol=0)
    with pytest.raises(UserError, match="was trained for base_model"):
        methods.load(method_cfg, tmp_path, lm, {**identity, "base_model": "another"})


def test_a_causal_prefix_file_is_refused_by_an_encoder_decoder(tmp_path, tiny_seq2seq, tiny_lm, compose_cfg):
    name, lm, tok = tiny_seq2seq
    _, causal, _, _ = tiny_lm
    method_cfg = compose_cfg("method.prefix_length=2", "method.mlp_hidden=8").method
    identity = {"base_model": "tiny", "architecture": lm.config.model_type}
    methods.save(method_cfg, methods.build(method_cfg, causal, tok), tmp_path, identity)
    with pytest.raises(UserError, match="parts"):
        methods.load(method_cfg, tmp_path, lm, identity)


@pytest.mark.parametrize("name", ["bart-large", "bart-base", "t5-small"])
def test_hub_encoder_decoders_fail_offline_with_one_line(name, tiny_tokenizer, monkeypatch, compose_cfg):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # no network waits in tests
    cfg = compose_cfg(f"model={name}")
    assert cfg.model.kind == "seq2seq" and not cfg.model.gradient_checkpointing
    with pytest.raises(UserError, match="offline, use model=tiny-bart") as err:
        load_base_model(cfg.model, tiny_tokenizer)
    assert "\n" not in str(err.value)


def test_decoder_prefix_must_fit_bart_positions(tiny_tokenizer, compose_cfg):
    """The encoder prefix takes no position; the decoder's tokens come after its L prefix positions."""
    cfg = compose_cfg("model=tiny-bart", "method.prefix_length=383")  # 383 + 128 target tokens + 1 = 512
    lm = load_base_model(cfg.model, tiny_tokenizer)
    check_fits_context(lm, cfg.method.prefix_length, cfg.task)
    with pytest.raises(UserError, match="exceeds the model's context of 512"):
        check_fits_context(lm, 384, cfg.task)


@pytest.mark.needs_data
@pytest.mark.parametrize("name", SEQ2SEQ_MODELS)
def test_training_lowers_loss(tmp_path, name, compose_cfg):
    cfg = compose_cfg(
        f"model={name}",
        "logger=none",
        f"run_dir={tmp_path / 'run'}",
        "task.train_size=24",
        "train.max_steps=30",
        "train.batch_size=4",
        "train.lr=1e-2",
        "train.log_every=10",
        "method.prefix_length=3",
        "method.mlp_hidden=16",
        "eval.after_training=false",
    )
    summary = run_training(cfg)
    losses = [json.loads(line)["train/loss"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert summary["steps"] == 30 and len(losses) == 3
    assert losses[-1] < losses[0]
    assert read_metadata(tmp_path / "run" / "prefix.safetensors")["parts"] == "encoder,decoder,cross"


# --- the original code's BART path -------------------------------------------------------------------


def test_bart_decoder_positions_start_at_zero_under_a_prefix(tiny_tokenizer, load_tiny, fixed_model):
    """The prefix does not shift the decoder's learned positions (original code): the position embeddings
    added are rows 0.. of BART's table (offset 2), in training and at every generation step."""
    lm = load_tiny("tiny-bart", tiny_tokenizer)
    model = fixed_model(lm, 5)
    table = lm.model.decoder.embed_positions
    added = []
    handle = table.register_forward_hook(lambda module, args, output: added.append(output.detach()))
    try:
        ids, mask = source_batch(tiny_tokenizer, SOURCES[:1])
        labels = label_batch(tiny_tokenizer, TARGETS[:1])
        model(ids, mask, labels)
        model.generate(ids, mask, max_new_tokens=3, pad_token_id=tiny_tokenizer.pad_token_id, **GENERATE)
    finally:
        handle.remove()
    width = labels.shape[1]
    torch.testing.assert_close(added[0].reshape(-1, table.weight.shape[1]), table.weight[2 : 2 + width])
    for step, output in enumerate(added[1:]):  # one call per generated token, at positions 0, 1, 2
        torch.testing.assert_close(output.reshape(-1, table.weight.shape[1])[-1], table.weight[2 + step])


def test_bart_dropout_is_on_while_the_prefix_trains_and_off_in_eval(tiny_tokenizer, load_tiny, fixed_model):
    lm = load_tiny("tiny-bart", tiny_tokenizer)
    model = fixed_model(lm, 3)
    ids, mask = source_batch(tiny_tokenizer)
    labels = label_batch(tiny_tokenizer)
    model.train()
    assert lm.training and not torch.equal(model(ids, mask, labels).loss, model(ids, mask, labels).loss)
    model.eval()
    assert not lm.training and torch.equal(model(ids, mask, labels).loss, model(ids, mask, labels).loss)


def test_xsum_decoding_settings_reach_generate(tiny_tokenizer, load_tiny, fixed_model, compose_cfg, monkeypatch):
    lm = load_tiny("tiny-bart", tiny_tokenizer)
    settings = DecodeSettings.from_mapping(compose_cfg("task=xsum").task.decoding)
    seen = []

    def spy(**kwargs):
        seen.append(kwargs)
        return torch.zeros(kwargs["input_ids"].shape[0], 3, dtype=torch.long)

    monkeypatch.setattr(lm, "generate", spy)
    decode(fixed_model(lm, 2), tiny_tokenizer, SOURCES[:2], settings)
    want = dict(
        num_beams=6,
        min_new_tokens=11,
        max_new_tokens=62,
        length_penalty=0.8,
        no_repeat_ngram_size=3,
        early_stopping=True,
        do_sample=False,
    )
    assert {k: seen[0][k] for k in want} == want and "bad_words_ids" not in seen[0]


def test_word_init_gives_each_part_what_its_attention_sees_of_the_words(tiny_seq2seq, compose_cfg):
    """Cross-attention prefix from words == the decoder reading [encoder(words); encoder(source)] as its memory."""
    name, lm, tok = tiny_seq2seq
    cfg = compose_cfg(f"model={name}", "init=elephant", "method.mlp_hidden=null")
    model = methods.build(cfg.method, lm, tok).eval()
    words = tok(" elephant", add_special_tokens=False)["input_ids"]
    assert model.prefix.parts["cross"]().shape[-2] == len(words) == 1
    kvs = {part: module() for part, module in model.prefix.parts.items()}
    encoder_only = {"encoder": kvs["encoder"], "decoder": kvs["decoder"][..., :0, :], "cross": kvs["cross"]}
    ids, mask = source_batch(tok, SOURCES[:1])
    decoder_ids = lm.prepare_decoder_input_ids_from_labels(labels=label_batch(tok, TARGETS[:1]))
    ours = Seq2SeqPrefixLM(lm, Seq2SeqPrefix.fixed(encoder_only))(ids, mask, decoder_input_ids=decoder_ids)
    with torch.no_grad():
        memory_words = lm.get_encoder()(input_ids=torch.tensor([words])).last_hidden_state
        encoded = lm.get_encoder()(input_ids=ids, attention_mask=torch.cat([torch.ones(1, 1, dtype=mask.dtype), mask], 1),
                                   encoder_prefix=make_cache(kvs["encoder"], 1, lm.dtype, read_only=True)).last_hidden_state  # fmt: skip
        memory = torch.cat([memory_words, encoded], dim=1)
        theirs = lm(encoder_outputs=(memory,), decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
