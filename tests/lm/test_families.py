"""Every family of `lm/families.py` on a tiny random config (transformers' own config classes), against references
outside our prefix code:

(a) the training forward, padded (several lengths, padding) and packed where the family has it, equals transformers
    run per example with the prefix handed in as its own key/value cache, and PEFT's prefix tuning where PEFT runs
    the family; a prefix of words' activations equals the words fed as tokens (positions, windows, biases);
(b) one optimizer step changes the prefix only, with the reference's gradient;
(c) beam search: our engine (fused families) equals `generate` with the same prefix cache; the others decode
    with `generate`, and the gate says so;
(d) word init runs on the family's real activations;
(e) save -> load -> serve round-trips (the served answer equals offline decoding of the saved file);
(f) mixed-prefix batches give each row its own answer.

Encoder-decoders: the reference feeds the three prefixes through transformers' own attention `cache` arguments,
found by module name in this file (not through `prefix/seq2seq_layouts.py`), decoder positions from 0.
"""

import re
from dataclasses import replace

import pytest
import torch
from fastapi.testclient import TestClient
from transformers import DynamicCache, EncoderDecoderCache

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.generation.beam_engine import BeamEngine, Item
from prefix_tuning.generation.decode import (
    DecodeSettings,
    cut_at_eos,
    decode,
    generate_kwargs,
    search_settings,
    uses_engine,
)
from prefix_tuning.lm.families import FAMILIES, family_of
from prefix_tuning.lm.tiny import tiny_random
from prefix_tuning.prefix import method as prefix_method
from prefix_tuning.prefix.causal import PrefixLM, causal_generate
from prefix_tuning.prefix.encoder import FixedPrefix, PrefixEncoder, from_kv
from prefix_tuning.prefix.packing import pack
from prefix_tuning.prefix.seq2seq import PARTS, Seq2SeqPrefix, Seq2SeqPrefixLM, seq2seq_generate
from prefix_tuning.prefix.seq2seq_layouts import seq2seq_geometries
from prefix_tuning.prefix.word_init import init_token_ids, word_activations
from prefix_tuning.serving.app import create_app
from prefix_tuning.serving.startup import build_serving
from prefix_tuning.serving.task_decoding import task_decoding
from prefix_tuning.tasks.encoding import encode_source, encode_text
from prefix_tuning.training.batching import collate_training, pad_batch
from prefix_tuning.training.trainer import packing_start

CAUSAL = [f for f in FAMILIES if f.kind == "causal"]
SEQ2SEQ = [f for f in FAMILIES if f.kind == "seq2seq"]
SHORT = [(3, 2), (2, 1), (1, 3)]  # (source, target) token counts: with a 3-position prefix, inside an 8-token window
LONG = [(5, 4), (9, 3), (3, 6)]  # past it: the window bites
WORDS = " table-to-text"  # 5 GPT-2 tokens after the space: inside the tiny sliding windows (8)
SENTENCE = " name : The Eagle | Type : coffee shop"
SOURCES = ["name : Aromi", "name : The Eagle | food : Japanese", "x"]


def arch(family) -> str:
    return family.model_types[0]


def examples(shape) -> list[tuple[list[int], list[int]]]:
    out = []
    for n_src, n_tgt in shape:
        ids = list(range(100, 100 + n_src)) + list(range(300 + n_src, 300 + n_src + n_tgt))
        out.append((ids, [-100] * n_src + ids[n_src:]))
    return out


@pytest.fixture(scope="module", params=CAUSAL, ids=arch)
def causal(request, tiny_tokenizer):
    """(family, frozen tiny model, tokenizer, geometry)."""
    family = request.param
    lm = tiny_random(arch(family), len(tiny_tokenizer), tiny_tokenizer.eos_token_id).eval().requires_grad_(False)
    return family, lm, tiny_tokenizer, KVGeometry.of(lm.config)


@pytest.fixture(scope="module", params=SEQ2SEQ, ids=arch)
def seq2seq(request, tiny_tokenizer):
    family = request.param
    lm = tiny_random(arch(family), len(tiny_tokenizer), tiny_tokenizer.eos_token_id).eval().requires_grad_(False)
    return family, lm, tiny_tokenizer


@pytest.fixture
def settings(compose_cfg):
    decoding = DecodeSettings.from_mapping(compose_cfg("task=e2e").task.decoding)
    return replace(decoding, num_beams=3, min_new_tokens=1, max_new_tokens=6, engine_batch_size=2)


