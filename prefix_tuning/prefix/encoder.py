"""Where the prefix is built: P'[L, d] -> Linear(d, h) -> Tanh -> Linear(h, layers*2*kv_heads*head_dim).

The output is one key and one value vector per layer, kv-head and prefix position:
shape [n_layers, 2, n_kv_heads, L, head_dim]. After training only P = MLP(P') is kept
(`materialize`), so inference needs no MLP.
"""

import torch
from torch import nn

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.prefix.config import PrefixConfig


class ReparametrizedTable(nn.Module):
    """L trainable rows of width `out_width`: MLP(P') with P' [L, in_width] (the paper's reparametrization,
    section 4.3), or the rows themselves when `mlp_hidden` is None."""

    def __init__(self, config: PrefixConfig, in_width: int, out_width: int):
        super().__init__()
        if config.prefix_length is None:
            raise ValueError(
                "the table needs a prefix_length (word init resolves it first: word_init.with_word_length)"
            )
        self.config = config
        width = in_width if config.mlp_hidden else out_width
        # P' (or P without the MLP): N(0, 1) as the original code's nn.Embedding, or U(0, 1) as the paper's A.5.
        shape = (config.prefix_length, width)
        self.embedding = nn.Parameter(torch.randn(shape) if config.random_init == "normal" else torch.rand(shape))
        self.mlp = None
        if config.mlp_hidden:
            self.mlp = nn.Sequential(
                nn.Linear(in_width, config.mlp_hidden), nn.Tanh(), nn.Linear(config.mlp_hidden, out_width)
            )

    def flat(self) -> torch.Tensor:
        """The rows [L, out_width]."""
        return self.mlp(self.embedding) if self.mlp is not None else self.embedding


class PrefixEncoder(ReparametrizedTable):
    """The trainable prefix: P = MLP(P') (or P trained directly), as per-layer keys and values."""

    def __init__(self, config: PrefixConfig, geometry: KVGeometry):
        super().__init__(config, geometry.hidden_size, geometry.values_per_position)
        self.geometry = geometry
        self.dropout = nn.Dropout(config.dropout)

    def forward(self) -> torch.Tensor:
        """Per-layer prefix keys and values, [n_layers, 2, n_kv_heads, L, head_dim]."""
        return self.dropout(to_kv(self.flat(), self.geometry))

    @torch.no_grad()
    def materialize(self) -> torch.Tensor:
        """The final P (MLP applied, no dropout), detached: what gets saved."""
        return to_kv(self.flat(), self.geometry).detach().clone()


def to_kv(flat: torch.Tensor, geometry: KVGeometry) -> torch.Tensor:
    """[L, layers*2*kv_heads*head_dim] -> [layers, 2, kv_heads, L, head_dim]."""
    length = flat.shape[0]
    g = geometry
    return flat.view(length, g.n_layers, 2, g.n_kv_heads, g.head_dim).permute(1, 2, 3, 0, 4)


def from_kv(kv: torch.Tensor) -> torch.Tensor:
    """Inverse of `to_kv`: [layers, 2, kv_heads, L, head_dim] -> [L, layers*2*kv_heads*head_dim]."""
    return kv.permute(3, 0, 1, 2, 4).reshape(kv.shape[3], -1)


class FixedPrefix(nn.Module):
    """A trained prefix P loaded for inference: no MLP, no gradients."""

    def __init__(self, kv: torch.Tensor):
        super().__init__()
        self.register_buffer("kv", kv)

    def forward(self) -> torch.Tensor:
        return self.kv

    def materialize(self) -> torch.Tensor:
        return self.kv.detach().clone()
