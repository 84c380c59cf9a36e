"""Per-item statistics (scoring/item_stats.py): summed over every item once, each kind gives the score the
task's scorer reports on the full set; the claims' bootstrap resamples these statistics, so this is what
makes its intervals intervals of the reported metric. Real outputs: the official-score fixtures."""

import gzip

import numpy as np
import pytest

from prefix_tuning.paths import data_file
from prefix_tuning.scoring.item_stats import column_value
from prefix_tuning.scoring.text_files import read_lines
from prefix_tuning.tasks import registry
from prefix_tuning.tasks.dart import data as dart_data
from prefix_tuning.tasks.e2e.data import load_eval as e2e_eval
from prefix_tuning.tasks.webnlg import data as webnlg_data
from prefix_tuning.tasks.xsum.data import load_eval as xsum_eval

pytestmark = pytest.mark.needs_data("e2e", "webnlg2017", "dart", "xsum", "eval_fixtures")


def full_set(item_stats: dict, column: str) -> float:
    entry = item_stats["columns"][column]
    rows = np.asarray(entry["rows"], dtype=np.float64)
    return float(column_value(entry["kind"], rows, np.ones(len(rows))))


@pytest.mark.parametrize("protocol", ["paper", "challenge"])
def test_e2e_bleu_statistics_give_the_scorers_bleu(protocol):
    hypotheses = read_lines(data_file("eval_fixtures", "e2e", "tgen-std.run0.test-orig.txt"))
    items = e2e_eval("test")
    reported = registry.score("e2e", hypotheses, items, protocol, java=False)["BLEU"]
    stats = registry.item_stats("e2e", hypotheses, items, protocol)
    assert full_set(stats, "BLEU") == pytest.approx(100 * reported, abs=1e-9)
    assert 60 < full_set(stats, "BLEU") < 70 and len(stats["ids"]) == 630


def test_e2e_bleu_statistics_hold_for_empty_and_short_outputs():
    """The port's floors (an output shorter than 4 tokens, an empty one) are in the vectorized formula too."""
    items = e2e_eval("test")[:5]
    hypotheses = ["", "The", "Blue Spice is", "a b c d e f", "The Eagle is a cheap coffee shop ."]
    reported = registry.score("e2e", hypotheses, items, "paper", java=False)["BLEU"]
    assert full_set(registry.item_stats("e2e", hypotheses, items, "paper"), "BLEU") == pytest.approx(100 * reported)


def test_webnlg_bleu_statistics_give_the_all_seen_and_unseen_columns():
    hypotheses = read_lines(data_file("eval_fixtures", "webnlg2017", "bart-large_webnlg-all.txt"))
    items = webnlg_data.load_eval("test")
    reported = registry.score("webnlg", hypotheses, items, "paper", java=False)
    stats = registry.item_stats("webnlg", hypotheses, items, "paper")
    for column, key in (("BLEU A", "BLEU"), ("BLEU S", "BLEU_seen"), ("BLEU U", "BLEU_unseen")):
        assert full_set(stats, column) == pytest.approx(reported[key], abs=1e-9), column
    assert len(stats["columns"]["BLEU U"]["items"]) == 891  # the unseen entries, by position


def test_dart_bleu_statistics_give_the_scorers_bleu():
    hypotheses = read_lines(data_file("eval_fixtures", "dart", "bart-large_dart.txt"))
    items = dart_data.load_eval("test")
    reported = registry.score("dart", hypotheses, items, "paper", java=False)["BLEU"]
    assert full_set(registry.item_stats("dart", hypotheses, items, "paper"), "BLEU") == pytest.approx(
        reported, abs=1e-9
    )


def test_xsum_rouge_statistics_give_the_mean_the_bootstrap_mid_is_taken_from():
    """rouge-score reports the median of 1,000 resampled means ("mid"); the per-item mean is within its jitter."""
    items = xsum_eval("test_human50")
    with gzip.open(data_file("xsum", "model-predictions", "convs2s-test-output.txt.gz"), "rt", encoding="utf-8") as f:
        hypotheses = [line.strip() for line in f][:50]  # any 50 summaries: a low, realistic score
    reported = registry.score("xsum", hypotheses, items, "paper")
    stats = registry.item_stats("xsum", hypotheses, items, "paper")
    for column, key in (("R-1", "ROUGE-1"), ("R-2", "ROUGE-2"), ("R-L", "ROUGE-L")):
        assert full_set(stats, column) == pytest.approx(reported[key], abs=0.3), column


def test_resampled_statistics_rescore_the_resampled_outputs():
    """Drawing items twice or not at all, the weighted statistics equal scoring that resample from scratch."""
    hypotheses = read_lines(data_file("eval_fixtures", "e2e", "tgen-std.run0.test-orig.txt"))[:60]
    items = e2e_eval("test")[:60]
    draw = np.random.default_rng(3).integers(0, 60, size=60)
    resampled = registry.score("e2e", [hypotheses[k] for k in draw], [items[k] for k in draw], "paper", java=False)
    stats = registry.item_stats("e2e", hypotheses, items, "paper")["columns"]["BLEU"]
    weights = np.bincount(draw, minlength=60).astype(np.float64)
    assert column_value("mteval_bleu", np.asarray(stats["rows"], float), weights) == pytest.approx(
        100 * resampled["BLEU"]
    )