def hf_cache(kv: torch.Tensor) -> DynamicCache:
    """transformers' own cache, filled with the prefix (kv [layers, 2, kv_heads, L, head_dim]) for one row."""
    cache = DynamicCache()
    for layer in range(kv.shape[0]):
        cache.update(kv[layer, 0][None].clone(), kv[layer, 1][None].clone(), layer)
    return cache


def reference_nll(lm, kv: torch.Tensor, ids: list[int], labels: list[int]) -> torch.Tensor:
    """One example through the model with the prefix as its cache; the summed NLL of the labelled tokens."""
    length = kv.shape[-2]
    x = torch.tensor([ids])
    mask = torch.ones(1, length + len(ids), dtype=torch.long)
    positions = torch.arange(length, length + len(ids))[None]
    logits = lm(input_ids=x, attention_mask=mask, position_ids=positions, cache=hf_cache(kv), use_cache=True).logits
    logp = torch.log_softmax(logits[0].float(), -1)
    return -sum(logp[k - 1, labels[k]] for k in range(1, len(ids)) if labels[k] != -100)


def trainable(prefix_config, kv: torch.Tensor, geometry) -> PrefixEncoder:
    """A trainable prefix (no MLP, no dropout) whose P starts at `kv`."""
    config = prefix_config(prefix_length=kv.shape[-2], mlp_hidden=None, dropout=0.0)
    encoder = PrefixEncoder(config, geometry)
    with torch.no_grad():
        encoder.embedding.copy_(from_kv(kv))
    return encoder


# ---- (a) the training forward ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [SHORT, LONG], ids=["short", "long"])
def test_a_training_forward_equals_transformers_with_the_prefix_as_its_cache(causal, random_kv, shape):
    family, lm, _, geometry = causal
    kv = random_kv(geometry, 3, seed=1)
    batch = examples(shape)
    model = PrefixLM(lm, FixedPrefix(kv))
    reference = sum(reference_nll(lm, kv, ids, labels) for ids, labels in batch)
    padded = model(**collate_training(batch, 0), reduction="sequence_sum").nll_sum
    torch.testing.assert_close(padded, reference, atol=1e-4, rtol=1e-5)
    start = packing_start(model, max(len(ids) for ids, _ in batch))
    if family.fused_training and family.fits_window(lm.config, 3 + max(len(ids) for ids, _ in batch)):
        assert start == 3
        packed = model(packed=pack(batch, 3), reduction="sequence_sum").nll_sum
        torch.testing.assert_close(packed, reference, atol=1e-4, rtol=1e-5)
    else:
        assert start is None  # the trainer hands this family (or this span) padded batches


def test_a_prefix_of_words_equals_the_words_fed_as_tokens(causal):
    """(a) and (d): word init on the family's real activations; positions, windows and attention biases of the
    prefix are those of real tokens before the input."""
    _, lm, tok, _ = causal
    words = torch.tensor([init_token_ids(tok, WORDS)])
    x = tok(SENTENCE, return_tensors="pt").input_ids
    ours = PrefixLM(lm, FixedPrefix(word_activations(lm, tok, WORDS)))(x, torch.ones_like(x))
    reference = lm(torch.cat([words, x], dim=1)).logits[:, words.shape[1] :]
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)


def test_d_word_init_past_a_sliding_window_is_refused(tiny_tokenizer):
    """A sliding-window cache keeps only its last tokens: longer words would be a silently cut prefix."""
    lm = tiny_random("mistral", len(tiny_tokenizer), tiny_tokenizer.eos_token_id)
    with pytest.raises(UserError, match="the model's cache kept 7 of 9 positions .a sliding window.: initialize from"):
        word_activations(lm, tiny_tokenizer, " name : The Eagle | Type : coffee shop")


def test_a_training_forward_equals_peft(causal, random_kv):
    """PEFT 0.21.2's prefix tuning runs every causal family's forward on transformers 5.24 (its generate does not:
    PAPER.md's trap)."""
    _, lm, tok, geometry = causal
    peft = pytest.importorskip("peft")
    kv = random_kv(geometry, 3, seed=4)
    config = peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3, prefix_projection=False)
    peft_model = peft.get_peft_model(lm, config)
    peft_model.prompt_encoder["default"].embedding.weight.data.copy_(from_kv(kv))  # prompt learning: lm unchanged
    x = tok(SENTENCE, return_tensors="pt").input_ids
    theirs = peft_model(input_ids=x, attention_mask=torch.ones_like(x)).logits
    ours = PrefixLM(lm, FixedPrefix(kv))(x, torch.ones_like(x))
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


