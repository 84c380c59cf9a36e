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
An item's prefix + prompt cache is kept once and read by all its beams, and its beams' generated columns sit
side by side, each row masked to its own ancestry (`beam_tree_cache`, `beam_tree_attention`): reordering beams
moves masks, not keys and values. Positions are per row, as in `PrefixLM`.

For a server's requests an item may also sample instead of taking the argmax (greedy engines only: its own
temperature, top-p and seeded generator, so sampled and greedy rows share one batch), keep the model's
log-probabilities of its chosen tokens with the top alternatives, and return its n best beams
(`token_choice.py`).
"""

from dataclasses import dataclass, field

import torch

from prefix_tuning.core.lm_head import lm_logits
from prefix_tuning.generation.beam_tree_attention import BeamTree, beam_tree
from prefix_tuning.generation.beam_tree_cache import BeamTreeCache
from prefix_tuning.generation.token_choice import Sampling, logprob_entries, sample
from prefix_tuning.prefix.causal import prefixed_inputs
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
    sampling: Sampling | None = None  # sample its tokens (greedy engines only) instead of taking the argmax
    logprobs: int | None = None  # keep its chosen tokens' log-probs and this many alternatives (None: none)
    returns: int = 1  # beam search: how many of the best hypotheses `results` holds
    results: list | None = None  # [(tokens, [TokenLogprob] or None)], best first; results[0][0] is `result`
    # beam state (per item, as `_beam_search` keeps it per batch row)
    generated: int = 0
    running: list = field(default_factory=list)  # [beams] token lists (generated tokens only)
    running_scores: torch.Tensor | None = None  # [beams]
    running_logprobs: list = field(default_factory=list)  # [beams] lists of TokenLogprob (when kept)
    finished: list = field(default_factory=list)  # [(score, tokens, log-probs)] best first, at most num_beams
    improvable: bool = True  # `is_early_stop_heuristic_unsatisfied`
    generator: torch.Generator | None = None


class BeamEngine:
    """Decodes items with `settings` on `rows_budget` cache rows (items x beams), refilled as items finish."""

    def __init__(self, lm, settings: SearchSettings, rows_budget: int):
        self.lm, self.settings = lm, settings
        self.beams = settings.num_beams
        self.slots = max(1, rows_budget // self.beams)
        self.waiting: list[Item] = []
        self.active: list[Item] = []
        # every active item's prefix + prompt and its beams' histories, item i in slot i (made at the first admission)
        self.tree: BeamTreeCache | None = None
        self.positions = None  # [rows]: the position of each row's next token
        self.last_tokens = None  # [rows]
        self.device = next(lm.parameters()).device
        vocab = lm.get_output_embeddings().weight.shape[0]
        # [rows, vocab] scratch for the step's logits and log-probs, kept across steps: two fresh 30 MB tensors a
        # step (at 160 rows) cost more in first-touch page faults than the softmax itself
        self.scratch = torch.empty(2, self.slots * self.beams, vocab, device=self.device)
        self.vocab = vocab
        self.banned = torch.tensor(sorted(set(settings.banned_token_ids)), dtype=torch.long, device=self.device)

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
            tokens = self.last_tokens.view(len(self.active), self.beams)[keep].tolist()
            self._take(keep, [list(range(self.beams))] * len(keep), tokens)

    # --- admitting items: prompts arriving together prefilled in one batch, each shared by its beams ------

    def _admit(self) -> list[Item]:
        done = []
        arriving = self.waiting[: self.slots - len(self.active)]
        self.waiting = self.waiting[len(arriving) :]
        positions, tokens = [], []
        for item, prefilled in self._prefilled(arriving):
            if isinstance(prefilled, Exception):  # a bad prompt fails its item only; its slot waits a step
                item.error = prefilled
                done.append(item)
                continue
            logits, keys, values = prefilled
            item.running = [[] for _ in range(self.beams)]
            item.running_logprobs = [[] for _ in range(self.beams)]
            item.generator = item.sampling.generator() if item.sampling is not None else None
            item.running_scores = torch.full((self.beams,), NEG)  # the beam bookkeeping stays on the CPU
            item.running_scores[0] = 0.0  # only the first beam's continuations count at the first step
            (choice,) = self._choices([item], logits.expand(self.beams, -1))
            finished, _, chosen = self._advance_item(item, *choice)
            if finished:
                done.append(item)
                continue
            if self.tree is None:
                _, kv_heads, _, head_dim = keys[0].shape
                self.tree = BeamTreeCache(
                    len(keys), kv_heads, head_dim, self.slots, self.beams, keys[0].dtype, self.device
                )  # fmt: skip
            self.tree.admit(len(self.active), keys, values)
            self.active.append(item)
            positions += [keys[0].shape[2]] * self.beams  # the next token's position: L + prompt length
            tokens += chosen
        if tokens:
            new = (torch.tensor(positions, device=self.device), torch.tensor(tokens, device=self.device))
            old = (self.positions, self.last_tokens)
            self.positions, self.last_tokens = (
                torch.cat(pair) if pair[0] is not None else pair[1] for pair in zip(old, new)
            )
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
        logits = lm_logits(self.lm, out.last_hidden_state[:, -1])
        layers = [(layer.keys, layer.values) for layer in out.cache.layers]
        results, width = [], length + ids.shape[1]
        for row, item in enumerate(items):
            start = width - len(item.prompt)  # the row's first prompt column; padding lies between it and the prefix
            own = torch.cat([torch.arange(length), torch.arange(start, width)]).to(self.device)
            keys = [k[row : row + 1].index_select(2, own) for k, _ in layers]
            values = [v[row : row + 1].index_select(2, own) for _, v in layers]
            results.append((logits[row : row + 1], keys, values))
        return results

    def _forward(self) -> torch.Tensor:
        """One token per row through the LM: each row attends to its input's prefix + prompt and its own beam's
        history in the beam tree cache (`beam_tree_attention`), where the layers also write the step's keys/values."""
        cache, bias = self.tree.step(len(self.active))
        with beam_tree(self.lm, BeamTree(self.tree.keys, self.tree.values, bias, self.beams)):
            out = self.lm.base_model(
                input_ids=self.last_tokens.unsqueeze(1), position_ids=self.positions.unsqueeze(1), cache=cache,
                use_cache=True,
            )  # fmt: skip
        self.positions = self.positions + 1
        return self._logits(out.last_hidden_state[:, -1])

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The LM head on [rows, hidden], into the logits scratch (`core.lm_head`: blocks of the vocabulary)."""
        return lm_logits(self.lm, hidden, out=self.scratch[0, : hidden.shape[0]])

    def _advance(self, logits: torch.Tensor) -> list[Item]:
        done, keep, parents, tokens = [], [], [], []
        for index, (item, choice) in enumerate(zip(self.active, self._choices(self.active, logits))):
            finished, item_parents, chosen = self._advance_item(item, *choice)
            if finished:
                done.append(item)
            else:
                keep.append(index)
                parents.append(item_parents)
                tokens.append(chosen)
        self._take(keep, parents, tokens)
        return done

    def _choices(self, items: list[Item], logits: torch.Tensor) -> list[tuple]:
        """Every item's candidates from its beams' logits (rows item-major), computed for all items at once:
        `_beam_search`'s log-softmax, processors, running-score sum and top 2 x beams over beams x vocab
        (greedy: the argmax of the processed logits, or a sample for an item that samples). Per item: (candidate
        scores, flat beam x vocab indices, the raw log-probs it keeps: greedy its token's entry, beams [beams, vocab])."""
        s = self.settings
        so_far = torch.tensor([item.generated for item in items], device=logits.device)
        kept = [k for k, item in enumerate(items) if item.logprobs is not None]
        if s.num_beams == 1:  # `_sample`, with or without sampling
            raw = torch.log_softmax(logits[kept].float(), dim=-1) if kept else None  # before the in-place processors
            processed = self._processed(logits, so_far)
            tokens = processed.argmax(dim=-1).tolist()
            for k, item in enumerate(items):
                if item.sampling is not None:
                    tokens[k] = sample(processed[k], item.sampling, item.generator)
            top = max((items[k].logprobs for k in kept), default=0)
            entries = dict(zip(kept, logprob_entries(raw, [tokens[k] for k in kept], top))) if kept else {}
            return [([0.0], [token], entries.get(k)) for k, token in enumerate(tokens)]
        log_probs = torch.log_softmax(logits, dim=-1, out=self.scratch[1, : logits.shape[0]])
        raw = {k: log_probs.view(len(items), self.beams, -1)[k].clone() for k in kept}
        log_probs = self._processed(log_probs, so_far.repeat_interleave(self.beams))
        running = torch.stack([item.running_scores for item in items]).to(logits.device)
        accumulated = log_probs.view(len(items), self.beams, -1).add_(running[:, :, None]).view(len(items), -1)
        scores, indices = torch.topk(accumulated, k=2 * s.num_beams, dim=1)
        return [(*pair, raw.get(k)) for k, pair in enumerate(zip(scores.cpu().tolist(), indices.cpu().tolist()))]

    def _advance_item(self, item: Item, top_scores: list[float], top_indices: list[int], kept=None):
        """One `_beam_search` iteration (or greedy step) for one item, from its candidates (`_choices`).
        Returns (its result is final, the parent beam of each next beam, each next beam's token)."""
        s = self.settings
        generated = item.generated + 1  # counting the token chosen now
        item.generated = generated
        if s.num_beams == 1:
            token = top_indices[0]
            item.running[0].append(token)
            item.running_logprobs[0].append(kept)
            if token == s.eos_token_id or generated >= s.max_new_tokens:
                self._finish(item, [(0.0, item.running[0], item.running_logprobs[0])])
                return True, [], []
            return False, [0], [token]
        vocab = self.vocab
        parents, tokens = [i // vocab for i in top_indices], [i % vocab for i in top_indices]
        entries = logprob_entries(kept[parents], tokens, item.logprobs) if kept is not None else [None] * len(tokens)
        hits = [generated >= s.max_new_tokens or token == s.eos_token_id for token in tokens]
        # `_update_finished_beams`: finished candidates among the first num_beams join the kept hypotheses
        penalized = (torch.tensor(top_scores) / (generated**s.length_penalty)).tolist()
        all_finished = len(item.finished) == s.num_beams
        if item.improvable and not (s.early_stopping and all_finished):
            new = [(penalized[k], item.running[parents[k]] + [tokens[k]], item.running_logprobs[parents[k]] + [entries[k]])
                   for k in range(s.num_beams) if hits[k]]  # fmt: skip
            item.finished = sorted(item.finished + new, key=lambda c: -c[0])[: s.num_beams]
        # `_get_running_beams_for_next_iteration`: the best num_beams unfinished candidates run on
        running_scores = torch.tensor(top_scores) + torch.tensor(hits, dtype=torch.float32) * NEG
        chosen = torch.topk(running_scores, k=s.num_beams).indices.tolist()
        item.running = [item.running[parents[c]] + [tokens[c]] for c in chosen]
        item.running_logprobs = [item.running_logprobs[parents[c]] + [entries[c]] for c in chosen]
        item.running_scores = running_scores[chosen]
        # `_check_early_stop_heuristic` and `_beam_search_has_unfinished_sequences`, for this item alone
        all_finished = len(item.finished) == s.num_beams
        if all_finished:
            best_possible = float(item.running_scores[0]) / (generated**s.length_penalty)
            item.improvable = item.improvable and best_possible > min(score for score, *_ in item.finished)
        if not item.improvable or (s.early_stopping and all_finished) or all(hits):
            running = [(float(score), tokens, lps) for score, tokens, lps in
                       zip(item.running_scores, item.running, item.running_logprobs)]  # fmt: skip
            self._finish(item, item.finished + running[: max(0, item.returns - len(item.finished))])
            return True, [], []
        return False, [parents[c] for c in chosen], [tokens[c] for c in chosen]

    @staticmethod
    def _finish(item: Item, hypotheses: list):
        """The item's answer: its best hypothesis (`result`) and its `returns` best (`results`), best first."""
        item.results = [(tokens, lps if item.logprobs is not None else None) for _, tokens, lps in hypotheses]
        item.results = item.results[: item.returns]
        item.result = item.results[0][0]

    def _processed(self, scores: torch.Tensor, generated_so_far: torch.Tensor) -> torch.Tensor:
        """The logits processors our decoding uses, in place: bad words (newlines) and min_new_tokens (no EOS yet),
        per row (`generated_so_far`: each row's generated-token count)."""
        scores = scores.index_fill_(1, self.banned, float("-inf"))  # the same as a [vocab] mask, a few columns' cost
        early = generated_so_far < self.settings.min_new_tokens
        scores[:, self.settings.eos_token_id] = scores[:, self.settings.eos_token_id].masked_fill(early, float("-inf"))
        return scores

    # --- the rows of the next step ---------------------------------------------------------------------------

    def _take(self, keep: list[int], parents: list[list[int]], tokens: list[list[int]]):
        """Keep the active items at indices `keep` (ascending), each beam continuing the history of its parent beam
        (`parents`, per kept item) fed its token (`tokens`). The kept items close ranks: slots [0, kept) stay
        filled, an item past them moving into the slot of one that left."""
        had, beams = len(self.active), self.beams
        if not keep:
            self.active, self.positions, self.last_tokens = [], None, None
            return
        rows = list(range(had * beams))
        for index, item_parents in zip(keep, parents):
            rows[index * beams : (index + 1) * beams] = [index * beams + parent for parent in item_parents]
        self.tree.reorder(torch.tensor(rows, device=self.device))
        count, kept = len(keep), set(keep)
        holes = [slot for slot in range(count) if slot not in kept]
        movers = [slot for slot in keep if slot >= count]
        self.tree.move(holes, movers)
        moved = dict(zip(holes, movers))
        sources = [moved.get(slot, slot) for slot in range(count)]  # each new slot's item's old slot
        tokens_of = dict(zip(keep, tokens))
        self.active = [self.active[source] for source in sources]
        self.positions = self.positions.view(had, beams)[sources].flatten()
        self.last_tokens = torch.tensor([t for source in sources for t in tokens_of[source]], device=self.device)
