"""Plots people would rather look at than read: the training loss curve of a run."""

import json
from pathlib import Path


def plot_loss(run_dir: Path) -> Path | None:
    """`run_dir/loss.png` from `run_dir/log.jsonl`; None when there is nothing to plot."""
    log = Path(run_dir) / "log.jsonl"
    if not log.is_file():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    key = "train/loss_per_token"
    rows = [r for r in rows if key in r]
    if len(rows) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="o", markersize=3)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss per target token")
    ax.set_title(Path(run_dir).name)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(run_dir) / "loss.png"
    fig.savefig(path)
    plt.close(fig)
    return path