# ---- (b) one optimizer step --------------------------------------------------------------------------------------


def test_b_one_step_changes_only_the_prefix_with_the_reference_gradient(causal, random_kv, prefix_config):
    family, lm, _, geometry = causal
    kv = random_kv(geometry, 3, seed=2)
    batch = examples(SHORT)
    leaf = kv.clone().requires_grad_(True)
    sum(reference_nll(lm, leaf, ids, labels) for ids, labels in batch).backward()
    frozen = {name: value.clone() for name, value in lm.state_dict().items()}
    model = PrefixLM(lm, trainable(prefix_config, kv, geometry))
    packed = packing_start(model, max(len(ids) for ids, _ in batch)) is not None
    inputs = {"packed": pack(batch, 3)} if packed else collate_training(batch, 0)
    (model(**inputs, reduction="sequence_sum").loss * len(batch)).backward()  # the loss is the batch mean
    grad = model.prefix.embedding.grad
    torch.testing.assert_close(grad, from_kv(leaf.grad), atol=1e-4, rtol=1e-4)
    torch.optim.AdamW(model.trainable.parameters(), lr=1e-2).step()
    assert not torch.equal(model.prefix.embedding.detach(), from_kv(kv))
    changed = [name for name, value in lm.state_dict().items() if not torch.equal(value, frozen[name])]
    assert changed == [] and all(p.grad is None for p in lm.parameters())


# ---- (c) beam search, (f) mixed prefixes ----------------------------------------------------------------------------


def test_c_f_beam_search_equals_generate_with_each_rows_prefix(causal, random_kv, settings):
    """Items with their own prefixes (of different lengths) in one engine batch; each equals `generate` alone.
    Families without a proven engine decode with `generate`: the gate says so."""
    family, lm, tok, geometry = causal
    prompts = [encode_source(tok, source, 16) for source in SOURCES]
    prefixes = [random_kv(geometry, length, seed=9 + i, scale=2.0) for i, length in enumerate((2, 1, 2))]
    kwargs = generate_kwargs(settings, tok)
    want = []
    for prompt, kv in zip(prompts, prefixes):
        ids = torch.tensor([prompt])
        want.append(
            cut_at_eos(causal_generate(lm, ids, torch.ones_like(ids), kv, **kwargs)[0].tolist(), tok.eos_token_id)
        )
    spans = [len(p) + kv.shape[-2] + settings.max_new_tokens for p, kv in zip(prompts, prefixes)]
    fits = [family.fits_window(lm.config, span) for span in spans]
    assert uses_engine(PrefixLM(lm, FixedPrefix(prefixes[0])), settings) == (family.fused_decoding and fits[0])
    if not family.fused_decoding:
        return
    engine = BeamEngine(lm, search_settings(settings, tok), rows_budget=6 * settings.num_beams)
    for i, (prompt, kv) in enumerate(zip(prompts, prefixes)):
        if fits[i]:
            engine.add(Item(prompt, kv, key=i))
    got = {}
    while engine.busy():
        for item in engine.step():
            assert item.error is None, item.error
            got[item.key] = cut_at_eos(item.result, tok.eos_token_id)
    assert got == {i: want[i] for i in range(len(prompts)) if fits[i]}
    assert len({tuple(w) for w in want}) > 1  # the rows' prefixes make a difference


def test_f_mixed_prefix_batches_through_generate(causal, random_kv):
    """Per-row prefixes in one `generate` batch (the route of unfused families)."""
    _, lm, tok, geometry = causal
    kv_a, kv_b = random_kv(geometry, 2, seed=5, scale=3.0), random_kv(geometry, 2, seed=6, scale=3.0)
    prompts = [encode_source(tok, source, 16) for source in ("name : Aromi", "name : Zizzi")]
    ids, mask = pad_batch(prompts, 0, "left")
    kwargs = dict(num_beams=2, max_new_tokens=4, do_sample=False, pad_token_id=0, eos_token_id=None)
    mixed = causal_generate(lm, ids, mask, torch.stack([kv_a, kv_b]), **kwargs)
    for row, (prompt, kv) in enumerate(zip(prompts, (kv_a, kv_b))):
        alone = causal_generate(lm, torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long), kv, **kwargs)
        assert mixed[row].tolist() == alone[0].tolist(), row


