"""The paper's claims, tested on our runs: each claim is a difference between cells (e.g. prefix BLEU minus
fine-tune BLEU), its 95% interval from the paired bootstrap over test items and runs (`bootstrap.py`), and a
three-way verdict:
- `holds`: the whole interval lies on the paper's side of the threshold (0, or minus the margin of a claim
  such as "close to fine-tuning, within 2 BLEU");
- `contradicted`: the whole interval lies on the other side;
- `inconclusive`: the interval straddles it (this design cannot tell; its half-width says by how much a
  difference would have to exceed the threshold to be seen).
A claim whose cells have no runs yet, or runs without item statistics, is `not tested`.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from prefix_tuning.reporting.bootstrap import RunColumn, common_items, draw_values, interval

TASK_WORDS = ("table-to-text", "summarize")  # task-relevant init words (paper 7.4)
OTHER_WORDS = ("active", "elephant", "banana", "beautiful", "divide", "keep")
VERDICTS = ("holds", "contradicted", "inconclusive", "not tested")


@dataclass(frozen=True)
class Claim:
    claim: str  # the paper's statement as we test it, with the paper's numbers
    column: str  # the metric (paper units)
    cells: dict  # name -> the cell's key in the report's `ours`
    difference: Callable[[dict], np.ndarray]  # cell values (arrays) -> the difference tested
    formula: str  # the difference in words, e.g. "prefix - adapter 0.1%"
    expects: str = ">"  # the paper's side of `threshold`
    threshold: float = 0.0
    margin: float | None = None  # a claim with a tolerance ("close to", "within 2") states it


def verdict_of(low: float, high: float, expects: str, threshold: float) -> str:
    above, below = low > threshold, high < threshold
    if expects == ">":
        return "holds" if above else "contradicted" if below else "inconclusive"
    return "holds" if below else "contradicted" if above else "inconclusive"


def check(claim: Claim, ours) -> dict:
    """The claim's record: verdict, difference, ci, n_runs, n_items, half_width (and margin), with the cells."""
    cells = {name: ours.get(key, {}).get(claim.column) for name, key in claim.cells.items()}
    record = {"claim": claim.claim, "column": claim.column, "difference_of": claim.formula,
              "expects": f"{claim.expects} {claim.threshold:g}"}  # fmt: skip
    if claim.margin is not None:
        record["margin"] = claim.margin
    missing = sorted(name for name, cell in cells.items() if cell is None or not cell.n)
    if missing:
        return {**record, "verdict": "not tested", "detail": f"runs missing: {', '.join(missing)}"}
    record["n_runs"] = min(cell.n for cell in cells.values())
    record["cells"] = {name: {"mean": cell.mean, "std": cell.std, "n": cell.n} for name, cell in cells.items()}
    runs = {name: [RunColumn.from_item_stats(s, claim.column) for s in cell.item_stats] for name, cell in cells.items()}
    if any(run is None for columns in runs.values() for run in columns):
        return {**record, "verdict": "not tested", "detail": "runs without per-item statistics (recorded before them)"}
    ids = common_items(runs)
    point = float(claim.difference({name: np.float64(cell.mean) for name, cell in cells.items()}))
    low, high = interval(claim.difference(draw_values(runs, ids)))
    return {
        **record,
        "verdict": verdict_of(low, high, claim.expects, claim.threshold),
        "difference": point,
        "ci": [low, high],
        "half_width": (high - low) / 2,
        "n_items": len(ids),
        "detail": ", ".join(f"{name} {cell.mean:.1f} (n={cell.n})" for name, cell in cells.items()),
    }


def _pair(claim: str, column: str, a: tuple, b: tuple, formula: str, **kwargs) -> Claim:
    """A claim on `a - b`; the cells are named as the formula names them ("prefix - fine-tune")."""
    first, second = (part.strip() for part in formula.split(" - ", 1))
    return Claim(claim, column, {first: a, second: b}, lambda v: v[first] - v[second], formula, **kwargs)


def table2_claims(ours) -> list[Claim]:
    """ours[((size, row), task)][column] -> Cell."""
    row = {name: ("medium", name) for name in ("PREFIX (0.1%)", "ADAPTER (0.1%)", "FT-FULL")}
    prefix, adapter, finetune = row["PREFIX (0.1%)"], row["ADAPTER (0.1%)"], row["FT-FULL"]
    return [
        _pair("E2E: prefix >= adapter 0.1% (Table 2 BLEU: 70.3 vs 66.3)", "BLEU", (prefix, "e2e"),
              (adapter, "e2e"), "prefix - adapter 0.1%"),
        _pair("E2E: prefix close to fine-tuning, within 2 BLEU (Table 2: 70.3 vs 68.8)", "BLEU", (prefix, "e2e"),
              (finetune, "e2e"), "prefix - fine-tune", threshold=-2.0, margin=2.0),
        _pair("WebNLG: prefix >= adapter 0.1% (Table 2 BLEU A: 55.0 vs 50.2)", "BLEU A", (prefix, "webnlg"),
              (adapter, "webnlg"), "prefix - adapter 0.1%"),
        _pair("WebNLG: prefix close to fine-tuning, within 2 BLEU (Table 2 A: 55.0 vs 45.7)", "BLEU A",
              (prefix, "webnlg"), (finetune, "webnlg"), "prefix - fine-tune", threshold=-2.0, margin=2.0),
        _pair("WebNLG unseen categories: prefix beats fine-tuning (Table 2 U: 45.3 vs 26.7)", "BLEU U",
              (prefix, "webnlg"), (finetune, "webnlg"), "prefix - fine-tune"),
    ]  # fmt: skip


