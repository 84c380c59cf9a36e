"""The machine's matmul peak, measured in the calling process (the denominator of every "fraction of the
limit" our benchmarks print), and the matmul FLOPs one token costs a model."""

import time

import torch


def matmul_peak_flops(size: int = 1536, repeats: int = 8) -> float:
    """Best FLOP/s of a square float32 matmul over a few runs (the first one warms up)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def matmul_flops_per_token(lm) -> int:
    """2 x the weights every token multiplies by: every linear layer, the LM head included (tied or not)."""
    weights = sum(m.weight.numel() for m in lm.modules() if isinstance(m, torch.nn.Linear))
    head = lm.get_output_embeddings()
    if not any(head is m for m in lm.modules() if isinstance(m, torch.nn.Linear)):
        weights += head.weight.numel()
    return 2 * weights
