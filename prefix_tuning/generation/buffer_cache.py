"""A `transformers` cache over preallocated key/value buffers: the layers attend to the buffers' used columns
and write a step's new keys/values into the spare columns after them, in place (no concatenation)."""

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


def cache_over(keys: list[torch.Tensor], values: list[torch.Tensor], used: int) -> DynamicCache:
    """A DynamicCache over the engine's buffers as they are (no copy): `used` columns hold keys/values, the
    spare ones after them take the step's new keys/values in place (no concatenation)."""
    cache = DynamicCache()
    cache.layers = [BufferLayer(k, v, used) for k, v in zip(keys, values)]
    return cache


class BufferLayer(DynamicLayer):
    """A cache layer whose keys/values are the first `used` columns of preallocated buffers; `update` writes
    new columns into the spare room (or concatenates, as DynamicLayer does, when there is none)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, used: int):
        super().__init__()
        self.buffer_keys, self.buffer_values, self.used = keys, values, used
        self.keys, self.values = keys[:, :, :used], values[:, :, :used]
        self.device, self.is_initialized = keys.device, True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        end = self.used + key_states.shape[2]
        if end > self.buffer_keys.shape[2]:
            return super().update(key_states, value_states)
        self.buffer_keys[:, :, self.used : end] = key_states
        self.buffer_values[:, :, self.used : end] = value_states
        self.used = end
        self.keys, self.values = self.buffer_keys[:, :, :end], self.buffer_values[:, :, :end]
        return self.keys, self.values
