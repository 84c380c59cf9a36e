"""Packed batches (prefix/packing.py): every example's hidden states and the loss equal the padded batch's;
attention without the block-diagonal mask would not (the check can fail)."""

import pytest
import torch

from prefix_tuning import methods
from prefix_tuning.lm.loading import load_base_model
from prefix_tuning.prefix.causal import prefix_cache, prefixed_inputs
from prefix_tuning.prefix.packing import NAME, attention_implementation, pack, packed_attention
from prefix_tuning.tasks.encoding import encode_pair
from prefix_tuning.tasks.records import Pair
from prefix_tuning.training.batching import collate_training

PAIRS = [
    Pair("name : Aromi", "Aromi is a place ."),
    Pair("name : The Eagle | Type : coffee shop | food : French", "The Eagle is a French coffee shop ."),
    Pair("x", "y z"),
]


def test_packed_hidden_states_equal_the_padded_batch(tiny_lm, random_kv):
    _, lm, tok, geometry = tiny_lm
    examples = [encode_pair(tok, p, 64, 64) for p in PAIRS]
    kv = random_kv(geometry, 4, scale=2.0)
    batch = collate_training(examples, tok.pad_token_id)
    padded = lm.base_model(
        **prefixed_inputs(batch["input_ids"], batch["attention_mask"], kv, 3, lm.dtype)
    ).last_hidden_state
    packed = pack(examples, 4)
    want = torch.cat([padded[i, :length] for i, (_, length) in enumerate(packed.segments)])
    outputs = {}
    for implementation in (NAME, "sdpa"):
        with attention_implementation(lm, implementation):
            outputs[implementation] = lm.base_model(
                input_ids=packed.input_ids, position_ids=packed.position_ids, cache=prefix_cache(kv, 1, lm.dtype),
                use_cache=False, packed_segments=packed.segments,
            ).last_hidden_state[0]  # fmt: skip
    torch.testing.assert_close(outputs[NAME], want, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(outputs["sdpa"], want, atol=1e-2)  # plain causal attention leaks across examples
    assert lm.config._attn_implementation != NAME  # restored


@pytest.mark.parametrize("method", ["prefix", "embedding_only", "finetune", "adapter"])
@pytest.mark.parametrize("reduction", ["sequence_sum", "token_mean"])
@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_packed_loss_and_gradients_equal_the_padded_batch(method, reduction, name, tiny_tokenizer, compose_cfg):
    cfg = compose_cfg(f"model={name}", f"method={method}")
    tok, lm = tiny_tokenizer, load_base_model(cfg.model, tiny_tokenizer)  # a fresh LM: fine-tuning scales its weights
    torch.manual_seed(0)
    model = methods.build(cfg.method, lm, tok)
    with torch.no_grad():  # a prefix far from uniform, so that attention really matters
        for p in model.trainable.parameters():
            p.mul_(3.0)
    examples = [encode_pair(tok, p, 64, 64) for p in PAIRS]
    losses, grads = [], []
    for batch in (collate_training(examples, tok.pad_token_id), {"packed": pack(examples, model.added_positions())}):
        model.zero_grad()
        out = model(**batch, reduction=reduction)
        out.loss.backward()
        losses.append(out)
        grads.append([p.grad.clone() for p in model.trainable.parameters() if p.grad is not None])
    assert losses[0].targets == losses[1].targets
    torch.testing.assert_close(losses[1].loss, losses[0].loss, atol=1e-5, rtol=1e-5)
    for packed, padded in zip(grads[1], grads[0]):
        torch.testing.assert_close(packed, padded, atol=1e-5, rtol=1e-4)


def test_packed_attention_refuses_segments_that_do_not_tile_the_sequence():
    module = torch.nn.Module()
    query, key = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 7, 4)  # prefix of 2, 5 tokens
    out, _ = packed_attention(module, query, key, key, None, packed_segments=((0, 3), (3, 2)))
    assert out.shape == (1, 5, 2, 4)
    for segments in (((0, 3),), ((3, 2), (0, 3)), ((0, 2), (3, 2))):
        with pytest.raises(ValueError, match="tile the sequence in order"):
            packed_attention(module, query, key, key, None, packed_segments=segments)
