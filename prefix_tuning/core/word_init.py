"""Prefix initialization from the activations of real words (paper section 7.4).

The words are run through the frozen LM; their per-layer keys/values become the prefix, so a prefix
initialized from words w makes the LM behave exactly as if w had been fed as real tokens. With the
MLP reparametrization, the MLP is first fitted to those activations by MSE (original code: Adam,
lr 1e-4, 500 steps).
"""

import torch
import torch.nn.functional as F

from prefix_tuning.core.activations import lm_kv
from prefix_tuning.core.prefix_encoder import PrefixEncoder, from_kv
from prefix_tuning.errors import UserError


@torch.no_grad()
def word_activations(lm, tokenizer, words: str, length: int) -> torch.Tensor:
    """Keys/values of `words` (repeated to fill `length` tokens), [layers, 2, kv_heads, length, head_dim]."""
    ids = tokenizer(words, add_special_tokens=False)["input_ids"]
    if not ids:
        raise UserError(f"init words {words!r} tokenize to nothing")
    ids = (ids * (length // len(ids) + 1))[:length]
    return lm_kv(lm, input_ids=torch.tensor([ids], device=lm.device))[0].float()


def init_from_words(encoder: PrefixEncoder, lm, tokenizer) -> float:
    """Set the encoder's P (directly, or through the MLP by MSE fitting). Returns the final MSE."""
    config = encoder.config
    target = from_kv(word_activations(lm, tokenizer, config.init_words, config.prefix_length))
    target = target.to(encoder.embedding.device)
    if encoder.mlp is None:
        with torch.no_grad():
            encoder.embedding.copy_(target)
        return 0.0
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.init_fit_lr)
    with torch.enable_grad():
        for _ in range(config.init_fit_steps):
            loss = F.mse_loss(encoder.flat(), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return F.mse_loss(encoder.flat(), target).item()
