"""The report of one paper artifact from a sweep folder: the paper's layout with the paper's number beside
ours in every cell (mean ± std over seeds and subsets, with n; a cell with a run that reached its step cap
before a dev-loss plateau is marked †), the stored parameter %, a caption (profile, models, data sizes, protocol,
deviations, wall time, command), the learning rates chosen on dev, the claims with their difference, 95%
interval and verdict, and for figures a .png. Writes <results>/<artifact>.{md,tex,json}; reading finished
runs only, it touches no model."""

import json
from collections import defaultdict
from pathlib import Path

from prefix_tuning.errors import UserError
from prefix_tuning.reporting import paper_numbers as paper
from prefix_tuning.reporting.bootstrap import DRAWS
from prefix_tuning.reporting.cells import FIGURE_POINTS, TABLE_CELLS, paper_units
from prefix_tuning.reporting.claims import check_claims
from prefix_tuning.reporting.figures import EXTRA_FIGURES, PANELS, plot
from prefix_tuning.reporting.stats import Cell, digits_for
from prefix_tuning.sweeps.grids import Plan, check_artifact, deviations, plan
from prefix_tuning.sweeps.run_records import keep_records, records_dir
from prefix_tuning.sweeps.sweep_runs import FinishedRun, finished_runs, sweep_record

# table artifact -> (rows in the paper's order, column groups [(group, title, columns)], paper lookup)
TABLE_LAYOUTS = {
    "table2": (list(paper.TABLE2), [("e2e", "E2E", paper.E2E_COLUMNS), ("webnlg", "WebNLG", paper.WEBNLG_COLUMNS),
                                    ("dart", "DART", paper.DART_COLUMNS)], lambda row, group: paper.TABLE2[row][group]),
    "table3": (list(paper.TABLE3), [("xsum", "XSUM", paper.XSUM_COLUMNS)], lambda row, group: paper.TABLE3[row]),
    "table4": (list(paper.TABLE4), [("xsum", "XSUM", paper.XSUM_COLUMNS)], lambda row, group: paper.TABLE4[row]),
    "table5": (list(paper.TABLE5), [("e2e", "E2E", paper.E2E_COLUMNS)], lambda row, group: paper.TABLE5[row]),
}  # fmt: skip


def row_title(row) -> str:
    return " ".join(row) if isinstance(row, tuple) else str(row)


def collect(artifact: str, runs: list[FinishedRun], base: Path):
    """Table: {(row, group): {column: Cell}}; figure: {(task, series, x): {column: Cell}}; plus stored % per key
    and the keys with a run that had not converged. Each value names its run folder relative to `base`."""
    place = TABLE_CELLS.get(artifact) or FIGURE_POINTS[artifact]
    ours, stored, unconverged = defaultdict(dict), defaultdict(Cell), set()
    for run in runs:
        if not run.scores:
            continue
        folder = str(run.folder.relative_to(base))
        key = place(run)
        if artifact in TABLE_CELLS:
            key = (key[0], key[1])
        task = key[1] if artifact in TABLE_CELLS else key[0]
        item_stats, length = run.summary["eval"].get("item_stats"), run.summary.get("prefix_length")
        for column, value in paper_units(task, run.scores).items():
            ours[key].setdefault(column, Cell()).add(value, folder, item_stats, length)
        stored[key].add(run.summary.get("stored_percent", float("nan")), folder)
        if run.summary.get("converged") is False:
            unconverged.add(key)
    return ours, stored, unconverged


def reproduction_plan(runs: list[FinishedRun], records: Path, profile: str, artifact: str) -> Plan | None:
    """The reproduction's plan given its recorded runs (None for a user sweep)."""
    if profile not in ("paper", "cpu", "smoke"):
        return None
    return plan(artifact, profile, {str(run.folder.relative_to(records)): run.summary for run in runs})


def profile_of(runs: list[FinishedRun], record: dict) -> str:
    profiles = sorted({str(run.get("reproduce.profile", "")) for run in runs} - {""}) or [
        record.get("profile", "user sweep")
    ]
    return profiles[0] if len(profiles) == 1 else "+".join(profiles)


def caption(artifact: str, runs: list[FinishedRun], record: dict, sweep_dir: Path, current: Plan | None) -> dict:
    profile = profile_of(runs, record)
    expected = {run.name for run in current.runs} if current else set()
    counted = {run.name for run in current.counted} if current else set()
    evaluated = [run for run in runs if "eval" in run.summary]
    # a search trial decodes no test set; the chosen one is pending until it has (sweeps/grids.py)
    done = {name for run in runs if (name := str(run.get("reproduce.run"))) not in counted or "eval" in run.summary}
    seconds = sum(sum(run.summary.get("timings", {}).values()) for run in runs)
    return {
        "profile": profile,
        "models": sorted({str(run.get("model.name")) for run in runs}),
        "train_pairs": sorted({run.summary.get("train_pairs") for run in runs}),
        "test_items": sorted({run.summary["eval"].get("items") for run in evaluated} - {None}),
        "protocol": sorted({run.summary["eval"].get("protocol", "?") for run in evaluated}),
        "deviations": deviations(artifact, profile) if profile in ("paper", "cpu", "smoke") else ["a user sweep"],
        "runs": len(runs),
        "pending": sorted(expected - done)
        + [f"{cell} (waits for its learning-rate choice)" for cell in (current.waiting if current else [])],
        "wall_hours": seconds / 3600,
        "code": sorted({str(run.summary.get("code", "unknown")) for run in runs}),
        "command": record.get("command", f"python -m prefix_tuning.report {artifact} {sweep_dir}"),
    }


