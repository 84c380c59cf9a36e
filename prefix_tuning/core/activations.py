"""Per-layer keys/values the frozen LM computes for some tokens or embeddings (what a prefix or infix imitates)."""

import torch


def cache_kv(cache) -> torch.Tensor:
    """A filled DynamicCache as one tensor [batch, layers, 2, kv_heads, T, head_dim] (the layout `prefix_cache` takes)."""
    return torch.stack([torch.stack([layer.keys, layer.values], dim=1) for layer in cache.layers], dim=1)


def lm_kv(lm, **inputs) -> torch.Tensor:
    """Run the LM body (no head) on `inputs` (input_ids or inputs_embeds, masks, positions); return its keys/values."""
    return cache_kv(lm.base_model(**inputs, use_cache=True).cache)
