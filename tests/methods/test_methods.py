"""The paper's baselines and ablations as trainer methods, on tiny models: training through the real entry
point, which parameters learn, exact equivalences (zero adapters, embeddings, infix), save/load round trips."""

import json
import runpy

import pytest
import torch

from prefix_tuning import methods, pipeline
from prefix_tuning.core.label_loss import IGNORE_INDEX
from prefix_tuning.errors import UserError
from prefix_tuning.lm.layers import decoder_layers, final_norm
from prefix_tuning.lm.loading import load_base_model, load_tokenizer
from prefix_tuning.methods.adapter import AdapterLM, Adapters
from prefix_tuning.methods.tuned import save_tuned
from prefix_tuning.paths import REPO_ROOT as REPO
from prefix_tuning.pipeline import train_run as run_training
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.tasks.encoding import encode_pair, encode_source
from prefix_tuning.tasks.records import Pair
from prefix_tuning.training.batching import collate_training, pad_batch

# method config -> learning rate for a few steps on a tiny random model
METHOD_LRS = {
    "prefix_no_mlp": 1e-2,
    "infix": 1e-2,
    "embedding_only": 1e-1,
    "adapter": 1e-2,
    "adapter_3": 1e-2,
    "ft_top2": 1e-3,
    "finetune": 1e-3,
}
# sources of different lengths, so batches really are padded
VARIED = [
    Pair("name : Aromi", "Aromi is a place ."),
    Pair(
        "name : The Eagle | Type : coffee shop | food : French | area : riverside",
        "The Eagle is a French coffee shop .",
    ),
    Pair("name : Blue Spice | food : Thai", "Blue Spice serves Thai food ."),
]
GREEDY = dict(do_sample=False, max_new_tokens=6, min_new_tokens=6)


@pytest.fixture
def fresh(compose_cfg):
    """fresh(arch, method, *overrides): a new tiny LM (never the shared fixture: fine-tuning changes it) and the method built on it."""

    def build(arch: str, method: str, *overrides: str):
        cfg = compose_cfg(f"model={arch}", f"method={method}", *overrides)
        tok = load_tokenizer(cfg.model)
        lm = load_base_model(cfg.model, tok)
        return cfg, lm, tok, methods.build(cfg.method, lm, tok)

    return build


def training_batch(tok):
    return collate_training([encode_pair(tok, p, 64, 64) for p in VARIED], tok.pad_token_id)


@pytest.mark.needs_data
@pytest.mark.slow
@pytest.mark.parametrize("model, method", [("tiny-llama", m) for m in sorted(METHOD_LRS)] + [("tiny-bart", "finetune")])
def test_training_lowers_the_loss_and_evaluate_reloads_the_same_model(
    model, method, tmp_path, monkeypatch, compose_cfg
):
    # Decoding and loading are under test here, not the metrics (METEOR's Java start-up would dominate).
    monkeypatch.setattr(
        pipeline.registry,
        "score",
        lambda task, hypotheses, items, protocol, java=True: {"outputs": float(len(hypotheses))},
    )
    run_dir = tmp_path / method
    cfg = compose_cfg(
        f"model={model}",
        f"method={method}",
        "logger=none",
        f"run_dir={run_dir}",
        "task.train_size=16",
        "train.max_steps=8",
        "train.batch_size=4",
        f"train.lr={METHOD_LRS[method]}",
        "train.log_every=1",
        "train.loss_reduction=token_mean",
        "eval.max_items=2",
        "task.decoding.num_beams=2",
        "task.decoding.max_new_tokens=8",
        "task.decoding.min_new_tokens=1",
    )
    summary = run_training(cfg)
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert len(losses) == 8 and sum(losses[-2:]) < sum(losses[:2])
    assert summary["trainable_parameters"] > 0 and 0 < summary["stored_values"] <= summary["base_parameters"]
    assert json.loads((run_dir / "summary.json").read_text())["stored_percent"] == pytest.approx(
        summary["stored_percent"]
    )
    outputs = run_dir / "eval" / "test" / "outputs.txt"
    after_training = outputs.read_text()
    outputs.unlink()
    run_cfg = pipeline.load_run_config(run_dir)
    pipeline.evaluate_run(run_cfg, run_dir, max_items=2)  # what `evaluate` does: a fresh base model plus the saved file
    assert outputs.read_text() == after_training
    pipeline.evaluate_run(run_cfg, run_dir, max_items=2, use_prefix=False)
    assert (run_dir / "eval" / "test-zero_shot" / "outputs.txt").read_text() != after_training


def lm_parameters_with_grad(lm) -> set[int]:
    return {id(p) for p in lm.parameters() if p.grad is not None}


