"""ROUGE-1/2/L F1 as the paper reports it: Google's `rouge-score`, Porter stemming, bootstrap mid.

This is the scorer of the Hugging Face seq2seq examples the original code was built on, not the
official ROUGE-1.5.5 Perl script; on the XSUM ConvS2S outputs the two differ by up to 0.3 points.
"""

from collections.abc import Sequence

import numpy as np
from rouge_score import rouge_scorer, scoring

ROUGE_TYPES = {"ROUGE-1": "rouge1", "ROUGE-2": "rouge2", "ROUGE-L": "rougeL"}

# BootstrapAggregator draws from NumPy's global generator; a fixed seed makes the "mid" value
# (the median of the bootstrap means, not the plain mean) the same on every run.
BOOTSTRAP_SEED = 0


def _pair_scores(hypotheses: Sequence[str], references: Sequence[str]) -> list[dict]:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES.values()), use_stemmer=True)
    return [scorer.score(reference, hypothesis) for hypothesis, reference in zip(hypotheses, references)]


def item_f1(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """ROUGE-1/2/L F1 x 100 of each hypothesis against its reference."""
    pairs = _pair_scores(hypotheses, references)
    return {name: [100 * scores[key].fmeasure for scores in pairs] for name, key in ROUGE_TYPES.items()}


def rouge_f1(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus ROUGE-1/2/L F1 x 100 (bootstrap mid over per-pair scores), one reference per hypothesis."""
    aggregator = scoring.BootstrapAggregator()
    for scores in _pair_scores(hypotheses, references):
        aggregator.add_scores(scores)
    saved_state = np.random.get_state()
    np.random.seed(BOOTSTRAP_SEED)
    try:
        result = aggregator.aggregate()
    finally:
        np.random.set_state(saved_state)
    return {name: float(100 * result[key].mid.fmeasure) for name, key in ROUGE_TYPES.items()}