PAPER_MODELS = {"gpt2-medium", "gpt2-large", "bart-large"}


def table_markdown(artifact: str, ours, stored, models=(), unconverged=()) -> tuple[list[str], list[str], list[dict]]:
    """(markdown lines, tex lines, json cells) in the paper's layout: `ours / paper` per cell. When `models` (ours)
    are not the paper's, each table says so: our numbers sit in the rows named after the paper's models."""
    rows, groups, paper_of = TABLE_LAYOUTS[artifact]
    md, tex, cells = [], [], []
    others = sorted(set(models) - PAPER_MODELS)
    where = f"; ours ran on {', '.join(others)}, in the rows of the paper's model" if others else ""
    for group, title, columns in groups:
        md += [f"**{title}** (each cell: ours / paper{where})", "",
               "| row | " + " | ".join(columns) + " | n | stored % |", "|---|" + "---:|" * (len(columns) + 2)]  # fmt: skip
        tex += [f"% {title}", r"\begin{tabular}{l" + "r" * (len(columns) + 2) + "}", r"\toprule",
                "row & " + " & ".join(columns) + r" & $n$ & stored \% \\", r"\midrule"]  # fmt: skip
        for row in rows:
            ours_row, reference = ours.get((row, group), {}), paper_of(row, group)
            texts, n = [], 0
            for column in columns:
                cell, theirs = ours_row.get(column, Cell()), reference.get(column)
                n = max(n, cell.n)
                texts.append(
                    f"{cell.text(digits_for(theirs if theirs is not None else cell.mean))} / {'—' if theirs is None else theirs:g}"
                )
                cells.append(
                    {"row": row_title(row), "group": group, "column": column, "paper": theirs, "ours": cell.to_json()}
                )
            percent = stored.get((row, group), Cell())
            mark = " †" if (row, group) in unconverged else ""
            md.append(f"| {row_title(row)}{mark} | " + " | ".join(texts) + f" | {n} | {percent.text(3)} |")
            tex.append(f"{row_title(row)} & " + " & ".join(t.replace('±', r'$\pm$') for t in texts)
                       + f" & {n} & {percent.text(3)} " + r"\\")  # fmt: skip
        md.append("")
        tex += [r"\bottomrule", r"\end{tabular}", ""]
    return md, tex, cells


def figure_markdown(points, unconverged=()) -> tuple[list[str], list[dict]]:
    md = [
        "| task | series | x | " + " | ".join(["metric", "ours (mean ± std)", "n"]) + " |",
        "|---|---|---|---|---:|---:|",
    ]
    cells = []
    for (task, series, x), metrics in sorted(points.items(), key=lambda item: tuple(str(k) for k in item[0])):
        for column, cell in metrics.items():
            mark = " †" if (task, series, x) in unconverged else ""
            md.append(f"| {task} | {series} | {x}{mark} | {column} | {cell.text(digits_for(cell.mean))} | {cell.n} |")
            cells.append({"task": task, "series": series, "x": x, "column": column, "ours": cell.to_json()})
    return md + [""], cells


