"""Per-layer keys/values the frozen LM computes for some tokens or embeddings (what a prefix or infix imitates)."""

import torch

from prefix_tuning.errors import UserError


def cache_kv(cache) -> torch.Tensor:
    """A filled DynamicCache as one tensor [batch, layers, 2, kv_heads, T, head_dim] (the layout `prefix_cache` takes)."""
    return torch.stack([torch.stack([layer.keys, layer.values], dim=1) for layer in cache.layers], dim=1)


def lm_kv(lm, **inputs) -> torch.Tensor:
    """Run the LM body (no head) on `inputs` (input_ids or inputs_embeds, masks, positions); return its keys/values.
    A sliding-window cache keeps only its window's last tokens: words longer than the window are refused."""
    tokens = (inputs["input_ids"] if "input_ids" in inputs else inputs["inputs_embeds"]).shape[1]
    cache = lm.base_model(**inputs, use_cache=True).cache
    kept = {layer.keys.shape[-2] for layer in cache.layers}
    if kept != {tokens}:
        raise UserError(
            f"the model's cache kept {min(kept)} of {tokens} positions (a sliding window): initialize from at most "
            f"{min(kept)} tokens of words, or use init=random"
        )
    return cache_kv(cache)