@pytest.mark.parametrize("arch", ["tiny-gpt2", "tiny-llama"])
def test_gradients_reach_only_the_intended_parameters(arch, fresh):
    expected_in_lm = {
        "finetune": lambda lm: {id(p) for p in lm.parameters()},
        "ft_top2": lambda lm: {id(p) for layer in decoder_layers(lm)[-2:] for p in layer.parameters()}
        | {id(p) for module in (lm.get_input_embeddings(), final_norm(lm)) for p in module.parameters()},
        "adapter": lambda lm: set(),
        "embedding_only": lambda lm: set(),
        "infix": lambda lm: set(),
    }
    for method, expected in expected_in_lm.items():
        _, lm, tok, model = fresh(arch, method)
        model.train()
        model(**training_batch(tok)).loss.backward()
        assert lm_parameters_with_grad(lm) == expected(lm), method
        trained = list(model.trainable.parameters())
        assert all(p.requires_grad and p.grad is not None for p in trained), method
        assert sum(p.grad.abs().sum() for p in trained) > 0, method
        if method == "ft_top2":
            assert len(expected(lm)) < sum(1 for _ in lm.parameters())


def test_zero_initialized_adapters_are_the_base_model(tiny_lm):
    _, lm, tok, _ = tiny_lm
    batch = training_batch(tok)
    inputs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    base = PrefixLM(lm, None)(**inputs)
    adapted = AdapterLM(lm, Adapters(lm, bottleneck=8)).eval()
    torch.testing.assert_close(adapted(**inputs), base, atol=0, rtol=0)
    with torch.no_grad():
        for block in adapted.trainable.blocks:
            block.up.weight.normal_()
    assert not torch.allclose(adapted(**inputs), base)  # the adapters are in the computation ...
    torch.testing.assert_close(PrefixLM(lm, None)(**inputs), base, atol=0, rtol=0)  # ... only while the model runs


def test_adapter_size_percent_picks_the_bottleneck(fresh):
    _, lm, _, model = fresh("tiny-llama", "adapter_3")
    base = sum(p.numel() for p in lm.parameters())
    assert model.stored_values() / base == pytest.approx(0.03, rel=0.05)
    assert sum(p.numel() for p in lm.parameters()) == base  # adapters are not added to the LM's own parameters


def test_embedding_only_from_words_equals_feeding_the_words(tiny_lm, compose_cfg):
    """Virtual tokens initialized from words (the MLP fitted to their embeddings; exactly without the MLP)
    behave like those words as real tokens before the input."""
    _, lm, tok, _ = tiny_lm
    words = tok(" table", add_special_tokens=False)["input_ids"]
    prompts = [encode_source(tok, p.source, 64) for p in VARIED]
    ids, mask = pad_batch(prompts, tok.pad_token_id, "right")
    assert not mask.all()  # real right padding
    plain_ids, plain_mask = pad_batch([words + p for p in prompts], tok.pad_token_id, "right")
    want = PrefixLM(lm, None)(plain_ids, plain_mask)[:, len(words) :]
    real = mask.bool()
    for mlp, tolerance in (("null", 1e-5), ("512", 2e-2)):
        cfg = compose_cfg("method=embedding_only", "init=words", "method.init_words=table", f"method.mlp_hidden={mlp}",
                          "method.init_fit_steps=1000", "method.init_fit_lr=1e-2")  # fmt: skip
        model = methods.build(cfg.method, lm, tok).eval()
        torch.testing.assert_close(model(ids, mask)[real], want[real], atol=tolerance, rtol=tolerance)
        assert model.stored_values() == len(words) * lm.config.hidden_size
        assert (model.trainable.mlp is None) == (mlp == "null")


def plain_rows(tok, words: list[int]):
    """The training examples, and the same rows with the words fed as real tokens between source and separator."""
    examples = [encode_pair(tok, p, 64, 64) for p in VARIED]
    plain = []
    for (ids, _), pair in zip(examples, VARIED):
        prompt = encode_source(tok, pair.source, 64)
        source, separator, target = prompt[:-1], prompt[-1], ids[len(prompt) :]
        plain.append((source + words + [separator] + target, [IGNORE_INDEX] * (len(source) + len(words) + 1) + target))
    return examples, plain


