"""Beam search (and greedy search) for a frozen causal LM under a prefix, with continuous batching.

It makes the same choices as Hugging Face `generate` (transformers 5.24's `_beam_search`: 2 x beams
candidates per step, finished hypotheses kept by length-penalized score, the same early-stopping
heuristic; greedy: argmax of the processed logits) for the settings our decoding uses: min/max new
tokens, length penalty, early stopping, single-token bad words (newlines), EOS. What it does not do is
the waste: `generate` keeps a whole batch running until its slowest item is done and re-expands the
prompt for every beam; here an item leaves the batch the moment its result is final and the next
waiting item takes its rows, and a prompt (with its prefix) is read once, then shared by the beams.

Each item follows only its own generated-token count (as every rule of `_beam_search` does), so items
may join and leave between steps: the server uses this for requests that arrive while others decode.
Rows are left-padded to a common cache width; positions and masks are per row, as in `PrefixLM`.
"""

from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

NEG = -1.0e9  # `_beam_search`'s "impossible" score


@dataclass(frozen=True)
class SearchSettings:
    num_beams: int
    min_new_tokens: int
    max_new_tokens: int
    length_penalty: float
    early_stopping: bool
    eos_token_id: int
    banned_token_ids: tuple[int, ...] = ()


@dataclass
class Item:
    """One input: its prompt ids, its prefix ([layers, 2, kv_heads, L, head_dim] or None) and, once done, its result."""

    prompt: list[int]
    kv: torch.Tensor | None
    key: object = None  # the caller's handle
    result: list[int] | None = None
    error: Exception | None = None  # its prompt could not be read (the others decode on)
    # beam state (per item, as `_beam_search` keeps it per batch row)
    generated: int = 0
    running: list = field(default_factory=list)  # [beams] token lists (generated tokens only)
    running_scores: torch.Tensor | None = None  # [beams]
    finished: list = field(default_factory=list)  # [(score, tokens)] best first, at most num_beams
    improvable: bool = True  # `is_early_stop_heuristic_unsatisfied`


