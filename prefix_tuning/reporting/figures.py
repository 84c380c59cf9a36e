"""The paper's figures from our runs: one panel per (task, metric), ours with error bars over seeds/subsets.
The paper prints no numbers for its figures, so its claim is written on the figure instead of its curve."""

import textwrap
from pathlib import Path

# figure -> [(task, metric, x label, y label)]; Figure 7 and 8 are more metrics of the Figure 3 and 5 runs
PANELS = {
    "fig3": [("e2e", "BLEU", "training examples", "BLEU"), ("e2e", "ROUGE-L", "training examples", "ROUGE-L"),
             ("xsum", "R-1", "training examples", "ROUGE-1"), ("xsum", "R-2", "training examples", "ROUGE-2")],
    "fig7": [("e2e", "NIST", "training examples", "NIST"), ("e2e", "METEOR", "training examples", "METEOR"),
             ("e2e", "CIDEr", "training examples", "CIDEr"), ("xsum", "R-L", "training examples", "ROUGE-L")],
    "fig4": [("dart", "BLEU", "prefix length L", "BLEU"), ("dart", "TER", "prefix length L", "TER (lower is better)"),
             ("xsum", "R-2", "prefix length L", "ROUGE-2"), ("xsum", "R-L", "prefix length L", "ROUGE-L")],
    "fig5": [("e2e", "BLEU", "initialization", "BLEU")],
    "fig8": [("e2e", "NIST", "initialization", "NIST"), ("e2e", "METEOR", "initialization", "METEOR"),
             ("e2e", "ROUGE-L", "initialization", "ROUGE-L"), ("e2e", "CIDEr", "initialization", "CIDEr")],
}  # fmt: skip
EXTRA_FIGURES = {"fig3": "fig7", "fig5": "fig8"}
CATEGORICAL = {"fig5", "fig8"}


def plot(figure: str, points: dict, claim: str, path: Path) -> Path | None:
    """Write `path` (.png) with one panel per (task, metric) that has runs; None when none has."""
    panels = [p for p in PANELS[figure] if any(t == p[0] and p[1] in m for (t, _, _), m in points.items())]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), dpi=120, squeeze=False)
    for ax, (task, metric, xlabel, ylabel) in zip(axes[0], panels):
        series = sorted({s for (t, s, _) in points if t == task})
        for name in series:
            cells = {x: m[metric] for (t, s, x), m in points.items() if t == task and s == name and metric in m}
            xs = list(cells) if figure in CATEGORICAL else sorted(cells)
            if figure in CATEGORICAL:
                xs = sorted(xs, key=lambda x: (not str(x).startswith("random"), x))
                positions = range(len(xs))
                bars = ax.bar(positions, [cells[x].mean for x in xs], yerr=[cells[x].std or 0 for x in xs], capsize=3)
                ax.bar_label(bars, fmt="%.3g", fontsize=7)  # bars start at 0: the values show small differences
                ax.set_xticks(list(positions), xs, rotation=45, ha="right")
            else:
                ax.errorbar(xs, [cells[x].mean for x in xs], yerr=[cells[x].std or 0 for x in xs], marker="o",
                            capsize=3, label=f"ours: {name}")  # fmt: skip
                if figure in ("fig3", "fig7"):
                    ax.set_xscale("log")
                    ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_title(f"{task.upper()} {ylabel}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if figure not in CATEGORICAL:
            ax.legend(fontsize=8)
    title = textwrap.fill(f"{figure} (ours; the paper's claim: {claim})", width=60 * len(panels))
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
