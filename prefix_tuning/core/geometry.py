"""What a prefix must match: the per-layer key/value shapes of the base model's attention."""

from dataclasses import dataclass


@dataclass(frozen=True)
class KVGeometry:
    """Layers, key/value heads and head size of one attention stack (and the model width the MLP reads)."""

    n_layers: int
    n_kv_heads: int
    head_dim: int
    hidden_size: int

    @classmethod
    def of(cls, config) -> "KVGeometry":
        """The decoder-side geometry of a Hugging Face config (GPT-2, Llama with grouped-query attention, ...)."""
        config = config.get_text_config(decoder=True)
        n_heads = config.num_attention_heads
        hidden = config.hidden_size
        return cls(
            n_layers=config.num_hidden_layers,
            n_kv_heads=getattr(config, "num_key_value_heads", None) or n_heads,
            head_dim=getattr(config, "head_dim", None) or hidden // n_heads,
            hidden_size=hidden,
        )

    @property
    def values_per_position(self) -> int:
        """Numbers one prefix position stores: a key and a value per layer and kv-head."""
        return self.n_layers * 2 * self.n_kv_heads * self.head_dim