def test_infix_from_real_words_equals_feeding_the_words_between_source_and_target(tiny_lm, compose_cfg):
    """As the original, the infix's activations are computed in context (they depend on x): initialized from
    words (E = their embeddings, P = 0), the infix is exactly those words between source and target."""
    _, lm, tok, _ = tiny_lm
    words = tok(" table to text", add_special_tokens=False)["input_ids"]
    cfg = compose_cfg("method=infix", "init=words", 'method.init_words="table to text"')
    infix = methods.build(cfg.method, lm, tok).eval()
    assert infix.infix.length == len(words)
    examples, plain = plain_rows(tok, words)
    reference = PrefixLM(lm, None)
    for reduction in ("sequence_sum", "token_mean"):
        got = infix(**collate_training(examples, tok.pad_token_id), reduction=reduction)
        want = reference(**collate_training(plain, tok.pad_token_id), reduction=reduction)
        torch.testing.assert_close(got.loss, want.loss, atol=1e-5, rtol=1e-5)

    prompts = [encode_source(tok, p.source, 64) for p in VARIED]
    ids, mask = pad_batch(prompts, tok.pad_token_id, "left")
    assert not mask.all()  # real left padding
    plain_ids, plain_mask = pad_batch([p[:-1] + words + p[-1:] for p in prompts], tok.pad_token_id, "left")
    for beams in (1, 3):
        settings = dict(GREEDY, num_beams=beams, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        assert torch.equal(infix.generate(ids, mask, **settings), reference.generate(plain_ids, plain_mask, **settings))

    with pytest.raises(ValueError, match="left-padded"):
        infix.generate(*pad_batch(prompts, tok.pad_token_id, "right"), **GREEDY)


def test_infix_gradients_reach_its_embeddings_through_the_lm(fresh):
    """The infix embeddings get gradients through the frozen LM's computation over [x; E] (they depend on x)."""
    _, lm, tok, model = fresh("tiny-llama", "infix")
    model.train()
    model(**training_batch(tok)).loss.backward()
    assert model.infix.embeddings.grad is not None and model.infix.embeddings.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.infix.additive.parameters())


def test_infix_differs_from_the_same_prefix(fresh):
    """Placement matters: the same trained tensors as infix and as prefix give different losses."""
    _, lm, tok, model = fresh("tiny-llama", "infix")
    batch = training_batch(tok)
    assert not torch.allclose(model(**batch).loss, PrefixLM(lm, model.infix.additive)(**batch).loss)


def test_saved_methods_refuse_another_model_method_or_shape(tmp_path, fresh, compose_cfg):
    _, lm, _, model = fresh("tiny-llama", "adapter")  # bottleneck 16
    identity = {"base_model": "tiny-random-llama-seed0", "architecture": "llama", "task": "e2e"}
    adapter_cfg = compose_cfg("model=tiny-llama", "method=adapter").method
    save_tuned(model, tmp_path / "ok", identity, "adapter")
    methods.load(adapter_cfg, tmp_path / "ok", lm, identity)
    with pytest.raises(UserError, match="base_model"):
        methods.load(adapter_cfg, tmp_path / "ok", lm, {**identity, "base_model": "other"})
    with pytest.raises(UserError, match="does not fit"):
        methods.load(
            compose_cfg("model=tiny-llama", "method=adapter", "method.bottleneck=4").method,
            tmp_path / "ok",
            lm,
            identity,
        )
    save_tuned(model, tmp_path / "mislabelled", identity, "ft_top2")
    with pytest.raises(UserError, match="method=ft_top2"):
        methods.load(adapter_cfg, tmp_path / "mislabelled", lm, identity)


def test_unknown_options_and_bad_sizes_are_user_errors(fresh):
    with pytest.raises(UserError, match="unknown finetune option"):
        fresh("tiny-llama", "finetune", "+method.bottleneck=3")
    with pytest.raises(UserError, match="exactly one"):
        fresh("tiny-llama", "adapter", "method.size_percent=1")
    with pytest.raises(UserError, match="top_layers"):
        fresh("tiny-llama", "ft_top2", "method.top_layers=3")
    with pytest.raises(UserError, match="unknown adapter option"):
        fresh("tiny-llama", "adapter", "init=elephant")


def test_init_configs_set_the_words(fresh, compose_cfg):
    assert compose_cfg("method=infix", "init=elephant").method.init_words == "elephant"
    assert compose_cfg("method=prefix", "init=table-to-text").method.init == "words"
    _, lm, tok, model = fresh("tiny-llama", "embedding_only", "init=divide", "method.mlp_hidden=null")
    ids = tok(" divide", add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(model.embeddings(), lm.get_input_embeddings().weight[ids])


def test_parameter_counts_of_gpt2_medium():
    """The paper's numbers: a prefix of L=10 on GPT-2 medium is 491,520 values (~0.1% of ~355M)."""
    counts = runpy.run_path(str(REPO / "scripts" / "parameter_counts.py"))["method_counts"]("gpt2-medium")
    prefix = counts["prefix"]
    assert prefix["stored_values"] == 491_520
    assert 354_000_000 < prefix["base_parameters"] < 356_000_000
    assert prefix["stored_percent"] == pytest.approx(0.1385, abs=1e-3)
    assert counts["finetune"]["stored_values"] == prefix["base_parameters"]
    assert counts["adapter_0.1"]["stored_percent"] == pytest.approx(0.1, rel=0.1)
    assert counts["adapter_3"]["stored_percent"] == pytest.approx(3, rel=0.02)


@pytest.mark.parametrize("method", ["ft_top2", "adapter", "embedding_only", "infix"])
def test_encoder_decoders_are_refused_clearly(method, fresh):
    with pytest.raises(UserError, match="causal LMs"):
        fresh("tiny-bart", method)