def test_f_padded_decoding_batches_equal_rows_alone(causal, random_kv, settings):
    """Prompts of different lengths in one left-padded `generate` batch answer as alone (a sliding window that
    padding would move makes `decode` take rows one at a time)."""
    _, lm, tok, geometry = causal
    model = PrefixLM(lm, FixedPrefix(random_kv(geometry, 2, seed=3, scale=3.0)))
    together = decode(model, tok, SOURCES, replace(settings, batch_size=3), engine=False)
    assert together == [decode(model, tok, [source], settings, engine=False)[0] for source in SOURCES]


# ---- (e) save -> load -> serve ----------------------------------------------------------------------------------------


class ServedFolder:
    """A server (its worker running, under TestClient) over a folder holding one saved run, `e2e`."""

    def __init__(self, client, serving, identity):
        self.client, self.serving, self.identity = client, serving, identity

    def text(self, prompt: str) -> str:
        response = self.client.post("/v1/completions", json={"model": "e2e", "prompt": prompt, "max_tokens": 8})
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["text"]

    def offline(self, model, prompt: str) -> str:
        """`decode` with `generate` (engine=False) of the loaded prefix on the server's LM, the task's settings."""
        settings = replace(task_decoding("e2e").settings, max_new_tokens=8, min_new_tokens=0)
        steered = PrefixLM(self.serving.batcher.lm, FixedPrefix(model.prefix_kv()))
        return decode(steered, self.serving.tokenizer, [prompt], settings, engine=False)[0]


@pytest.fixture
def serve_folder():
    """serve_folder(folder, model, arch) -> ServedFolder: `model` saved as folder/e2e (the training run's file) and
    served by a server that finds the base model from the file's identity. Stopped after the test."""
    started = []

    def start(folder, model, model_type: str) -> ServedFolder:
        identity = {"base_model": f"tiny-random-{model_type}-seed0", "architecture": model_type, "task": "e2e"}
        (folder / "e2e").mkdir()
        prefix_method.save(model, folder / "e2e", identity)
        serving = build_serving(folder, device="cpu")
        client = TestClient(create_app(serving))
        client.__enter__()
        started.append((client, serving))
        return ServedFolder(client, serving, identity)

    yield start
    for client, serving in started:
        client.__exit__(None, None, None)
        serving.batcher.stop()


def test_e_save_load_serve_round_trip(causal, random_kv, prefix_config, serve_folder, tmp_path):
    family, lm, tok, geometry = causal
    model = PrefixLM(lm, trainable(prefix_config, random_kv(geometry, 2, seed=8, scale=3.0), geometry))
    served = serve_folder(tmp_path, model, arch(family))
    loaded = prefix_method.load(None, tmp_path / "e2e", lm, served.identity)
    torch.testing.assert_close(loaded.prefix_kv(), model.prefix.materialize())
    for prompt in SOURCES[:2]:
        assert served.text(prompt) == served.offline(loaded, prompt)
    if not family.fused_decoding:  # decoded by generate: no log-probabilities, refused by name
        response = served.client.post("/v1/completions", json={"model": "e2e", "prompt": "x", "logprobs": 1})
        assert response.status_code == 400 and response.json()["error"]["param"] == "logprobs", response.text


# ---- encoder-decoders ----------------------------------------------------------------------------------------------