def table5_claims(ours) -> list[Claim]:
    cells = {
        label: (label, "e2e") for label in ("PREFIX", "EMB-1", "EMB-10", "EMB-20", "INFIX-1", "INFIX-10", "INFIX-20")
    }

    def best(v, kind):
        return np.maximum.reduce([v[f"{kind}-{length}"] for length in (1, 10, 20)])

    return [
        Claim("infix beats embedding-only (Table 5 BLEU: best INFIX 67.9 vs best EMB 62.2)", "BLEU", cells,
              lambda v: best(v, "INFIX") - best(v, "EMB"), "best INFIX - best EMB"),
        Claim("prefix beats infix (Table 5 BLEU: 70.3 vs best INFIX 67.9)", "BLEU", cells,
              lambda v: v["PREFIX"] - best(v, "INFIX"), "PREFIX - best INFIX"),
    ]  # fmt: skip


def fig3_claims(points) -> list[Claim]:
    """points[(task, series, x)][metric] -> Cell."""
    sizes = sorted(x for task, series, x in points if task == "e2e" and series == "prefix") or [50, 100, 200, 500]
    cells = {f"{series} {size}": ("e2e", series, size) for series in ("prefix", "finetune") for size in sizes}

    def gap(v, size):
        return v[f"prefix {size}"] - v[f"finetune {size}"]

    return [
        Claim("prefix beats fine-tuning at 50-500 E2E examples (Fig. 3: by 2.9 BLEU on average)", "BLEU", cells,
              lambda v: sum(gap(v, s) for s in sizes) / len(sizes), "mean over sizes of prefix - fine-tune"),
        Claim("the gap narrows as data grows (Fig. 3)", "BLEU", cells,
              lambda v: gap(v, sizes[0]) - gap(v, sizes[-1]), f"gap at {sizes[0]} - gap at {sizes[-1]}"),
    ]  # fmt: skip


def fig4_claims(points) -> list[Claim]:
    cell = {length: ("dart", "prefix", length) for length in (1, 10, 40)}
    return [
        _pair("DART: a longer prefix helps up to L=10 (Fig. 4)", "BLEU", cell[10], cell[1], "BLEU at L=10 - at L=1"),
        _pair("DART: beyond L=10 it dips slightly (Fig. 4)", "BLEU", cell[40], cell[10], "BLEU at L=40 - at L=10",
              expects="<"),
    ]  # fmt: skip


def fig5_claims(points) -> list[Claim]:
    """Each word against random init of its own L (a word's prefix has its token count as L)."""
    lengths = {x: cell.lengths for (task, _, x), metrics in points.items() for cell in metrics.values()}
    words = [w for w in (*TASK_WORDS, *OTHER_WORDS) if ("e2e", "prefix", w) in points]
    baseline = {w: f"random L={min(lengths[w])}" for w in words if lengths.get(w)}
    cells = {w: ("e2e", "prefix", w) for w in baseline} | {r: ("e2e", "prefix", r) for r in baseline.values()}

    def gains(v, chosen):
        return sum(v[w] - v[baseline[w]] for w in chosen) / len(chosen)

    task, other = [w for w in TASK_WORDS if w in baseline], [w for w in OTHER_WORDS if w in baseline]
    if not task or not other:  # runs missing: name the cells the claims need
        randoms = ("random L=1", "random L=6")  # the words' L here (configs/artifact/fig5.yaml)
        cells = {w: ("e2e", "prefix", w) for w in (*TASK_WORDS, *OTHER_WORDS, *randoms)}
        return [Claim("real-word init beats random init of the same L (Fig. 5)", "BLEU", cells, lambda v: v, ""),
                Claim("task words beat unrelated words (Fig. 5: slightly)", "BLEU", cells, lambda v: v, "")]  # fmt: skip
    return [
        Claim("real-word init beats random init of the same L (Fig. 5)", "BLEU", cells,
              lambda v: gains(v, [*task, *other]), "mean over words of (word - random init of its L)"),
        Claim("task words beat unrelated words (Fig. 5: slightly)", "BLEU", cells,
              lambda v: gains(v, task) - gains(v, other), "mean gain over random of task words - of unrelated words"),
    ]  # fmt: skip


CLAIMS = {
    "table2": table2_claims,
    "table5": table5_claims,
    "fig3": fig3_claims,
    "fig4": fig4_claims,
    "fig5": fig5_claims,
}


def check_claims(artifact: str, ours) -> list[dict]:
    return [check(claim, ours) for claim in CLAIMS[artifact](ours)] if artifact in CLAIMS else []
