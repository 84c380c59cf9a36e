"""Where a finished run belongs in an artifact's layout (row, column group or series, x) and its scores in
the paper's units. Runs of a reproduction sweep carry labels where their config alone cannot tell
(`reproduce.column`); any other sweep of the same experiments is placed from its config."""

from prefix_tuning.sweeps.sweep_runs import FinishedRun


def paper_units(task: str, scores: dict) -> dict[str, float]:
    """Our scores as the paper prints them: E2E BLEU/METEOR/ROUGE-L x100; WebNLG S/U/A; XSUM ROUGE x100 already."""
    if task == "e2e":
        scale = {
            "BLEU": ("BLEU", 100),
            "NIST": ("NIST", 1),
            "METEOR": ("METEOR", 100),
            "ROUGE_L": ("ROUGE-L", 100),
            "CIDEr": ("CIDEr", 1),
        }
        return {name: scores[key] * factor for key, (name, factor) in scale.items() if key in scores}
    if task == "webnlg":
        out = {}
        for metric, label in (("BLEU", "BLEU"), ("METEOR", "MET"), ("TER", "TER")):
            for suffix, split in (("_seen", "S"), ("_unseen", "U"), ("", "A")):
                if metric + suffix in scores:
                    out[f"{label} {split}"] = scores[metric + suffix]
        return out
    if task == "dart":
        names = {
            "BLEU": "BLEU",
            "METEOR": "MET",
            "TER": "TER",
            "MoverScore": "MoverScore",
            "BERTScore": "BERTScore",
            "BLEURT": "BLEURT",
        }
        return {name: scores[key] for key, name in names.items() if key in scores}
    return {
        {"ROUGE-1": "R-1", "ROUGE-2": "R-2", "ROUGE-L": "R-L"}[k]: v for k, v in scores.items() if k.startswith("ROUGE")
    }


def method_row(run: FinishedRun) -> str:
    """The paper's row name of a table-to-text / XSUM run's method."""
    method = run.get("method.name")
    if method == "adapter":
        return "ADAPTER (3%)" if float(run.get("method.size_percent") or 0) >= 1 else "ADAPTER (0.1%)"
    if method == "prefix":
        return "PREFIX (0.1%)"
    return {"finetune": "FT-FULL", "ft_top2": "FT-TOP2"}.get(method, method)


def table2_cell(run: FinishedRun) -> tuple:
    size = "large" if "large" in str(run.get("model.name")) else "medium"
    return (size, method_row(run)), run.get("task.name")


def table3_cell(run: FinishedRun) -> tuple:
    if run.get("method.name") == "finetune":
        return "FT-FULL", "xsum"
    return ("PREFIX (2%)" if run.summary.get("stored_percent", 0) >= 1 else "PREFIX (0.1%)"), "xsum"


def table4_cell(run: FinishedRun) -> tuple:
    split = run.get("reproduce.column") or run.get("task.loader_args.extrapolation") or "?"
    return (split, "FT-FULL" if run.get("method.name") == "finetune" else "PREFIX"), "xsum"


def table5_cell(run: FinishedRun) -> tuple:
    method, length = run.get("method.name"), run.summary.get("prefix_length")
    label = {"embedding_only": f"EMB-{length}", "infix": f"INFIX-{length}"}.get(method, "PREFIX")
    return label, "e2e"


def lowdata_point(run: FinishedRun) -> tuple:
    """(panel task, series method, x training-set size)."""
    return run.get("task.name"), run.get("method.name"), run.get("task.train_size")


def length_point(run: FinishedRun) -> tuple:
    return run.get("task.name"), "prefix", run.summary.get("prefix_length")


def init_point(run: FinishedRun) -> tuple:
    """(task, "prefix", the init's label): the words, or `random L=<L>` (random init is compared at each L)."""
    words = run.get("method.init_words")
    if run.get("method.init") == "random":
        return run.get("task.name"), "prefix", f"random L={run.summary.get('prefix_length')}"
    return run.get("task.name"), "prefix", str(words).rstrip(":")


TABLE_CELLS = {"table2": table2_cell, "table3": table3_cell, "table4": table4_cell, "table5": table5_cell}
FIGURE_POINTS = {"fig3": lowdata_point, "fig4": length_point, "fig5": init_point}