def reference_seq2seq_logits(lm, kvs, src: list[int], decoder_ids: list[int]) -> torch.Tensor:
    """One example through transformers' attention modules with the three prefixes as their caches; the modules
    are found by name here; decoder positions count from 0 (the original code's choice)."""
    length = kvs["encoder"].shape[-2]
    encoder_attention = [m for n, m in lm.named_modules()
                         if re.fullmatch(r"(model\.)?encoder\.(layers\.\d+\.self_attn|block\.\d+\.layer\.0\.SelfAttention)", n)]  # fmt: skip
    prefill = hf_cache(kvs["encoder"])
    numbered = [module for module in encoder_attention if getattr(module, "layer_idx", 0) is None]
    for index, module in enumerate(encoder_attention):
        module.layer_idx = index if module in numbered else module.layer_idx  # the cache needs each layer's index
    hooks = [module.register_forward_pre_hook(lambda m, a, kw: (a, {**kw, "cache": prefill}), with_kwargs=True)
             for module in encoder_attention]  # fmt: skip
    positions = dict(lm.named_modules()).get("model.decoder.embed_positions")
    if positions is not None:  # learned or sinusoidal: the decoder's tokens at 0, 1, ... under the prefix
        hooks.append(positions.register_forward_pre_hook(lambda m, a, kw: ((a[0], 0), {}), with_kwargs=True))
    try:
        x = torch.tensor([src])
        mask = torch.ones(1, length + len(src), dtype=torch.long)
        encoded = lm.get_encoder()(input_ids=x, attention_mask=mask)
        cross, heads, hidden = [], kvs["cross"].shape[2], encoded.last_hidden_state
        for name, module in lm.named_modules():
            if re.fullmatch(
                r"(model\.)?decoder\.(layers\.\d+\.encoder_attn|block\.\d+\.layer\.1\.EncDecAttention)", name
            ):
                k_proj, v_proj = (module.k_proj, module.v_proj) if hasattr(module, "k_proj") else (module.k, module.v)
                k, v = (proj(hidden).view(1, hidden.shape[1], heads, -1).transpose(1, 2) for proj in (k_proj, v_proj))
                cross.append((k, v))
        cross_cache = DynamicCache()
        for layer, (k, v) in enumerate(cross):
            cross_cache.update(torch.cat([kvs["cross"][layer, 0][None], k], 2),
                               torch.cat([kvs["cross"][layer, 1][None], v], 2), layer)  # fmt: skip
        cache = EncoderDecoderCache(hf_cache(kvs["decoder"]), cross_cache)
        for layer in range(len(cross)):
            cache.is_updated[layer] = True
        return lm(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=torch.tensor([decoder_ids]),
                  cache=cache, use_cache=True).logits  # fmt: skip
    finally:
        for hook in hooks:
            hook.remove()
        for module in numbered:
            module.layer_idx = None


def seq2seq_kvs(lm, random_kv, length: int, seed: int = 0, scale: float = 1.0) -> dict[str, torch.Tensor]:
    geometries = seq2seq_geometries(lm.config)
    return {part: random_kv(geometries[part], length, seed=seed + i, scale=scale) for i, part in enumerate(PARTS)}


def test_seq2seq_a_b_forward_and_gradient_equal_the_reference(seq2seq, random_kv, prefix_config):
    _, lm, tok = seq2seq
    kvs = seq2seq_kvs(lm, random_kv, 3, seed=3)
    sources = [encode_text(tok, s, 16) for s in SOURCES]
    targets = [encode_text(tok, " " + s, 16) for s in ("Aromi .", "The Eagle serves Japanese food .", "y")]
    leaves = {part: kv.clone().requires_grad_(True) for part, kv in kvs.items()}
    reference = 0
    for src, tgt in zip(sources, targets):
        decoder_ids = lm.prepare_decoder_input_ids_from_labels(labels=torch.tensor([tgt]))[0].tolist()
        logp = torch.log_softmax(reference_seq2seq_logits(lm, leaves, src, decoder_ids)[0].float(), -1)
        reference = reference - logp[torch.arange(len(tgt)), torch.tensor(tgt)].sum()
    reference.backward()
    parts = {part: trainable(prefix_config, kv, seq2seq_geometries(lm.config)[part]) for part, kv in kvs.items()}
    model = Seq2SeqPrefixLM(lm, Seq2SeqPrefix(parts)).eval()
    ids, mask = pad_batch(sources, tok.pad_token_id, "right")
    labels = pad_batch(targets, -100, "right")[0]
    loss = model(ids, mask, labels=labels, reduction="sequence_sum")
    torch.testing.assert_close(loss.nll_sum, reference.detach(), atol=1e-4, rtol=1e-5)
    (loss.loss * len(sources)).backward()  # the loss is the batch mean
    for part in PARTS:
        torch.testing.assert_close(parts[part].embedding.grad, from_kv(leaves[part].grad), atol=1e-4, rtol=1e-4)


