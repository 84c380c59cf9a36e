"""The 95% interval of a claim's difference, from a paired two-level bootstrap over test items and runs.

Each draw resamples the test items once (with replacement) and scores every run of every cell on that same
draw (paired: a hard item is hard for both systems), from the per-item sufficient statistics each run
recorded (`scoring/item_stats.py`: n-gram counts, per-item scores), never by running the official scorers
again. Within a cell that has several runs (seeds, subsets), the draw also resamples the runs, so the
interval carries both sources of noise. The claim's difference is computed per draw; the interval is the
2.5th and 97.5th percentiles of those differences.

Why not a library's: sacrebleu's paired bootstrap compares two systems on one level with sacrebleu's own
metrics (not E2E's mteval BLEU, not several seeds per cell), and `scipy.stats.bootstrap` resamples one level;
the single-level case of this function is checked against `scipy.stats.bootstrap` in the tests.
"""

from dataclasses import dataclass

import numpy as np

from prefix_tuning.scoring.item_stats import column_value

DRAWS = 2000
SEED = 0  # the same draws on every rebuild of a report


@dataclass(frozen=True)
class RunColumn:
    """One run's statistics for one metric column: the ids of its items (positions in the split) and a row
    of sufficient statistics per item."""

    kind: str
    ids: tuple[int, ...]
    rows: np.ndarray

    @classmethod
    def from_item_stats(cls, item_stats: dict, column: str) -> "RunColumn | None":
        entry = (item_stats or {}).get("columns", {}).get(column)
        if entry is None:
            return None
        ids = item_stats["ids"]
        positions = entry["items"] if entry["items"] is not None else range(len(ids))
        return cls(entry["kind"], tuple(ids[k] for k in positions), np.asarray(entry["rows"], dtype=np.float64))

    def aligned(self, ids: list[int]) -> np.ndarray:
        """Its rows in the order of `ids` (each must be one of its items)."""
        where = {item: k for k, item in enumerate(self.ids)}
        return self.rows[[where[item] for item in ids]]


def common_items(cells: dict[str, list[RunColumn]]) -> list[int]:
    """The items every run of every cell scored (the pairing needs the same items for all)."""
    sets = [set(run.ids) for runs in cells.values() for run in runs]
    return sorted(set.intersection(*sets)) if sets else []


def full_set_values(cells: dict[str, list[RunColumn]], ids: list[int]) -> dict[str, float]:
    """Each cell's metric on the full item set, averaged over its runs (what the bootstrap resamples)."""
    ones = np.ones(len(ids))
    return {
        name: float(np.mean([column_value(run.kind, run.aligned(ids), ones) for run in runs]))
        for name, runs in cells.items()
    }


def draw_values(
    cells: dict[str, list[RunColumn]], ids: list[int], draws: int = DRAWS, seed: int = SEED
) -> dict[str, np.ndarray]:
    """Per cell, its metric under each of `draws` paired resamples of items (and of its runs): [draws] each."""
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=draws).astype(np.float64)
    out = {}
    for name, runs in cells.items():
        per_run = np.stack([column_value(run.kind, run.aligned(ids), weights) for run in runs])  # [runs, draws]
        chosen = rng.integers(0, len(runs), size=(draws, len(runs)))  # runs resampled within the cell
        out[name] = per_run[chosen, np.arange(draws)[:, None]].mean(axis=1)
    return out


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the bootstrap samples."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)
