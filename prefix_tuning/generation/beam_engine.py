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

from prefix_tuning.core.causal import prefixed_inputs
from prefix_tuning.training.batching import pad_batch

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

    # --- admitting items: prompts arriving together prefilled in one batch, each shared by its beams ------

    def _admit(self) -> list[Item]:
        done, admitted, caches = [], [], []
        arriving = self.waiting[: self.slots - len(self.active)]
        self.waiting = self.waiting[len(arriving) :]
        for item, prefilled in self._prefilled(arriving):
            if isinstance(prefilled, Exception):  # a bad prompt fails its item only; its slot waits a step
                item.error = prefilled
                done.append(item)
                continue
            logits, keys, values = prefilled
            item.running = [[] for _ in range(self.beams)]
            item.running_scores = torch.full((self.beams,), NEG)  # the beam bookkeeping stays on the CPU
            item.running_scores[0] = 0.0  # only the first beam's continuations count at the first step
            (choice,) = self._choices([item], logits.expand(self.beams, -1))
            finished, _, tokens = self._advance_item(item, *choice)
            if finished:
                done.append(item)
            else:
                admitted.append(item)
                caches.append((keys, values, tokens))
        if admitted:
            self._join(caches)
            self.active += admitted
        return done

    def _prefilled(self, items: list[Item]):
        """(item, (last logits [1, vocab], keys per layer, values per layer) or the error its prompt raised), for
        each item. Items whose prefixes have the same length are prefilled together in one left-padded batch
        (a batch that fails is redone one item at a time, so that only the bad prompt fails)."""
        groups: dict[int, list[Item]] = {}
        for item in items:
            groups.setdefault(-1 if item.kv is None else item.kv.shape[-2], []).append(item)
        for group in groups.values():
            try:
                yield from zip(group, self._prefill(group))
            except (IndexError, RuntimeError, ValueError):
                for item in group:
                    try:
                        yield item, self._prefill([item])[0]
                    except (IndexError, RuntimeError, ValueError) as err:
                        yield item, err

    def _prefill(self, items: list[Item]) -> list[tuple]:
        """Run the prompts once after their prefixes (all of one length): per item, the last position's logits
        and every layer's keys/values over its prefix and its prompt (the batch's padding columns left out)."""
        ids, mask = pad_batch([item.prompt for item in items], 0, "left")
        ids, mask = ids.to(self.device), mask.to(self.device)
        first = items[0].kv
        if first is None:
            kv, length = None, 0
        else:  # one prefix for the batch (broadcast, no copy) unless the items bring several
            same = all(item.kv is first for item in items)
            kv = first.to(self.device) if same else torch.stack([item.kv.to(self.device) for item in items])
            length = kv.shape[-2]
        inputs = prefixed_inputs(ids, mask, kv, len(items), self.lm.dtype)
        out = self.lm.base_model(**{**inputs, "use_cache": True})
        logits = self.lm.get_output_embeddings()(out.last_hidden_state[:, -1]).float()
        layers = [(layer.keys, layer.values) for layer in out.cache.layers]
        results, width = [], length + ids.shape[1]
        for row, item in enumerate(items):
            start = width - len(item.prompt)  # the row's first prompt column; padding lies between it and the prefix
            own = torch.cat([torch.arange(length), torch.arange(start, width)]).to(self.device)
            keys = [k[row : row + 1].index_select(2, own) for k, _ in layers]
            values = [v[row : row + 1].index_select(2, own) for _, v in layers]
            results.append((logits[row : row + 1], keys, values))
        return results

    def _join(self, caches: list[tuple[list, list, list[int]]]):
        """Append the admitted items' beams as rows (each item's beams share its prompt cache), left-padding the
        narrower side, into new cache buffers (one copy for all of them) with one spare column (where the next
        step writes its keys/values). `caches`: per item (keys per layer, values per layer, its beams' tokens)."""
        old_rows, current = (self.mask.shape[0], self.mask.shape[1]) if self.active else (0, 0)
        widths = [keys[0].shape[2] for keys, _, _ in caches]
        beams = [len(tokens) for _, _, tokens in caches]
        total, rows = max([current, *widths]), old_rows + sum(beams)

        def merged(old, news):
            out = news[0].new_zeros(rows, news[0].shape[1], total + 1, news[0].shape[3])  # zeros: masked, never NaN
            if old_rows:
                out[:old_rows, :, total - current : total] = old[:, :, :current]
            start = old_rows
            for new, count in zip(news, beams):  # one prompt cache, broadcast over its beams
                out[start : start + count, :, total - new.shape[2] : total] = new
                start += count
            return out

        layers = range(len(caches[0][0]))
        olds = (self.keys, self.values) if self.active else ([None] * len(layers), [None] * len(layers))
        self.keys = [merged(olds[0][i], [keys[i] for keys, _, _ in caches]) for i in layers]
        self.values = [merged(olds[1][i], [values[i] for _, values, _ in caches]) for i in layers]
        mask = torch.zeros(rows, total, dtype=torch.long, device=self.device)
        if old_rows:
            mask[:old_rows, total - current :] = self.mask
        # the next token's position: L + prompt length, i.e. the item's cache width
        new_positions = torch.tensor([w for w, count in zip(widths, beams) for _ in range(count)], device=self.device)
        start = old_rows
        for width, count in zip(widths, beams):
            mask[start : start + count, total - width :] = 1
            start += count
        new_tokens = torch.tensor([t for _, _, tokens in caches for t in tokens], device=self.device)
        self.mask = mask
        self.positions = torch.cat([self.positions, new_positions]) if old_rows else new_positions
        self.last_tokens = torch.cat([self.last_tokens, new_tokens]) if old_rows else new_tokens

    # --- one step for every active row ---------------------------------------------------------------------

    def _forward(self) -> torch.Tensor:
        cache = _cache_over(self.keys, self.values, self.mask.shape[1])
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
        for index, (item, choice) in enumerate(zip(self.active, self._choices(self.active, logits))):
            finished, parents, chosen = self._advance_item(item, *choice)
            if finished:
                done.append(item)
            else:
                keep.append(item)
                rows += [index * self.beams + parent for parent in parents]
                tokens += chosen
        self._take(keep, rows, tokens)
        return done

    def _choices(self, items: list[Item], logits: torch.Tensor) -> list[tuple[list[float], list[int]]]:
        """Every item's candidates from its beams' logits (rows item-major), computed for all items at once:
        `_beam_search`'s log-softmax, processors, running-score sum and top 2 x beams over beams x vocab
        (greedy: the argmax of the processed logits). Per item: (candidate scores, flat beam x vocab indices)."""
        s = self.settings
        so_far = torch.tensor([item.generated for item in items], device=logits.device)
        if s.num_beams == 1:  # `_sample` without sampling
            tokens = self._processed(logits, so_far).argmax(dim=-1).tolist()
            return [([0.0], [token]) for token in tokens]
        log_probs = self._processed(torch.log_softmax(logits, dim=-1), so_far.repeat_interleave(self.beams))
        running = torch.stack([item.running_scores for item in items]).to(logits.device)
        accumulated = (log_probs.view(len(items), self.beams, -1) + running[:, :, None]).view(len(items), -1)
        scores, indices = torch.topk(accumulated, k=2 * s.num_beams, dim=1)
        return list(zip(scores.cpu().tolist(), indices.cpu().tolist()))

    def _advance_item(self, item: Item, top_scores: list[float], top_indices: list[int]):
        """One `_beam_search` iteration (or greedy step) for one item, from its candidates (`_choices`).
        Returns (its result is final, the parent beam of each next beam, each next beam's token)."""
        s = self.settings
        generated = item.generated + 1  # counting the token chosen now
        item.generated = generated
        if s.num_beams == 1:
            token = top_indices[0]
            item.running[0].append(token)
            if token == s.eos_token_id or generated >= s.max_new_tokens:
                item.result = item.running[0]
                return True, [], []
            return False, [0], [token]
        vocab = self.banned.shape[0]
        parents, tokens = [i // vocab for i in top_indices], [i % vocab for i in top_indices]
        hits = [generated >= s.max_new_tokens or token == s.eos_token_id for token in tokens]
        # `_update_finished_beams`: finished candidates among the first num_beams join the kept hypotheses
        penalized = (torch.tensor(top_scores) / (generated**s.length_penalty)).tolist()
        all_finished = len(item.finished) == s.num_beams
        if item.improvable and not (s.early_stopping and all_finished):
            new = [(penalized[k], item.running[parents[k]] + [tokens[k]]) for k in range(s.num_beams) if hits[k]]
            item.finished = sorted(item.finished + new, key=lambda c: -c[0])[: s.num_beams]
        # `_get_running_beams_for_next_iteration`: the best num_beams unfinished candidates run on
        running_scores = torch.tensor(top_scores) + torch.tensor(hits, dtype=torch.float32) * NEG
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

    def _processed(self, scores: torch.Tensor, generated_so_far: torch.Tensor) -> torch.Tensor:
        """The logits processors our decoding uses: bad words (newlines) and min_new_tokens (no EOS yet), per row
        (`generated_so_far`: each row's generated-token count)."""
        scores = scores.masked_fill(self.banned, float("-inf"))
        early = generated_so_far < self.settings.min_new_tokens
        scores[:, self.settings.eos_token_id] = scores[:, self.settings.eos_token_id].masked_fill(early, float("-inf"))
        return scores

    # --- the rows of the next step ---------------------------------------------------------------------------

    def _take(self, items: list[Item], rows: list[int], tokens: list[int]):
        """Keep `items`, their beams' rows taken from `rows` (the parents), fed `tokens`; drop unused columns.
        The kept cache is gathered once into new buffers with a spare column for the next step."""
        self.active = items
        if not items:
            self.keys, self.values, self.mask, self.positions, self.last_tokens = [], [], None, None, None
            return
        index = torch.tensor(rows, device=self.device)
        used = self.mask.shape[1]
        self.mask, self.positions = self.mask[index], self.positions[index]
        self.last_tokens = torch.tensor(tokens, device=self.device)
        columns = self.mask.any(dim=0).nonzero()
        first = int(columns[0]) if len(columns) else 0  # the padding of items that left
        self.mask = self.mask[:, first:]
        width = used - first

        def taken(buffer):
            out = buffer.new_empty(len(rows), buffer.shape[1], width + 1, buffer.shape[3])
            torch.index_select(buffer[:, :, first:used], 0, index, out=out[:, :, :width])
            return out

        self.keys = [taken(k) for k in self.keys]
        self.values = [taken(v) for v in self.values]


def _cache_over(keys: list[torch.Tensor], values: list[torch.Tensor], used: int) -> DynamicCache:
    """A DynamicCache over the engine's buffers as they are (no copy): `used` columns hold keys/values, the
    spare ones after them take the step's new keys/values in place (no concatenation)."""
    cache = DynamicCache()
    cache.layers = [_BufferLayer(k, v, used) for k, v in zip(keys, values)]
    return cache


class _BufferLayer(DynamicLayer):
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
