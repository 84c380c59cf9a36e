"""Optional model-based metrics of the DART evaluation: MoverScore, BERTScore, BLEURT.

They need their packages and pretrained weights (downloaded from a model hub at first use), so they
are only attempted when asked for. One that cannot run is reported with its reason and left out of
the scores: never a placeholder number. As in DART's run_eval_on_dart.sh: BERTScore (F1, `--lang
en`) takes every reference of an item and keeps the best; MoverScore and BLEURT use the first
reference only; each reports the mean over items.
"""

import os
from collections.abc import Callable, Sequence
from statistics import mean

from prefix_tuning.errors import UserError


def _bertscore(hypotheses, references):
    from bert_score import score

    _, _, f1 = score(list(hypotheses), [list(refs) for refs in references], lang="en")
    return f1.mean().item()


def _moverscore(hypotheses, references):
    from moverscore_v2 import get_idf_dict, word_mover_score

    firsts = [refs[0] for refs in references]
    idf_refs, idf_hyps = get_idf_dict(firsts), get_idf_dict(hypotheses)
    return mean(
        word_mover_score(firsts, list(hypotheses), idf_refs, idf_hyps, stop_words=[], n_gram=1, remove_subwords=True)
    )


def _bleurt(hypotheses, references):
    from bleurt.score import BleurtScorer

    checkpoint = os.environ.get("BLEURT_CHECKPOINT")
    if not checkpoint:
        raise RuntimeError("set BLEURT_CHECKPOINT to a downloaded BLEURT checkpoint folder")
    return mean(
        BleurtScorer(checkpoint).score(references=[refs[0] for refs in references], candidates=list(hypotheses))
    )


_SCORERS: dict[str, tuple[str, Callable]] = {
    "MoverScore": ("moverscore_v2", _moverscore),
    "BERTScore": ("bert_score", _bertscore),
    "BLEURT": ("bleurt", _bleurt),
}
OPTIONAL_METRICS = tuple(_SCORERS)


def check_metric_names(names: Sequence[str]) -> None:
    """A UserError for a name that is not an optional metric (checked before any scoring starts)."""
    unknown = [name for name in names if name not in _SCORERS]
    if unknown:
        raise UserError(f"unknown optional metric {unknown[0]!r}; choose from {', '.join(OPTIONAL_METRICS)}")


class Scores(dict):
    """Metric name -> value in print order; `not_computed` maps a requested metric that did not run
    to the reason (the score table prints it, the JSON leaves it out)."""

    def __init__(self, values=(), not_computed=None):
        super().__init__(values)
        self.not_computed = dict(not_computed or {})


def add_model_based_scores(
    scores: Scores, names: Sequence[str], hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> Scores:
    """Attempt the requested optional metrics: each adds its score, or its reason to `scores.not_computed`."""
    check_metric_names(names)
    for name in names:
        package, scorer = _SCORERS[name]
        try:
            scores[name] = scorer(hypotheses, references)
        except ImportError as err:
            scores.not_computed[name] = (
                f"cannot import {package} ({err}); it also needs pretrained weights from a model hub"
            )
        except Exception as err:  # missing weights, no network: report, never fake a number
            scores.not_computed[name] = f"{type(err).__name__}: {(str(err).splitlines() or ['failed'])[0]}"
    return scores
