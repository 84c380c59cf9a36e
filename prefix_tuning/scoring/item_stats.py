"""Per-item sufficient statistics of the metrics claims are tested on, so that a bootstrap can rescore any
resample of the test items (sum the rows it drew, apply the metric's formula) without running the official
scorers again.

A run's statistics (`summary.json` -> eval.item_stats):
    {"ids": [position of each scored item in its split],
     "columns": {"BLEU": {"kind": "mteval_bleu", "items": null, "rows": [[...], ...]}, ...}}
A column is named as the report prints it (paper units); `items` are its rows' positions in `ids` (null:
every item; WebNLG's "BLEU U" holds the unseen ones). Kinds:
- `mteval_bleu`: E2E's BLEU (the challenge script's mteval-v13a port, `scoring/mteval.py`) x 100; a row is
  [matches 1-4, n-grams 1-4, closest reference length].
- `multi_bleu`: multi-bleu.perl's BLEU (WebNLG, DART; `scoring/multi_bleu.py`, through sacrebleu); a row is
  sacrebleu's [output length, reference length, matches 1-4, n-grams 1-4].
- `mean`: the mean of a per-item score (XSUM's ROUGE F1 x 100; the reported value is rouge-score's bootstrap
  "mid", which lies within a few hundredths of the mean).
With every item drawn once, each kind gives the reported corpus score (tests/scoring/test_item_stats.py).
"""

from collections.abc import Sequence

import numpy as np

from prefix_tuning.scoring import mteval

BLEU_ORDER = 4


def mteval_bleu_rows(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[list[int]]:
    """E2E BLEU's statistics per item: clipped matches and n-gram counts for n = 1..4, and the length of the
    reference closest to the output (the shorter on a tie), as `mteval.corpus_bleu` sums them."""
    rows = []
    for hyp, refs in mteval.tokenized(list(hypotheses), [list(r) for r in references]):
        hits = [sum(mteval.clipped_matches(hyp, refs, n).values()) for n in range(1, BLEU_ORDER + 1)]
        counts = [len(hyp) - n + 1 for n in range(1, BLEU_ORDER + 1)]
        closest = min((len(ref) for ref in refs), key=lambda length: (abs(length - len(hyp)), length))
        rows.append([*hits, *counts, closest])
    return rows


def mteval_bleu(sums: np.ndarray) -> np.ndarray:
    """BLEU x 100 from summed `mteval_bleu_rows` (any leading shape), with the port's floors."""
    hits, counts, reference = sums[..., :BLEU_ORDER], sums[..., BLEU_ORDER : 2 * BLEU_ORDER], sums[..., -1]
    hypothesis = counts[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        short = hypothesis <= reference
        ratio = reference / np.where(hypothesis == 0, mteval.BLEU_EMPTY_LENGTH, hypothesis)
        brevity = np.where(short, np.exp(1.0 - ratio), 1.0)
        log_precision = np.log(
            np.maximum(hits, mteval.BLEU_TINY_HITS) / np.maximum(counts, mteval.BLEU_SMALL_COUNT)
        ).sum(-1)
    return 100 * brevity * np.exp(log_precision / BLEU_ORDER)


def multi_bleu_rows(hypotheses: Sequence[str], reference_streams: Sequence[Sequence[str]], lowercase: bool):
    """multi-bleu.perl BLEU's statistics per output, as sacrebleu extracts them for its own resampling tests."""
    from prefix_tuning.scoring.multi_bleu import multi_bleu_metric, perl_words

    hyps = [perl_words(h, lowercase) for h in hypotheses]
    refs = [[perl_words(r, lowercase) for r in stream] for stream in reference_streams]
    return [[int(v) for v in row] for row in multi_bleu_metric()._extract_corpus_statistics(hyps, refs)]


def multi_bleu(sums: np.ndarray) -> np.ndarray:
    """BLEU (0-100) from summed `multi_bleu_rows`: sacrebleu's `compute_bleu` with no smoothing, vectorized
    (any n-gram order without a match, or without an n-gram, gives 0)."""
    output, reference = sums[..., 0], sums[..., 1]
    correct, total = sums[..., 2 : 2 + BLEU_ORDER], sums[..., 2 + BLEU_ORDER : 2 + 2 * BLEU_ORDER]
    with np.errstate(divide="ignore", invalid="ignore"):
        brevity = np.where(output < reference, np.where(output > 0, np.exp(1 - reference / output), 0.0), 1.0)
        defined = (correct > 0).all(-1) & (total > 0).all(-1)
        log_precision = np.log(np.where(defined[..., None], correct / np.where(total > 0, total, 1), 1.0)).mean(-1)
    return np.where(defined, 100 * brevity * np.exp(log_precision), 0.0)


KINDS = {"mteval_bleu": mteval_bleu, "multi_bleu": multi_bleu}  # `mean` divides by the items drawn


def column_value(kind: str, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The metric on weighted items: `weights` [..., items] counts how often each item was drawn (all ones:
    the full set); returns one value per leading index."""
    sums = weights @ rows
    if kind == "mean":
        return sums[..., 0] / weights.sum(-1)
    return KINDS[kind](sums)


def column(kind: str, rows: Sequence[Sequence[float]], items: Sequence[int] | None = None) -> dict:
    return {"kind": kind, "items": None if items is None else list(items), "rows": [list(r) for r in rows]}


def item_ids(items) -> list[int]:
    """Each evaluation item's position in its split (what pairs the items of two runs)."""
    return [int(item.meta.get("index", k)) for k, item in enumerate(items)]