def write_report(artifact: str, sweep_dir: Path, results_dir: Path) -> list[Path]:
    """Write the artifact's report files; returns their paths. The sweep's finished runs are first kept as
    records under <results>/runs/<artifact>, and the report reads every record there (sweeps/run_records.py)."""
    check_artifact(artifact)
    records = records_dir(results_dir, artifact)
    keep_records([run.folder for run in finished_runs(sweep_dir)], Path(sweep_dir), records)  # + the sweep's record
    runs = finished_runs(records) if records.is_dir() else []
    if not runs:
        raise UserError(f"no finished runs (config.yaml + summary.json) under {sweep_dir} or {records}")
    current = reproduction_plan(runs, records, profile_of(runs, sweep_record(records)), artifact)
    info = caption(artifact, runs, sweep_record(records), Path(sweep_dir), current)
    if current is not None:  # the cells read the runs at the learning rates chosen on dev only
        counted = {run.name for run in current.counted}
        runs = [run for run in runs if str(run.folder.relative_to(records)) in counted]
    ours, stored, unconverged = collect(artifact, runs, Path(results_dir))
    claims = check_claims(artifact, ours)
    head = [f"# {artifact} ({info['profile']} profile)", "", caption_text(artifact, info), ""]
    if artifact in TABLE_LAYOUTS:
        md, tex, cells = table_markdown(artifact, ours, stored, info["models"], unconverged)
    else:
        md, cells = figure_markdown(ours, unconverged)
        tex = [r"% figure data: see the .json and .md"]
    if unconverged:
        md += [
            "† a run of this cell reached its step cap before a dev-loss plateau (`converged: false`: its dev loss had "
            "not gone `train.patience` evaluations without improving).",
            "",
        ]
    md += lr_markdown(current) + claims_markdown(claims)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    written, images = [], []
    for figure in [artifact, EXTRA_FIGURES.get(artifact)] if artifact in PANELS else []:
        if figure and (png := plot(figure, ours, paper.CLAIMS.get(artifact, ""), results_dir / f"{figure}.png")):
            images.append(f"![{figure}]({png.name})\n")  # below the caption, above the data table
            written.append(png)
    files = {"md": "\n".join(head + images + md), "tex": "\n".join([f"% {caption_text(artifact, info)}"] + tex)}
    for suffix, text in files.items():
        (results_dir / f"{artifact}.{suffix}").write_text(text + "\n", encoding="utf-8")
        written.append(results_dir / f"{artifact}.{suffix}")
    record = {
        "artifact": artifact,
        "caption": info,
        "claims": claims,
        "learning_rates": [group.to_json() for group in current.groups] if current else [],
        "cells": cells,
        "sweep_dir": str(sweep_dir),
        "records": str(records.relative_to(results_dir)),
    }
    (results_dir / f"{artifact}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return [results_dir / f"{artifact}.json", *written]


def lr_markdown(current: Plan | None) -> list[str]:
    """The learning rates chosen on dev: each search's anchor cell, every rate's best dev loss, the choice."""
    if not current or not current.groups:
        return []
    lines = ["## Learning rates chosen on dev", "",
             "Each group's rate is the one whose run of the anchor cell (first replicate) reached the lowest dev loss "
             "(per target token); every cell of the group then runs at it. Test scores play no part. A choice at "
             "the lowest or highest rate searched is marked: the best rate may lie outside the search.", "",
             "| anchor cell | cells | lr: best dev loss | chosen |", "|---|---|---|---|"]  # fmt: skip
    for group in current.groups:
        losses = ", ".join(f"{lr:g}: {group.dev_losses[lr]:.4f}" if lr in group.dev_losses else f"{lr:g}: pending"
                           for lr in group.lrs)  # fmt: skip
        chosen = f"{group.chosen:g}" if group.chosen is not None else "pending"
        if group.edge:
            chosen += f" ({group.edge} rate searched)"
        lines.append(f"| {group.anchor} | {', '.join(group.cells)} | {losses} | {chosen} |")
    return lines + [""]


def claim_line(claim: dict) -> str:
    """`claim: **verdict**: difference +1.2 [95% CI -0.4, +2.9] ...` (or why it was not tested)."""
    if claim["verdict"] == "not tested":
        return f"- {claim['claim']}: **not tested** ({claim['detail']})"
    low, high = claim["ci"]
    margin = f"; margin {claim['margin']:g}" if "margin" in claim else ""
    return (
        f"- {claim['claim']}: **{claim['verdict']}**: {claim['difference_of']} = {claim['difference']:+.2f} "
        f"[95% CI {low:+.2f}, {high:+.2f}] (the paper's side: {claim['expects']}{margin}; smallest difference this "
        f"design detects: ±{claim['half_width']:.2f}; {claim['n_items']} test items, n_runs {claim['n_runs']}). "
        f"Cells: {claim['detail']}."
    )


def print_claims(report_json: Path) -> None:
    """Each claim of a written report: its difference, 95% interval and verdict."""
    for claim in json.loads(Path(report_json).read_text())["claims"]:
        print(claim_line(claim))


def claims_markdown(claims: list[dict]) -> list[str]:
    if not claims:
        return []
    return [
        "## Claims",
        "",
        "Each claim is a difference of cells with its 95% interval from a paired bootstrap over the test items "
        f"(and over the runs of a cell with several), {DRAWS} draws: **holds** when the whole interval lies on the "
        "paper's side of the threshold, **contradicted** when it lies on the other side, **inconclusive** otherwise.",
        "",
        *(claim_line(claim) for claim in claims),
        "",
    ]


def caption_text(artifact: str, info: dict) -> str:
    parts = [
        f"Profile {info['profile']}; model(s) {', '.join(info['models'])}; training pairs per run {info['train_pairs']}; "
        f"test items per run {info['test_items']}; scoring protocol {', '.join(info['protocol'])}; "
        f"{info['runs']} runs, {info['wall_hours']:.2f} h of run time in all; code {', '.join(info['code'])}.",
        "Deviations from the paper: " + ("; ".join(info["deviations"]) or "none") + ".",
        f"Command: `{info['command']}`.",
    ]
    if info["pending"]:
        parts.append(
            f"Pending ({len(info['pending'])} runs not finished): {', '.join(info['pending'][:6])}"
            + (" ..." if len(info["pending"]) > 6 else "")
            + "."
        )
    return " ".join(parts)
