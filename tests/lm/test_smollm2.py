"""The real embedded model: SmolLM2-135M (Llama, 9 query / 3 kv heads) loads, trains and decodes with a prefix."""

import pytest
import torch

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.lm.loading import load_base_model, load_tokenizer
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.encoder import PrefixEncoder
from prefix_tuning.prefix.word_init import init_from_words
from prefix_tuning.tasks.e2e import data as e2e
from prefix_tuning.tasks.encoding import encode_pair
from prefix_tuning.training.batching import collate_training

pytestmark = [pytest.mark.slow, pytest.mark.needs_data]


@pytest.fixture(scope="module")
def smollm2(compose_cfg):
    cfg = compose_cfg("model=smollm2-135m").model
    tok = load_tokenizer(cfg)
    return load_base_model(cfg, tok), tok


def test_geometry_is_grouped_query_attention(smollm2):
    lm, _ = smollm2
    assert KVGeometry.of(lm.config) == KVGeometry(n_layers=30, n_kv_heads=3, head_dim=64, hidden_size=576)


def test_a_few_steps_lower_the_loss_on_real_e2e_pairs(smollm2, prefix_config):
    lm, tok = smollm2
    torch.manual_seed(0)
    pairs = e2e.load_pairs("train")[:4]
    batch = collate_training([encode_pair(tok, p, 128, 128) for p in pairs], tok.pad_token_id)
    encoder = PrefixEncoder(
        prefix_config(
            prefix_length=5,
            mlp_hidden=128,
            init="words",
            init_words="table-to-text",
            init_fit_steps=100,
            init_fit_lr=1e-3,
        ),
        KVGeometry.of(lm.config),
    )
    init_from_words(encoder, lm, tok)
    model = PrefixLM(lm, encoder).train()
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(p.grad is None for p in lm.parameters())


def test_generate_with_prefix_equals_no_cache_decoding(smollm2, prefix_config, greedy_reference):
    lm, tok = smollm2
    encoder = PrefixEncoder(prefix_config(prefix_length=4, mlp_hidden=64), KVGeometry.of(lm.config)).eval()
    model = PrefixLM(lm, encoder)
    prompt = tok(" name : The Eagle | Type : coffee shop")["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([prompt])
    out = model.generate(
        ids, torch.ones_like(ids), max_new_tokens=4, do_sample=False, eos_token_id=None, pad_token_id=tok.pad_token_id
    )
    assert out[0].tolist() == greedy_reference(model, prompt, 4)
