"""Where the prefix is built: P'[L, d] -> Linear(d, h) -> Tanh -> Linear(h, layers*2*kv_heads*head_dim).

The output is one key and one value vector per layer, kv-head and prefix position:
shape [n_layers, 2, n_kv_heads, L, head_dim]. After training only P = MLP(P') is kept
(`materialize`), so inference needs no MLP.
"""

import torch
from torch import nn

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.core.prefix_config import PrefixConfig


class PrefixEncoder(nn.Module):
    """The trainable prefix: with the MLP reparametrization, or P trained directly."""

    def __init__(self, config: PrefixConfig, geometry: KVGeometry):
        super().__init__()
        self.config = config
        self.geometry = geometry
        length, out = config.prefix_length, geometry.values_per_position
        if config.mlp_hidden:
            # N(0, 1) like the nn.Embedding of arange(L) in the original code.
            self.embedding = nn.Parameter(torch.randn(length, geometry.hidden_size))
            self.mlp = nn.Sequential(
                nn.Linear(geometry.hidden_size, config.mlp_hidden), nn.Tanh(), nn.Linear(config.mlp_hidden, out)
            )
        else:
            self.embedding = nn.Parameter(torch.randn(length, out) * 0.02)
            self.mlp = None
        self.dropout = nn.Dropout(config.dropout)

    def flat(self) -> torch.Tensor:
        """P as [L, n_layers * 2 * n_kv_heads * head_dim], before dropout."""
        return self.mlp(self.embedding) if self.mlp is not None else self.embedding

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
