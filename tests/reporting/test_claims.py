"""Claims with their uncertainty (reporting/claims.py, bootstrap.py): synthetic runs whose answer is known (a
clear win, a clear loss, an overlap, a margin), the one-level interval against scipy's bootstrap, seeds
widening the interval, and the cells each paper claim reads."""

import numpy as np
import pytest
from scipy import stats

from prefix_tuning.reporting.bootstrap import RunColumn, draw_values, interval
from prefix_tuning.reporting.claims import Claim, check, fig5_claims, table2_claims
from prefix_tuning.reporting.stats import Cell

ITEMS = 200


def run_stats(scores, ids=None) -> dict:
    """A run's item statistics for a per-item score column ("mean" kind)."""
    ids = list(range(len(scores))) if ids is None else ids
    return {"ids": ids, "columns": {"BLEU": {"kind": "mean", "items": None, "rows": [[float(s)] for s in scores]}}}


def cell(*runs, length=None) -> Cell:
    out = Cell()
    for k, scores in enumerate(runs):
        out.add(float(np.mean(scores)), f"run{k}", run_stats(scores), length)
    return out


def pair_claim(**kwargs) -> Claim:
    return Claim("a beats b", "BLEU", {"a": "A", "b": "B"}, lambda v: v["a"] - v["b"], "a - b", **kwargs)


@pytest.fixture
def item_scores():
    rng = np.random.default_rng(0)
    difficulty = rng.normal(50, 15, ITEMS)  # items differ a lot; the systems' difference is what pairs cancel
    return lambda shift, noise=2.0, seed=1: difficulty + shift + np.random.default_rng(seed).normal(0, noise, ITEMS)


@pytest.mark.parametrize(
    ("shift", "verdict"), [(3.0, "holds"), (-3.0, "contradicted"), (0.0, "inconclusive")]
)  # fmt: skip
def test_verdict_follows_where_the_interval_lies(item_scores, shift, verdict):
    ours = {"A": {"BLEU": cell(item_scores(shift, seed=1))}, "B": {"BLEU": cell(item_scores(0.0, seed=2))}}
    record = check(pair_claim(), ours)
    assert record["verdict"] == verdict
    low, high = record["ci"]
    assert low < record["difference"] < high and record["half_width"] == pytest.approx((high - low) / 2)
    assert (record["n_runs"], record["n_items"]) == (1, ITEMS)
    assert abs(record["difference"] - shift) < 1.0


def test_pairing_sees_a_difference_that_unpaired_noise_would_hide(item_scores):
    """A 1-point gain on items whose scores spread by 15: visible only because both systems see the same draw."""
    ours = {
        "A": {"BLEU": cell(item_scores(1.0, noise=0.5, seed=1))},
        "B": {"BLEU": cell(item_scores(0.0, noise=0.5, seed=2))},
    }
    assert check(pair_claim(), ours)["verdict"] == "holds"


@pytest.mark.parametrize(("shift", "verdict"), [(-1.0, "holds"), (-5.0, "contradicted"), (-2.0, "inconclusive")])
def test_a_claim_with_a_margin_tests_against_the_margin(item_scores, shift, verdict):
    """ "a close to b, within 2": holds when a - b is surely above -2, contradicted when surely below."""
    ours = {
        "A": {"BLEU": cell(item_scores(shift, noise=0.5, seed=1))},
        "B": {"BLEU": cell(item_scores(0.0, noise=0.5, seed=2))},
    }
    record = check(pair_claim(threshold=-2.0, margin=2.0), ours)
    assert record["verdict"] == verdict and record["margin"] == 2.0 and record["expects"] == "> -2"


def test_a_claim_that_expects_a_drop(item_scores):
    ours = {"A": {"BLEU": cell(item_scores(-3.0, seed=1))}, "B": {"BLEU": cell(item_scores(0.0, seed=2))}}
    assert check(pair_claim(expects="<"), ours)["verdict"] == "holds"
    assert check(pair_claim(expects=">"), ours)["verdict"] == "contradicted"


