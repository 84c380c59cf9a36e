"""Each artifact's runs under a profile, read from configs: `configs/artifact/<artifact>.yaml` (the paper's cells,
the cells its claims read, replicates, learning-rate search groups) and `configs/profile/<profile>.yaml` (how the
profile scales each kind of cell, and the deviations each scaling makes).

A run is a name (its folder in the sweep) and the Hydra overrides that make it, on top of configs/train.yaml:
the cell's overrides, the profile's, the scaling of the cell's kind, then its learning rate and replicate.
A profile that searches learning rates runs in two stages: first the anchor cell of each search group with
every learning rate of the group (first replicate); once those have finished, the rate with the lowest dev
loss is the group's choice (`lr_choice`), and every cell of the group runs with it (all replicates for the
cells a claim reads). Trials decode no test set; the trial at the chosen rate, which is also that cell's first
replicate, is launched again to decode it from its saved weights. `plan()` takes the runs finished so far and
says what to run, what counts and what waits.
Runs a claim reads come first (`Run.for_claims`): the searches of groups holding a claimed cell, then those cells'
runs at the choice, and only then the other cells, so a sweep cut short has evidence rather than a little of
everything. The order changes no run's settings or numbers.
"""

import itertools
import math
from dataclasses import dataclass, field, replace
from functools import cache

from omegaconf import OmegaConf

from prefix_tuning.errors import UserError
from prefix_tuning.paths import CONFIG_DIR
from prefix_tuning.sweeps.profiles import PROFILES

ARTIFACTS = ("table2", "table3", "table4", "table5", "fig3", "fig4", "fig5")


@dataclass(frozen=True)
class Run:
    name: str  # the run's folder inside the sweep directory
    overrides: tuple[str, ...]
    cell: str = ""
    lr: float | None = None  # a searched learning rate (None: the cell's own)
    for_claims: bool = False  # a claimed cell's run, or a search deciding a claimed cell's rate: runs first


@dataclass
class SearchGroup:
    """Cells sharing one learning-rate choice, made on the anchor cell's dev loss."""

    anchor: str
    cells: list[str]
    lrs: list[float]
    dev_losses: dict[float, float] = field(default_factory=dict)  # lr -> best dev loss of the anchor's run
    chosen: float | None = None

    @property
    def edge(self) -> str | None:
        """`lowest` or `highest` when the choice is an end of the searched rates (the best rate may lie beyond)."""
        if self.chosen is None or len(self.lrs) < 2:
            return None
        return {min(self.lrs): "lowest", max(self.lrs): "highest"}.get(self.chosen)

    def to_json(self) -> dict:
        return {"anchor": self.anchor, "cells": self.cells, "lrs": self.lrs,
                "dev_losses": {f"{lr:g}": loss for lr, loss in self.dev_losses.items()}, "chosen": self.chosen,
                "chosen_at_edge": self.edge}  # fmt: skip


@dataclass
class Plan:
    runs: list[Run]  # what to run now (finished ones are skipped by the sweep)
    counted: list[Run]  # the runs the report reads (at the chosen learning rates)
    groups: list[SearchGroup]  # learning-rate searches, with their choice once made
    waiting: list[str]  # cells whose runs wait for a choice


def claimed_cells(artifact: str) -> set[str]:
    """The cells an artifact's claims read (configs/artifact/<artifact>.yaml `claims`)."""
    return set(artifact_config(artifact).get("claims", []))


def check_artifact(artifact: str) -> str:
    if artifact not in ARTIFACTS:
        raise UserError(f"unknown artifact {artifact!r}; choose one of {', '.join(ARTIFACTS)}")
    return artifact


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return profile


@cache
def artifact_config(artifact: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "artifact" / f"{check_artifact(artifact)}.yaml"))


@cache
def profile_config(profile: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "profile" / f"{check_profile(profile)}.yaml"))


def _cells(artifact: str, profile: str) -> dict[str, dict]:
    spec = artifact_config(artifact)
    return {**spec["cells"], **(spec.get("paper_only", {}) if profile == "paper" else {})}


def _cell_overrides(artifact: str, profile: str, cell: str) -> list[str]:
    spec, prof = artifact_config(artifact), profile_config(profile)
    kind = _cells(artifact, profile)[cell]["scale"]
    scale = prof["scales"].get(kind, {}) if prof["scales"] else {}
    extra = spec.get("cell_overrides", {}).get(profile, {}).get(cell, [])
    return [*_cells(artifact, profile)[cell]["overrides"], *prof["overrides"], *scale.get("overrides", []), *extra]


def replicates(artifact: str, profile: str) -> list[list[str]]:
    """The overrides of each replicate (seed, subset) a claimed cell runs with, in order; [[]]: one run."""
    axes = artifact_config(artifact)["replicates"].get(profile) or {}
    return [[f"{key}={value}" for key, value in zip(axes, values)] for values in itertools.product(*axes.values())]


def _run(artifact: str, profile: str, cell: str, lr: float | None, replicate: list[str]) -> Run:
    name = ",".join([cell, *([f"lr={lr:g}"] if lr is not None else []), *replicate])
    overrides = [
        *_cell_overrides(artifact, profile, cell),
        *([f"train.lr={lr:g}"] if lr is not None else []),
        *replicate,
    ]
    tags = (f"+reproduce.artifact={artifact}", f"+reproduce.profile={profile}")
    return Run(name, (*overrides, *tags), cell, lr)


