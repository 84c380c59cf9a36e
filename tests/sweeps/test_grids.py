"""The reproduction grids: the paper profile lists the paper's grid with its Table 6 / Table 8 values
(DRY_RUN, which launches nothing), and the cpu/smoke profiles keep every method and condition."""

import json

import pytest

from prefix_tuning.sweeps.grids import ARTIFACTS, grid

pytestmark = pytest.mark.needs_data


def dry_run(run_module, artifact: str, profile: str) -> tuple[str, list[dict]]:
    result = run_module("prefix_tuning.reproduce", artifact, "--profile", profile, "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    return lines[0], [json.loads(line) for line in lines[1:]]


def test_dry_run_of_table2_lists_the_papers_grid(run_module):
    first, runs = dry_run(run_module, "table2", "paper")
    assert first.startswith("reproduce table2: profile paper") and "PROFILE=cpu|smoke" in first
    assert len(runs) == 21  # 3 tasks x 5 methods on GPT-2 medium + FT-FULL and PREFIX on GPT-2 large
    by_cell = {(r["task"], r["model"], r["method"], r["batch_size"], r["epochs"]): r for r in runs}
    assert by_cell[("e2e", "gpt2-medium", "prefix", 10, 5)]["lr"] == pytest.approx(8e-5)
    assert by_cell[("e2e", "gpt2-large", "prefix", 10, 5)]["prefix_length"] == 5
    assert by_cell[("dart", "gpt2-medium", "prefix", 5, 10)]["prefix_length"] == 10
    assert by_cell[("webnlg", "gpt2-medium", "finetune", 6, 10)]["lr"] == pytest.approx(1e-5)
    assert by_cell[("webnlg", "gpt2-medium", "ft_top2", 9, 10)]["lr"] == pytest.approx(5e-5)
    assert sum(r["model"] == "gpt2-large" for r in runs) == 6


def test_dry_run_of_fig3_lists_the_low_data_grid_with_table8_steps(run_module):
    _, runs = dry_run(run_module, "fig3", "paper")
    assert len(runs) == 160  # (E2E + XSUM) x (prefix, fine-tune) x 4 sizes x 5 subsets x 2 seeds
    e2e = [r for r in runs if r["task"] == "e2e"]
    assert {(r["method"], r["train_size"], r["max_steps"]) for r in e2e} == {
        ("prefix", 50, 200), ("prefix", 100, 200), ("prefix", 200, 200), ("prefix", 500, 400),
        ("finetune", 50, 100), ("finetune", 100, 100), ("finetune", 200, 200), ("finetune", 500, 400),
    }  # fmt: skip
    assert {r["seed"] for r in runs} == {200, 9} and {r["subset_seed"] for r in runs} == {0, 1, 2, 3, 4}
    assert {r["init_words"] for r in e2e if r["method"] == "prefix"} == {"table-to-text:"}
    xsum = [r for r in runs if r["task"] == "xsum"]
    assert {(r["method"], r["train_size"], r["epochs"]) for r in xsum} == {
        ("prefix", 50, 30), ("prefix", 100, 20), ("prefix", 200, 20), ("prefix", 500, 20),
        ("finetune", 50, 30), ("finetune", 100, 10), ("finetune", 200, 3), ("finetune", 500, 3),
    }  # fmt: skip


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_scaled_profiles_keep_every_method_and_condition(artifact):
    """cpu and smoke drop seeds, subsets and the large-model rows (and, offline, the XSUM low-data panels),
    never a method or condition of the paper's grid."""

    def condition(run) -> tuple:
        keys = {"fig3": ("experiment=", "lowdata=", "task.train_size="), "fig4": ("experiment=", "method.prefix_length="),
                "fig5": ("experiment=", "init=", "task.train_size=")}.get(artifact, ("experiment=",))  # fmt: skip
        return tuple(sorted(o for o in run.overrides if o.startswith(keys)))

    paper = {
        condition(run) for run in grid(artifact, "paper")
        if "model=gpt2-large" not in run.overrides and "experiment=lowdata_xsum" not in run.overrides
    }  # fmt: skip
    for profile in ("cpu", "smoke"):
        assert {condition(run) for run in grid(artifact, profile)} == paper, profile


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_every_cpu_run_checkpoints_before_it_ends(run_module, artifact):
    """A cpu-profile run killed or paused mid-way (hours an artifact on 2 cores) resumes from a checkpoint
    instead of step 0: each one saves at least once before its last step."""
    _, runs = dry_run(run_module, artifact, "cpu")
    stepped = [r for r in runs if r["max_steps"] > 0]
    assert stepped and all(r["checkpoint_every"] < r["max_steps"] for r in stepped), [
        (r["method"], r["max_steps"], r["checkpoint_every"]) for r in stepped
    ]