def test_one_level_interval_matches_scipys_paired_bootstrap(item_scores):
    a, b = item_scores(1.0, seed=1), item_scores(0.0, seed=2)
    runs = {
        "a": [RunColumn.from_item_stats(run_stats(a), "BLEU")],
        "b": [RunColumn.from_item_stats(run_stats(b), "BLEU")],
    }
    values = draw_values(runs, list(range(ITEMS)), draws=20000)
    ours = interval(values["a"] - values["b"])
    reference = stats.bootstrap((a, b), lambda x, y: np.mean(x) - np.mean(y), paired=True, n_resamples=20000,
                                method="percentile", random_state=1).confidence_interval  # fmt: skip
    assert ours == pytest.approx((reference.low, reference.high), abs=0.03)


def test_runs_of_a_cell_widen_the_interval_by_their_spread(item_scores):
    """Three seeds that disagree by several points: the two-level interval is wider than one run's."""
    seeds = [item_scores(offset, seed=s) for offset, s in ((0.0, 1), (4.0, 3), (-4.0, 4))]
    steady = [item_scores(0.0, seed=s) for s in (1, 3, 4)]
    b = cell(item_scores(0.0, seed=2))
    spread = check(pair_claim(), {"A": {"BLEU": cell(*seeds)}, "B": {"BLEU": b}})
    calm = check(pair_claim(), {"A": {"BLEU": cell(*steady)}, "B": {"BLEU": b}})
    assert spread["n_runs"] == 1 and spread["cells"]["a"]["n"] == 3
    assert spread["half_width"] > 2 * calm["half_width"]


def test_missing_runs_and_missing_statistics_are_not_tested(item_scores):
    assert check(pair_claim(), {"A": {"BLEU": cell(item_scores(1.0))}})["verdict"] == "not tested"
    old = Cell()
    old.add(60.0, "old-run", None)  # a run recorded before item statistics existed
    record = check(pair_claim(), {"A": {"BLEU": old}, "B": {"BLEU": cell(item_scores(0.0))}})
    assert record["verdict"] == "not tested" and "per-item statistics" in record["detail"]


def test_only_the_items_every_run_scored_are_paired():
    a = cell()
    a.add(50.0, "a", run_stats([50.0, 60.0, 70.0], ids=[1, 2, 3]))
    b = cell()
    b.add(40.0, "b", run_stats([40.0, 45.0, 50.0], ids=[2, 3, 4]))
    assert check(pair_claim(), {"A": {"BLEU": a}, "B": {"BLEU": b}})["n_items"] == 2


def test_table2_claims_read_the_papers_cells_with_their_margins():
    claims = table2_claims({})
    assert [c.column for c in claims] == ["BLEU", "BLEU", "BLEU A", "BLEU A", "BLEU U"]
    assert [c.margin for c in claims] == [None, 2.0, None, 2.0, None]
    assert claims[4].cells == {
        "prefix": (("medium", "PREFIX (0.1%)"), "webnlg"),
        "fine-tune": (("medium", "FT-FULL"), "webnlg"),
    }


def test_fig5_compares_each_word_with_random_init_of_its_own_length(item_scores):
    """table-to-text (L=6) against random L=6, the one-token words against random L=1."""
    points = {("e2e", "prefix", w): {"BLEU": cell(item_scores(0.0, seed=k), length=1)}
              for k, w in enumerate(["active", "elephant", "summarize", "banana", "beautiful", "divide", "keep"])}  # fmt: skip
    points[("e2e", "prefix", "table-to-text")] = {"BLEU": cell(item_scores(10.0, seed=20), length=6)}
    points[("e2e", "prefix", "random L=1")] = {"BLEU": cell(item_scores(0.0, seed=21), length=1)}
    points[("e2e", "prefix", "random L=6")] = {"BLEU": cell(item_scores(10.0, seed=22), length=6)}
    beats_random, task_words = (check(claim, points) for claim in fig5_claims(points))
    assert beats_random["verdict"] == "inconclusive"  # every word equals random init of its own L
    assert abs(beats_random["difference"]) < 1.0
    points[("e2e", "prefix", "random L=6")] = {"BLEU": cell(item_scores(0.0, seed=22), length=6)}
    assert check(fig5_claims(points)[1], points)["verdict"] == "holds"  # table-to-text now gains 10 over its random