def _without_test(run: Run) -> Run:
    """A search trial trains and reports its dev loss only: decoding the test set is left to the trial at the rate
    chosen, which the next stage launches again with `eval.after_training` on (it evaluates its saved weights
    without training again: pipeline.evaluate_trained_run). Table 2 has 30 trials that are never chosen."""
    return replace(run, overrides=(*run.overrides, "eval.after_training=false"))


def search_groups(artifact: str, profile: str) -> list[SearchGroup]:
    """The learning-rate searches of an artifact under a profile that searches ([] otherwise)."""
    if not profile_config(profile)["lr_search"]:
        return []
    searches = artifact_config(artifact)["lr_search"]
    return [SearchGroup(anchor, list(spec.get("cells", [anchor])), [float(lr) for lr in spec["lrs"]])
            for anchor, spec in searches.items()]  # fmt: skip


def lr_choice(group: SearchGroup, dev_loss_of) -> None:
    """Fill in the anchor's dev losses and, once every rate has one, the choice: the lowest best dev loss (a run
    that diverged, NaN, never wins; ties go to the smaller rate). `dev_loss_of(lr)` -> loss or None (unfinished)."""
    losses = {lr: dev_loss_of(lr) for lr in group.lrs}
    group.dev_losses = {lr: loss for lr, loss in losses.items() if loss is not None}
    if len(group.dev_losses) == len(group.lrs):
        finite = {lr: loss for lr, loss in group.dev_losses.items() if math.isfinite(loss)}
        group.chosen = min(sorted(finite), key=finite.get) if finite else None


def plan(artifact: str, profile: str, finished: dict[str, dict] | None = None) -> Plan:
    """The runs of an artifact under a profile, given the summaries of the runs finished so far (by name)."""
    finished = finished or {}
    cells = _cells(artifact, profile)
    claimed = claimed_cells(artifact)
    every = replicates(artifact, profile)
    replicated = profile_config(profile)["replicate"] == "all"

    def runs_of(cell: str, lr: float | None) -> list[Run]:
        chosen = every if replicated or cell in claimed else every[:1]
        return [
            replace(_run(artifact, profile, cell, lr, replicate), for_claims=cell in claimed) for replicate in chosen
        ]

    groups = search_groups(artifact, profile)
    runs, counted, waiting = [], [], []
    searched = {cell for group in groups for cell in group.cells}
    for cell in cells:
        if cell not in searched:
            counted += runs_of(cell, None)
    for group in groups:
        decides_claims = bool(claimed.intersection(group.cells))
        trials = {lr: replace(_run(artifact, profile, group.anchor, lr, every[0]), for_claims=decides_claims)
                  for lr in group.lrs}  # fmt: skip
        runs += [_without_test(trial) for trial in trials.values()]  # the chosen one decodes it in the next stage

        def dev_loss_of(lr: float, trials=trials) -> float | None:
            summary = finished.get(trials[lr].name)
            return None if summary is None else float(summary.get("best_dev_loss", math.nan))

        lr_choice(group, dev_loss_of)
        if group.chosen is None:
            waiting += group.cells
            continue
        counted += [run for cell in group.cells for run in runs_of(cell, group.chosen)]
    runs += counted  # an anchor's run at the choice is also its trial: launched again, to decode its test set
    runs.sort(key=lambda run: not run.for_claims)  # stable: the claims' runs first, each part in its order
    return Plan(runs, counted, groups, waiting)


def grid(artifact: str, profile: str, finished: dict[str, dict] | None = None) -> list[Run]:
    """What a sweep of the artifact runs now (see `plan`)."""
    return plan(artifact, profile, finished).runs


def cells_of_kind(artifact: str, profile: str) -> set[str]:
    return {spec["scale"] for spec in _cells(artifact, profile).values()}


def deviations(artifact: str, profile: str) -> list[str]:
    """Every way the profile departs from the paper for this artifact: the profile's own, its scalings of the
    artifact's kinds of cells, and the artifact's."""
    prof, spec = profile_config(check_profile(profile)), artifact_config(artifact)
    scales = prof["scales"] or {}
    kinds = [kind for kind in scales if kind in cells_of_kind(artifact, profile)]
    return [
        *prof["deviations"].get("all", []),
        *(text for kind in kinds for text in scales[kind].get("deviations", [])),
        *spec.get("deviations", {}).get(profile, []),
    ]


@dataclass(frozen=True)
class RunCounts:
    search: int  # learning-rate search trials
    at_choice: int  # runs at the chosen rates (or the cells' own), not counting the trial that is also one
    claims: int = 0  # of those, the runs a claim reads or that choose a claimed cell's rate (Run.for_claims)

    @property
    def total(self) -> int:
        return self.search + self.at_choice


def run_counts(artifact: str, profile: str) -> dict[str, RunCounts]:
    """How many runs each cell of an artifact's grid has under a profile, known before any learning rate is
    chosen (the compute plan): an anchor's trials, then the cell's replicates at its rate, the anchor's first
    replicate at the choice being its trial."""
    groups = search_groups(artifact, profile)
    claimed = claimed_cells(artifact)
    every = len(replicates(artifact, profile))
    replicated = profile_config(profile)["replicate"] == "all"
    counts = {}
    for cell in _cells(artifact, profile):
        trials = sum(len(group.lrs) for group in groups if group.anchor == cell)
        also_trial = any(group.anchor == cell and cell in group.cells for group in groups)
        decides_claims = any(group.anchor == cell and claimed.intersection(group.cells) for group in groups)
        at_choice = (every if replicated or cell in claimed else 1) - also_trial
        counts[cell] = RunCounts(trials, at_choice, trials * decides_claims + at_choice * (cell in claimed))
    return counts
