"""What the beam engine adds to greedy and beam search for a server's requests: sampling (temperature, nucleus)
with each item's own seeded generator, and the model's log-probabilities of the chosen tokens with the top
alternatives (OpenAI's `logprobs`). Processors first, then temperature, then top-p, as `generate` orders them
(its TemperatureLogitsWarper and TopPLogitsWarper); the log-probabilities are the model's own, before any
processor or warper (a log-softmax of its logits)."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one item: temperature > 0, top_p in (0, 1], a seed (None: drawn at random)."""

    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None

    def generator(self) -> torch.Generator:
        generator = torch.Generator()
        if self.seed is None:
            generator.seed()
        else:
            generator.manual_seed(self.seed)
        return generator


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """`probs` [vocab] with everything outside the smallest set of tokens whose probability reaches `top_p` set to 0
    (TopPLogitsWarper: tokens sorted ascending, those whose cumulative probability is <= 1 - top_p dropped, the
    most likely one always kept)."""
    if top_p >= 1.0:
        return probs
    ascending, order = torch.sort(probs)
    dropped = torch.cumsum(ascending, 0) <= 1 - top_p
    dropped[-1] = False
    return probs.scatter(0, order, ascending.masked_fill(dropped, 0.0))


def sample(processed: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    """One token from a row of processed logits [vocab] (banned tokens at -inf)."""
    probs = torch.softmax(processed.float().cpu() / sampling.temperature, dim=-1)
    return int(torch.multinomial(nucleus(probs, sampling.top_p), 1, generator=generator))


@dataclass(frozen=True)
class TokenLogprob:
    """The model's log-probability of a chosen token and its `top` alternatives [(token, log-prob)], best first."""

    logprob: float
    top: tuple[tuple[int, float], ...] = ()


def logprob_entries(raw_log_probs: torch.Tensor, tokens: list[int], top: int) -> list[TokenLogprob]:
    """For each row of raw log-probs [rows, vocab] and the token chosen from it: its entry."""
    chosen = raw_log_probs.gather(1, torch.tensor(tokens, device=raw_log_probs.device)[:, None])[:, 0].tolist()
    if top <= 0:
        return [TokenLogprob(value) for value in chosen]
    values, ids = torch.topk(raw_log_probs, k=top, dim=1)
    return [
        TokenLogprob(value, tuple(zip(row_ids, row_values)))
        for value, row_ids, row_values in zip(chosen, ids.tolist(), values.tolist())
    ]
