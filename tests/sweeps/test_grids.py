"""The reproduction grids: the paper profile lists the paper's grid with its Table 6 / Table 8 values
(DRY_RUN, which launches nothing), and the cpu/smoke profiles keep every method and condition."""

import json

import pytest

from prefix_tuning.reporting.artifact_report import lr_markdown
from prefix_tuning.sweeps.grids import ARTIFACTS, artifact_config, deviations, plan

pytestmark = pytest.mark.needs_data("e2e", "webnlg2017", "dart", "xsum")


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
    never a cell of the paper's grid: every cell runs, or waits for its learning-rate choice."""
    paper = {run.cell for run in plan(artifact, "paper").counted}
    offline = paper - set(artifact_config(artifact).get("paper_only", {}))
    for profile in ("cpu", "smoke"):
        current = plan(artifact, profile)
        assert {run.cell for run in current.counted} | set(current.waiting) == offline, profile


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_every_cpu_run_checkpoints_before_it_ends(run_module, artifact):
    """A cpu-profile run killed or paused mid-way (hours an artifact on 2 cores) resumes from a checkpoint
    instead of step 0: it saves at least as often as it evaluates, and before a step cap."""
    _, runs = dry_run(run_module, artifact, "cpu")
    assert runs and all(r["checkpoint_every"] <= r["eval_every"] for r in runs)
    assert all(r["checkpoint_every"] < r["max_steps"] for r in runs if r["max_steps"] > 0)


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_cpu_runs_train_to_a_plateau_on_a_random_test_sample(run_module, artifact):
    _, runs = dry_run(run_module, artifact, "cpu")
    assert all(r["patience"] > 0 and r["select_best"] and r["eval_every"] > 0 for r in runs)
    assert all(r["eval_sample"] for r in runs if r["task"] != "xsum")  # a seeded sample, never the first N
    # full-data cells: a cap generous for the size, twice Table 6's epochs (the low-data cells cap steps instead)
    full_data = [r for r in runs if r["task"] in ("e2e", "webnlg", "dart") and r["max_steps"] == 0]
    assert all(r["epochs_factor"] == 2 for r in full_data) and (
        bool(full_data) == (artifact in ("table2", "table5", "fig4"))
    )


def finished(runs, losses: dict) -> dict:
    """Summaries of the runs named in `losses` (run name suffix -> best dev loss)."""
    return {run.name: {"best_dev_loss": losses[run.name]} for run in runs if run.name in losses}


def test_learning_rates_are_chosen_on_dev_loss_then_every_cell_of_the_group_runs_at_the_choice():
    first = plan("table5", "cpu")
    assert len(first.runs) == 9 and not first.counted  # 3 anchors x 3 rates, the rest waits
    assert set(first.waiting) == set(artifact_config("table5")["cells"])
    losses = {"e2e_prefix,lr=8e-05,seed=101": 1.30, "e2e_prefix,lr=0.00032,seed=101": 1.21,
              "e2e_prefix,lr=0.00128,seed=101": 1.25,
              "e2e_emb_10,lr=8e-05,seed=101": 1.9, "e2e_emb_10,lr=0.00032,seed=101": float("nan"),
              "e2e_emb_10,lr=0.00128,seed=101": 1.9}  # fmt: skip
    second = plan("table5", "cpu", finished(first.runs, losses))
    chosen = {group.anchor: group.chosen for group in second.groups}
    assert chosen == {"e2e_prefix": pytest.approx(3.2e-4), "e2e_emb_10": pytest.approx(8e-5), "e2e_infix_10": None}
    counted = {run.name for run in second.counted}  # NaN (diverged) never wins; a tie goes to the smaller rate
    assert "e2e_prefix,lr=0.00032,seed=101" in counted and "e2e_prefix,lr=8e-05,seed=101" not in counted
    assert {f"e2e_emb_{n},lr=8e-05,seed={s}" for n in (1, 10, 20) for s in (101, 102, 103)} <= counted
    assert set(second.waiting) == {"e2e_infix_1", "e2e_infix_10", "e2e_infix_20"}
    assert all(f"train.lr={run.lr:g}" in run.overrides for run in second.runs)


def test_a_choice_at_an_end_of_the_searched_rates_is_marked_in_the_report():
    """Adapter 0.1% on E2E picked the highest rate (x16): the report says the best rate may lie outside."""
    first = plan("table5", "cpu")
    losses = {"e2e_prefix,lr=8e-05,seed=101": 1.30, "e2e_prefix,lr=0.00032,seed=101": 1.21,
              "e2e_prefix,lr=0.00128,seed=101": 1.25,
              "e2e_emb_10,lr=8e-05,seed=101": 1.9, "e2e_emb_10,lr=0.00032,seed=101": 1.8,
              "e2e_emb_10,lr=0.00128,seed=101": 1.7}  # fmt: skip
    second = plan("table5", "cpu", finished(first.runs, losses))
    edges = {group.anchor: group.to_json()["chosen_at_edge"] for group in second.groups}
    assert edges == {"e2e_prefix": None, "e2e_emb_10": "highest", "e2e_infix_10": None}  # infix: still pending
    rows = {line.split(" | ")[0]: line for line in lr_markdown(second) if line.startswith("| e2e_")}
    assert rows["| e2e_emb_10"].endswith("| 0.00128 (highest rate searched) |")
    assert rows["| e2e_prefix"].endswith("| 0.00032 |")