class BeamEngine:
    """Decodes items with `settings` on `rows_budget` cache rows (items x beams), refilled as items finish."""

    def __init__(self, lm, settings: SearchSettings, rows_budget: int):
        self.lm, self.settings = lm, settings
        self.beams = settings.num_beams
        self.slots = max(1, rows_budget // self.beams)
        self.waiting: list[Item] = []
        self.active: list[Item] = []
        self.keys: list[torch.Tensor] = []  # per layer [rows, kv_heads, width, head_dim]
        self.values: list[torch.Tensor] = []
        self.mask = None  # [rows, width]
        self.positions = None  # [rows]: the position of each row's next token
        self.last_tokens = None  # [rows]
        self.device = next(lm.parameters()).device
        vocab = lm.get_output_embeddings().weight.shape[0]
        self.banned = torch.zeros(vocab, dtype=torch.bool, device=self.device)
        self.banned[list(settings.banned_token_ids)] = True

    # --- the public surface ------------------------------------------------------------------------------

    def add(self, item: Item):
        self.waiting.append(item)

    def busy(self) -> bool:
        return bool(self.waiting or self.active)

    @torch.no_grad()
    def step(self) -> list[Item]:
        """Admit waiting items into free slots, run one decoding step, return the items that finished."""
        done = self._admit()
        if self.active:
            logits = self._forward()
            done += self._advance(logits)
        return done

    def run(self, items: list[Item]) -> list[Item]:
        """Decode everything (offline use); results in `item.result`."""
        for item in items:
            self.add(item)
        while self.busy():
            self.step()
        return items

    def cancel(self, key) -> None:
        """Forget an item (a client went away): dropped from the queue, or its rows freed at once."""
        self.waiting = [item for item in self.waiting if item.key is not key]
        keep = [i for i, item in enumerate(self.active) if item.key is not key]
        if len(keep) < len(self.active):
            rows = [i * self.beams + b for i in keep for b in range(self.beams)]
            self._take([self.active[i] for i in keep], rows, self.last_tokens[rows].tolist())

    # --- admitting items: one prefill per prompt, shared by its beams -------------------------------------

    def _admit(self) -> list[Item]:
        done = []
        while self.waiting and len(self.active) < self.slots:
            item = self.waiting.pop(0)
            try:
                logits, keys, values = self._prefill(item)
            except (IndexError, RuntimeError, ValueError) as err:  # a bad prompt fails its item only
                item.error = err
                done.append(item)
                continue
            item.running = [[] for _ in range(self.beams)]
            item.running_scores = torch.full((self.beams,), NEG)  # the beam bookkeeping stays on the CPU
            item.running_scores[0] = 0.0  # only the first beam's continuations count at the first step
            finished, _, tokens = self._advance_item(item, logits.expand(self.beams, -1))
            if finished:
                done.append(item)
            else:
                self._join(keys, values, tokens)
                self.active.append(item)
        return done

    def _prefill(self, item: Item):
        """Run the prompt once after the prefix: the last position's logits, and every layer's keys/values."""
        ids = torch.tensor([item.prompt], device=self.device)
        length = 0 if item.kv is None else item.kv.shape[-2]
        cache = DynamicCache()
        if item.kv is not None:
            kv = item.kv.to(self.device, self.lm.dtype).unsqueeze(0)
            cache = DynamicCache(ddp_cache_data=[(kv[:, i, 0], kv[:, i, 1]) for i in range(kv.shape[1])])
        mask = torch.ones(1, length + ids.shape[1], dtype=torch.long, device=self.device)
        positions = torch.arange(length, length + ids.shape[1], device=self.device).unsqueeze(0)
        out = self.lm.base_model(
            input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True
        )
        logits = self.lm.get_output_embeddings()(out.last_hidden_state[:, -1]).float()
        return logits, [layer.keys for layer in out.cache.layers], [layer.values for layer in out.cache.layers]

    def _join(self, keys, values, tokens: list[int]):
        """Append an item's beams as rows (all the same prompt cache), left-padding the narrower side."""
        rows, width = len(tokens), keys[0].shape[2]
        new_keys = [k.expand(rows, -1, -1, -1) for k in keys]
        new_values = [v.expand(rows, -1, -1, -1) for v in values]
        new_mask = torch.ones(rows, width, dtype=torch.long, device=self.device)
        new_positions = torch.full((rows,), width, device=self.device)  # the next token's position: L + prompt length
        if not self.active:
            self.keys, self.values = [k.contiguous() for k in new_keys], [v.contiguous() for v in new_values]
            self.mask, self.positions, self.last_tokens = (
                new_mask,
                new_positions,
                torch.tensor(tokens, device=self.device),
            )
            return
        current = self.mask.shape[1]
        pad_old, pad_new = max(0, width - current), max(0, current - width)
        self.keys = [torch.cat([_pad(a, pad_old), _pad(b, pad_new)]) for a, b in zip(self.keys, new_keys)]
        self.values = [torch.cat([_pad(a, pad_old), _pad(b, pad_new)]) for a, b in zip(self.values, new_values)]
        self.mask = torch.cat([_pad_mask(self.mask, pad_old), _pad_mask(new_mask, pad_new)])
        self.positions = torch.cat([self.positions, new_positions])
        self.last_tokens = torch.cat([self.last_tokens, torch.tensor(tokens, device=self.device)])

    # --- one step for every active row ---------------------------------------------------------------------

    def _forward(self) -> torch.Tensor:
        cache = _cache_over(self.keys, self.values)
        mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], 1)], dim=1)
        out = self.lm.base_model(
            input_ids=self.last_tokens.unsqueeze(1), attention_mask=mask, position_ids=self.positions.unsqueeze(1),
            cache=cache, use_cache=True,
        )  # fmt: skip
        self.keys = [layer.keys for layer in out.cache.layers]
        self.values = [layer.values for layer in out.cache.layers]
        self.mask, self.positions = mask, self.positions + 1
        return self.lm.get_output_embeddings()(out.last_hidden_state[:, -1]).float()

    def _advance(self, logits: torch.Tensor) -> list[Item]:
        done, keep, rows, tokens = [], [], [], []
        for index, item in enumerate(self.active):
            finished, parents, chosen = self._advance_item(item, logits[index * self.beams : (index + 1) * self.beams])
            if finished:
                done.append(item)
            else:
                keep.append(item)
                rows += [index * self.beams + parent for parent in parents]
                tokens += chosen
        self._take(keep, rows, tokens)
        return done

    def _advance_item(self, item: Item, logits: torch.Tensor) -> tuple[bool, list[int], list[int]]:
        """One `_beam_search` iteration (or greedy step) for one item, from its beams' logits [beams, vocab].
        Returns (its result is final, the parent beam of each next beam, each next beam's token)."""
        s = self.settings
        generated = item.generated + 1  # counting the token chosen now
        item.generated = generated
        if s.num_beams == 1:  # `_sample` without sampling: argmax of the processed logits
            token = int(self._processed(logits, generated - 1)[0].argmax())  # one sync per item and step
            item.running[0].append(token)
            if token == s.eos_token_id or generated >= s.max_new_tokens:
                item.result = item.running[0]
                return True, [], []
            return False, [0], [token]
        log_probs = self._processed(torch.log_softmax(logits, dim=-1), generated - 1).cpu()
        vocab = log_probs.shape[-1]
        accumulated = (log_probs + item.running_scores[:, None]).reshape(-1)
        top_scores, top_indices = torch.topk(accumulated, k=2 * s.num_beams)
        parents, tokens = (top_indices // vocab).tolist(), (top_indices % vocab).tolist()
        hits = [generated >= s.max_new_tokens or token == s.eos_token_id for token in tokens]
        # `_update_finished_beams`: finished candidates among the first num_beams join the kept hypotheses
        penalized = (top_scores / (generated**s.length_penalty)).tolist()
        all_finished = len(item.finished) == s.num_beams
        if item.improvable and not (s.early_stopping and all_finished):
            new = [(penalized[k], item.running[parents[k]] + [tokens[k]]) for k in range(s.num_beams) if hits[k]]
            item.finished = sorted(item.finished + new, key=lambda c: -c[0])[: s.num_beams]
        # `_get_running_beams_for_next_iteration`: the best num_beams unfinished candidates run on
        running_scores = top_scores + torch.tensor(hits, dtype=torch.float32) * NEG
        chosen = torch.topk(running_scores, k=s.num_beams).indices.tolist()
        item.running = [item.running[parents[c]] + [tokens[c]] for c in chosen]
        item.running_scores = running_scores[chosen]
        # `_check_early_stop_heuristic` and `_beam_search_has_unfinished_sequences`, for this item alone
        all_finished = len(item.finished) == s.num_beams
        if all_finished:
            best_possible = float(item.running_scores[0]) / (generated**s.length_penalty)
            item.improvable = item.improvable and best_possible > min(score for score, _ in item.finished)
        if not item.improvable or (s.early_stopping and all_finished) or all(hits):
            item.result = item.finished[0][1] if item.finished else item.running[0]
            return True, [], []
        return False, [parents[c] for c in chosen], [tokens[c] for c in chosen]

    def _processed(self, scores: torch.Tensor, generated_so_far: int) -> torch.Tensor:
        """The logits processors our decoding uses: bad words (newlines) and min_new_tokens (no EOS yet)."""
        scores = scores.masked_fill(self.banned, float("-inf"))
        if generated_so_far < self.settings.min_new_tokens:
            scores[:, self.settings.eos_token_id] = float("-inf")
        return scores

    # --- the rows of the next step ---------------------------------------------------------------------------

    def _take(self, items: list[Item], rows: list[int], tokens: list[int]):
        """Keep `items`, their beams' rows taken from `rows` (the parents), fed `tokens`; drop unused columns."""
        self.active = items
        if not items:
            self.keys, self.values, self.mask, self.positions, self.last_tokens = [], [], None, None, None
            return
        index = torch.tensor(rows, device=self.device)
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]
        self.mask, self.positions = self.mask[index], self.positions[index]
        self.last_tokens = torch.tensor(tokens, device=self.device)
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first:  # the padding of items that left
            self.keys = [k[:, :, first:].contiguous() for k in self.keys]
            self.values = [v[:, :, first:].contiguous() for v in self.values]
            self.mask = self.mask[:, first:]


def _cache_over(keys: list[torch.Tensor], values: list[torch.Tensor]) -> DynamicCache:
    """A DynamicCache holding these tensors as they are (building one from `ddp_cache_data` copies them)."""
    cache = DynamicCache()
    for k, v in zip(keys, values):
        layer = DynamicLayer()
        layer.lazy_initialization(k, v)
        layer.keys, layer.values = k, v
        cache.layers.append(layer)
    return cache


def _pad(tensor: torch.Tensor, columns: int) -> torch.Tensor:
    if not columns:
        return tensor
    return torch.cat([tensor.new_zeros(*tensor.shape[:2], columns, tensor.shape[3]), tensor], dim=2)


def _pad_mask(mask: torch.Tensor, columns: int) -> torch.Tensor:
    return torch.cat([mask.new_zeros(mask.shape[0], columns), mask], dim=1) if columns else mask
