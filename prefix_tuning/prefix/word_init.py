"""Initialization from the activations of real words (paper section 7.4), as the original code does it.

The words are tokenized with a leading space (" " + words, so "elephant" is one GPT-2 token) and the
prefix has exactly that many positions: L is the words' token count, never repeated or cut. They are
run through the frozen LM; their per-layer keys/values become the prefix, so a prefix initialized
from words w makes the LM behave exactly as if w had been fed as real tokens. With the MLP
reparametrization only the MLP is fitted to those activations by MSE (original code: Adam, lr 1e-4,
500 steps); the random input P' stays as drawn.
"""

from dataclasses import replace

import torch
import torch.nn.functional as F

from prefix_tuning.core.activations import lm_kv
from prefix_tuning.errors import UserError
from prefix_tuning.prefix.config import PrefixConfig
from prefix_tuning.prefix.encoder import PrefixEncoder, ReparametrizedTable, from_kv


def init_token_ids(tokenizer, words: str) -> list[int]:
    """The token ids of " " + words (the original code tokenizes with add_prefix_space=True)."""
    ids = tokenizer(" " + words.strip(), add_special_tokens=False)["input_ids"]
    if not ids:
        raise UserError(f"init words {words!r} tokenize to nothing")
    return ids


def with_word_length(config: PrefixConfig, tokenizer) -> PrefixConfig:
    """The config with L = the init words' token count; an error naming the count if it asks for another L."""
    if config.init != "words":
        return config
    count = len(init_token_ids(tokenizer, config.init_words))
    if config.prefix_length not in (None, count):
        raise UserError(
            f"init words {config.init_words!r} are {count} tokens for this tokenizer, so the prefix has {count} "
            f"positions; set method.prefix_length={count} or null, not {config.prefix_length}"
        )
    return replace(config, prefix_length=count)


@torch.no_grad()
def word_activations(lm, tokenizer, words: str) -> torch.Tensor:
    """Keys/values of " " + words, [layers, 2, kv_heads, token count, head_dim]."""
    ids = init_token_ids(tokenizer, words)
    return lm_kv(lm, input_ids=torch.tensor([ids], device=lm.device))[0].float()


def fit_mlp(encoder: ReparametrizedTable, target: torch.Tensor) -> float:
    """Fit only the table's MLP so that MLP(P') matches `target` [L, width] by MSE (set the rows directly
    without an MLP); returns the final MSE."""
    config = encoder.config
    target = target.to(encoder.embedding.device)
    if encoder.mlp is None:
        with torch.no_grad():
            encoder.embedding.copy_(target)
        return 0.0
    optimizer = torch.optim.Adam(encoder.mlp.parameters(), lr=config.init_fit_lr)
    with torch.enable_grad():
        for _ in range(config.init_fit_steps):
            loss = F.mse_loss(encoder.flat(), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return F.mse_loss(encoder.flat(), target).item()


def init_from_words(encoder: PrefixEncoder, lm, tokenizer) -> float:
    """Set the encoder's P to the words' activations (directly, or through the MLP). Returns the final MSE."""
    target = from_kv(word_activations(lm, tokenizer, encoder.config.init_words))
    if target.shape[0] != encoder.config.prefix_length:
        raise UserError(
            f"the prefix has {encoder.config.prefix_length} positions but the init words have {target.shape[0]} tokens"
        )
    return fit_mlp(encoder, target)
