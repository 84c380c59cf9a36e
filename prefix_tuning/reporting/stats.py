"""Aggregating runs: mean ± sample standard deviation over seeds and subsets, with n and the run folders, and
each run's per-item statistics for the claims' bootstrap."""

import statistics
from dataclasses import dataclass, field


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    item_stats: list[dict | None] = field(default_factory=list)  # each run's eval.item_stats (scoring/item_stats.py)
    lengths: set = field(default_factory=set)  # the prefix lengths of its runs

    def add(self, value: float, run: str, item_stats: dict | None = None, length: int | None = None):
        self.values.append(float(value))
        self.runs.append(run)
        self.item_stats.append(item_stats)
        if length is not None:
            self.lengths.add(length)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else None

    def text(self, digits: int) -> str:
        """`57.49` (one run) or `57.49 ± 1.23` (several); `—` for none."""
        if not self.values:
            return "—"
        return f"{self.mean:.{digits}f}" + (f" ± {self.std:.{digits}f}" if self.std is not None else "")

    def to_json(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": self.values, "runs": self.runs}


def digits_for(value: float | None) -> int:
    """The paper's precision: 2 decimals for values under 10 (NIST, CIDEr, METEOR .46), else 1 (BLEU 70.3)."""
    return 2 if value is not None and abs(value) < 10 else 1
