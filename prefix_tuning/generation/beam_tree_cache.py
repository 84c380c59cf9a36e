"""The beam engine's keys/values: each input's once, its beams' generated columns side by side, never reordered.

Beam search reorders its beams every step (a beam continues another's history), and a cache kept per beam row
must then copy each row's whole history to its new place: `generate` does, and on this CPU that copy grew to a
sixth of a step at 90 generated tokens. Here each input (a slot) owns one run of columns: its prefix + prompt,
then, every step, one new column per beam. A beam row sees the columns of its own ancestry only, through a
boolean mask per row; reordering beams copies those masks (a few hundred bytes a row), not keys and values.

Columns of beams that died (no descendant among the running beams) are masked for every row; `compact` drops
them (one gather every few steps), which also keeps the attention's width near the live histories' union: beams
share most of their history, so that union is far narrower than one copy per beam.

Slots are contiguous: an input that leaves has its slot filled by the last one (one input's columns copied), so
a step reads slots [0, inputs) and rows [0, inputs x beams), row = slot x beams + beam.
"""

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

COMPACT_EVERY = 8  # steps of new columns between compactions: dead columns pile up no wider than this


class BeamTreeCache:
    """Per layer, keys and values [slots, kv_heads, capacity, head_dim]; `mask` [slots x beams, capacity]."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, slots: int, beams: int, dtype, device):
        self.layers, self.kv_heads, self.head_dim = layers, kv_heads, head_dim
        self.slots, self.beams, self.dtype, self.device = slots, beams, dtype, device
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.spares: list[torch.Tensor] = []  # what `compact` gathers into, then swaps with the pools
        self.capacity = 0
        self.limit = 0  # compact once a step needs more columns than this
        self.used = torch.zeros(slots, dtype=torch.long, device=device)  # columns written, per slot
        self.mask = torch.zeros(slots * beams, 0, dtype=torch.bool, device=device)
        self.row_slot = torch.arange(slots, device=device).repeat_interleave(beams)
        self.row_beam = torch.arange(beams, device=device).repeat(slots)

    # --- inputs joining and leaving ------------------------------------------------------------------------

    def admit(self, slot: int, keys: list[torch.Tensor], values: list[torch.Tensor]):
        """Input `slot` starts over with this prefix + prompt cache (per layer [1, kv_heads, width, head_dim]),
        seen by all its beams."""
        width = keys[0].shape[2]
        self._ensure(width + self.beams * COMPACT_EVERY)
        for pool, new in zip([*self.keys, *self.values], [*keys, *values]):
            pool[slot, :, :width] = new[0]
        rows = slice(slot * self.beams, (slot + 1) * self.beams)
        self.mask[rows] = False
        self.mask[rows, :width] = True
        self.used[slot] = width

    def move(self, targets: list[int], sources: list[int]):
        """Slot `targets[k]` takes over the input in slot `sources[k]` (targets and sources disjoint)."""
        if not targets:
            return
        to = torch.tensor(targets, device=self.device)
        source = torch.tensor(sources, device=self.device)
        width = int(self.used[source].max())
        for pool in [*self.keys, *self.values]:
            pool[to, :, :width] = pool[source, :, :width]
        self.mask[self._rows(to)] = self.mask[self._rows(source)]
        self.used[to] = self.used[source]

    def _rows(self, slots: torch.Tensor) -> torch.Tensor:
        """The mask rows of `slots`, slot-major."""
        return (slots[:, None] * self.beams + torch.arange(self.beams, device=self.device)).flatten()

    def reorder(self, rows: torch.Tensor):
        """Row r now continues the history of row `rows[r]` (rows [0, len(rows)), each within its own slot)."""
        self.mask[: len(rows)] = self.mask[rows]

    # --- one step --------------------------------------------------------------------------------------------

    def step(self, inputs: int) -> tuple[DynamicCache, torch.Tensor]:
        """Give every row of slots [0, inputs) a new column (its own, seen by itself only from now on, and by its
        descendants). Returns the cache for the forward (its layers write the step's keys/values there) and the
        attention bias [rows, width] (0 where a row may attend, -inf elsewhere; `width` columns to read)."""
        rows = inputs * self.beams
        widest = int(self.used[:inputs].max())
        if widest + self.beams > self.limit:
            self.compact(inputs)
            widest = int(self.used[:inputs].max())
        width = widest + self.beams
        self._ensure(width)
        slot, beam = self.row_slot[:rows], self.row_beam[:rows]
        columns = self.used[slot] + beam
        self.mask[torch.arange(rows, device=self.device), columns] = True
        self.used[:inputs] += self.beams
        bias = torch.zeros(rows, width, dtype=self.dtype, device=self.device)
        bias.masked_fill_(~self.mask[:rows, :width], float("-inf"))
        cache = DynamicCache()
        cache.layers = [TreeLayer(keys, values, slot, columns, width) for keys, values in zip(self.keys, self.values)]
        return cache, bias

    def compact(self, inputs: int):
        """Drop the columns no running beam descends from (each slot's live columns moved to its front, in
        order), and set the next compaction `COMPACT_EVERY` steps of columns further."""
        if inputs:
            rows, beams = inputs * self.beams, self.beams
            live = self.mask[:rows].view(inputs, beams, -1).any(dim=1)  # [inputs, capacity]
            counts = live.sum(dim=1)
            if torch.equal(counts, self.used[:inputs]):  # nothing died (greedy search, always): nothing to move
                self.limit = int(counts.max()) + self.beams * COMPACT_EVERY
                return
            width = int(counts.max())
            # each slot's live columns first, in their order (a stable sort of "is dead"), the dead ones after them
            order = torch.sort((~live).to(torch.uint8), dim=1, stable=True).indices  # [inputs, capacity]
            # whole rows of head_dim numbers copied by index into the spare storage (3.5x faster here than
            # `gather` into the live width alone), then the storages swap
            lines = torch.arange(inputs * self.kv_heads, device=self.device).view(inputs, self.kv_heads, 1)
            index = (lines * self.capacity + order[:, None, :]).flatten()
            pools, spares = [*self.keys, *self.values], self.spares or [torch.zeros_like(p) for p in self.keys * 2]
            for pool, spare in zip(pools, spares):
                torch.index_select(pool.view(-1, self.head_dim), 0, index, out=spare[:inputs].view(-1, self.head_dim))
            self.keys, self.values, self.spares = spares[: self.layers], spares[self.layers :], pools
            order = order[:, :width]
            mask = self.mask[:rows].view(inputs, beams, -1).gather(2, order[:, None, :].expand(inputs, beams, width))
            self.mask[:rows] = False
            self.mask[:rows, :width] = mask.reshape(rows, width)
            self.used[:inputs] = counts
        self.limit = int(self.used[:inputs].max()) + self.beams * COMPACT_EVERY if inputs else 0

    def _ensure(self, width: int):
        """Room for `width` columns in every slot (zeros: masked columns must never hold NaN)."""
        if width <= self.capacity:
            return
        capacity = max(width, self.capacity + self.capacity // 2)
        shape = (self.slots, self.kv_heads, capacity, self.head_dim)
        grown = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(2 * self.layers)]
        for new, old in zip(grown, [*self.keys, *self.values]):
            new[:, :, : self.capacity] = old
        self.keys, self.values, self.spares = grown[: self.layers], grown[self.layers :], []
        mask = torch.zeros(self.slots * self.beams, capacity, dtype=torch.bool, device=self.device)
        mask[:, : self.capacity] = self.mask
        self.mask, self.capacity = mask, capacity
        self.limit = max(self.limit, width)


class TreeLayer(DynamicLayer):
    """One layer's cache for one step: `update` writes each row's new key/value into its slot's new column;
    the attention (`beam_tree_attention`) reads the slots' columns itself."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, slot: torch.Tensor, columns: torch.Tensor, width):
        super().__init__()
        self.pool_keys, self.pool_values, self.slot, self.columns = keys, values, slot, columns
        self.keys, self.values = keys[:1, :, :width], values[:1, :, :width]  # what `get_seq_length` reads
        self.device, self.is_initialized = keys.device, True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if key_states.shape[2] != 1:
            raise RuntimeError("the beam tree cache takes one new token per row")
        self.pool_keys[self.slot, :, self.columns] = key_states[:, :, 0]
        self.pool_values[self.slot, :, self.columns] = value_states[:, :, 0]
        return key_states, value_states