def test_search_trials_decode_no_test_set_until_chosen_and_the_chosen_one_comes_back_to_decode_it():
    """Only the trial at the chosen rate (also its cell's first replicate) decodes the test set: launched again
    with its evaluation on, a new job for the sweeper, the same run folder (pipeline.evaluate_trained_run)."""
    from hydra_plugins.prefix_tuning_sweeper.reproduce_sweeper import ReproduceSweeper

    first = plan("fig5", "cpu")
    assert len(first.runs) == 3 and all("eval.after_training=false" in run.overrides for run in first.runs)
    losses = {run.name: loss for run, loss in zip(first.runs, (1.72, 1.73, 1.86), strict=True)}
    second = plan("fig5", "cpu", finished(first.runs, losses))
    chosen = [run for run in second.runs if run.name == first.runs[0].name]
    assert [("eval.after_training=false" in run.overrides) for run in chosen] == [True, False]
    assert all("eval.after_training=false" not in run.overrides for run in second.counted)
    assert first.runs[0].name in {run.name for run in second.counted}
    jobs = [list(run.overrides) for run in second.runs]
    stage, _ = ReproduceSweeper.next_stage(second, jobs, {run.overrides for run in first.runs})
    assert list(chosen[1].overrides) in stage and not any(list(run.overrides) in stage for run in first.runs)


def test_dry_run_with_claims_only_lists_just_the_searches_the_claims_read(run_module):
    result = run_module("prefix_tuning.reproduce", "table2", "--profile", "cpu", "--dry-run", "--claims-only")
    assert result.returncode == 0, result.stderr[-2000:]
    runs = [json.loads(line) for line in result.stdout.strip().splitlines()[1:]]
    assert len(runs) == 18  # E2E and WebNLG x prefix, adapter 0.1%, fine-tuning x 3 rates; no FT-top2, adapter 3%, DART
    per_method = {(task, method): sum((r["task"], r["method"]) == (task, method) for r in runs)
                  for task in ("e2e", "webnlg") for method in ("prefix", "adapter", "finetune")}  # fmt: skip
    assert set(per_method.values()) == {3}


def test_only_cells_a_claim_reads_get_every_replicate():
    losses = {run.name: 1.0 for run in plan("table2", "cpu").runs}
    counted = plan("table2", "cpu", finished(plan("table2", "cpu").runs, losses)).counted
    per_cell = {cell: sum(run.cell == cell for run in counted) for cell in artifact_config("table2")["cells"]}
    claimed = set(artifact_config("table2")["claims"])
    assert all(n == (3 if cell in claimed else 1) for cell, n in per_cell.items()), per_cell


def test_the_runs_the_claims_read_come_first_and_the_sweep_launches_them_alone():
    """Table 2's claims read six cells (E2E/WebNLG prefix, adapter 0.1%, fine-tuning): their 18 searches run
    before the other 27, then their runs at the choice before any other cell's; the order changes no run."""
    from hydra_plugins.prefix_tuning_sweeper.reproduce_sweeper import ReproduceSweeper

    claimed = set(artifact_config("table2")["claims"])
    first = plan("table2", "cpu")
    assert len(first.runs) == 45
    assert [run.cell in claimed for run in first.runs] == [True] * 18 + [False] * 27
    jobs = [[run.name] for run in first.runs]
    stage, for_claims = ReproduceSweeper.next_stage(first, jobs, set())
    assert for_claims and [job[0] for job in stage] == [run.name for run in first.runs[:18]]
    stage, for_claims = ReproduceSweeper.next_stage(first, jobs, {tuple(job) for job in stage})
    assert not for_claims and len(stage) == 27
    assert ReproduceSweeper.next_stage(first, jobs, {tuple(job) for job in jobs}) is None
    claims_done = {tuple(job) for job in jobs[:18]}  # with claims_only the sweep ends here (CLAIMS_ONLY=1)
    assert ReproduceSweeper.next_stage(first, jobs, claims_done, claims_only=True) is None
    assert ReproduceSweeper.next_stage(first, jobs, set(), claims_only=True) == (jobs[:18], True)

    claims_searched = plan("table2", "cpu", finished(first.runs[:18], {run.name: 1.0 for run in first.runs[:18]}))
    pending = [run for run in claims_searched.runs if run.name not in {r.name for r in first.runs[:18]}]
    assert [run.cell in claimed for run in pending] == [True] * 12 + [False] * 27  # 6 cells x 2 more seeds first
    again = [run for run in claims_searched.runs if run.name in {r.name for r in first.runs[:18]}][18:]
    assert len(again) == 6 and all(run.for_claims for run in again)  # the six chosen trials, to decode their test
    assert {run.name for run in pending[:12]} == {f"{cell},lr={lr},seed={seed}" for cell, lr in
                                                  [("e2e_prefix", "8e-05"), ("e2e_adapter_0.1", "8e-05"),
                                                   ("e2e_finetune", "5e-05"), ("webnlg_prefix", "5e-05"),
                                                   ("webnlg_adapter_0.1", "5e-05"), ("webnlg_finetune", "1e-05")]
                                                  for seed in (102, 103)}  # fmt: skip


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_each_learning_rate_search_tries_the_papers_value_and_four_and_sixteen_times_it(artifact, compose_cfg):
    for anchor, spec in artifact_config(artifact)["lr_search"].items():
        overrides = [o for o in plan(artifact, "paper").runs if o.cell == anchor][0].overrides
        paper_lr = compose_cfg(*[o for o in overrides if not o.startswith("+")]).train.lr
        assert [float(lr) for lr in spec["lrs"]] == pytest.approx([paper_lr, 4 * paper_lr, 16 * paper_lr]), anchor


def test_cpu_deviations_name_the_scaling_of_each_kind_of_cell():
    table2 = deviations("table2", "cpu")
    assert any(text.startswith("DART: its train split is not available offline") for text in table2)
    assert any("a random 200 of the 630 test MRs" in text for text in table2)
    assert not any(text.startswith("XSUM") for text in table2)
    assert any("learning rates chosen on dev loss" in text for text in deviations("fig5", "cpu"))