def test_seq2seq_c_d_f_beam_search_word_init_and_mixed_rows(seq2seq, random_kv, compose_cfg):
    _, lm, tok = seq2seq
    kv_a, kv_b = seq2seq_kvs(lm, random_kv, 2, seed=1, scale=3.0), seq2seq_kvs(lm, random_kv, 2, seed=7, scale=3.0)
    sources = [encode_text(tok, s, 16) for s in SOURCES[:2]]
    ids, mask = pad_batch(sources, tok.pad_token_id, "right")
    kwargs = dict(num_beams=3, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=None)
    mixed = seq2seq_generate(lm, ids, mask, {p: torch.stack([kv_a[p], kv_b[p]]) for p in PARTS}, **kwargs)
    for row, (src, kvs) in enumerate(zip(sources, (kv_a, kv_b))):
        alone = seq2seq_generate(lm, torch.tensor([src]), torch.ones(1, len(src), dtype=torch.long), kvs, **kwargs)
        assert mixed[row].tolist() == alone[0].tolist(), row
    assert mixed[0].tolist() != seq2seq_generate(lm, ids, mask, kv_b, **kwargs)[0].tolist()
    method = compose_cfg(
        "method=prefix", "method.init=words", "method.init_words=summarize", "method.prefix_length=null"
    )
    built = prefix_method.build(method.method, lm, tok)  # (d): the three parts from the words' activations
    assert {part: kv.shape[-2] for part, kv in built.prefix.materialize().items()} == dict.fromkeys(PARTS, 1)


def test_an_unknown_architecture_is_refused_naming_the_supported_families(tiny_tokenizer):
    from transformers import ReformerConfig

    with pytest.raises(
        UserError, match="'reformer' is not a supported prefix-tuning family; supported: GPT-2, "
    ) as err:
        family_of(ReformerConfig())
    assert "\n" not in str(err.value) and "Qwen3" in str(err.value) and "mT5" in str(err.value)


# ---- entry points ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.needs_java
@pytest.mark.parametrize("model", ["tiny-qwen3", "tiny-gemma2", "tiny-mistral", "tiny-t5"])
def test_train_decode_and_score_e2e_end_to_end(model, tmp_path, run_module):
    """`python -m prefix_tuning.train model=tiny-<family>`: train, decode 3 test MRs, score (a smoke run)."""
    result = run_module("prefix_tuning.train", "debug=tiny", f"model={model}", f"run_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "BLEU" in result.stdout and "CIDEr" in result.stdout
    assert len((tmp_path / "eval" / "test" / "outputs.txt").read_text().splitlines()) == 3


@pytest.mark.parametrize("model_type", ["qwen3", "t5"])
def test_model_hub_reads_the_family_from_the_checkpoint(model_type, tiny_tokenizer, tmp_path, compose_cfg):
    """`model=hub model.hf_id=<folder>`: one config for every family, decoder-only or encoder-decoder."""
    from prefix_tuning.lm.loading import load_base_model, load_tokenizer

    saved = tiny_random(model_type, len(tiny_tokenizer), tiny_tokenizer.eos_token_id)
    saved.save_pretrained(tmp_path)
    cfg = compose_cfg("model=hub", f"model.hf_id={tmp_path}").model
    loaded = load_base_model(cfg, tiny_tokenizer)
    assert type(loaded) is type(saved)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), saved.state_dict().values()))
    with pytest.raises(
        UserError, match=r"model.kind=seq2seq but .* is a Qwen3 \(causal\) checkpoint|model.kind=causal"
    ):
        load_base_model(
            compose_cfg(
                "model=hub",
                f"model.hf_id={tmp_path}",
                "+model.kind=" + {"qwen3": "seq2seq", "t5": "causal"}[model_type],
            ).model,
            tiny_tokenizer,
        )
    with pytest.raises(UserError, match="model=hub needs model.hf_id="):
        load_base_model(compose_cfg("model=hub").model, tiny_tokenizer)
    with pytest.raises(UserError, match="cannot load '/nonexistent/model' from the hub or local cache"):
        load_tokenizer(compose_cfg("model=hub", "model.hf_id=/nonexistent/model").model)


def test_an_unsupported_checkpoint_is_refused_in_one_line(tmp_path, tiny_tokenizer, compose_cfg):
    from transformers import ReformerConfig

    from prefix_tuning.lm.loading import load_base_model

    ReformerConfig().save_pretrained(tmp_path)
    with pytest.raises(UserError, match="'reformer' is not a supported prefix-tuning family; supported: GPT-2"):
        load_base_model(compose_cfg("model=hub", f"model.hf_id={tmp_path}").model, tiny_tokenizer)


def test_the_readme_table_is_the_registry():
    from prefix_tuning.lm.families import markdown_table
    from prefix_tuning.paths import REPO_ROOT

    assert markdown_table() in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
