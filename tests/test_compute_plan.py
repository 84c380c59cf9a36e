"""scripts/compute_plan.py and grids.run_counts: experiments/README.md's compute plan comes from the grids and the
run records, with the numbers worked out by hand here."""

import json

from prefix_tuning.sweeps.grids import run_counts


def test_run_counts_are_the_hand_counts_of_the_grids():
    table2 = run_counts("table2", "cpu").values()
    # 15 cells x 3 rates searched; 6 claimed cells x 3 seeds + 9 cells x 1, less the 15 trials that are also runs
    assert (sum(c.search for c in table2), sum(c.at_choice for c in table2)) == (45, 6 * 3 + 9 - 15)
    fig5 = run_counts("fig5", "cpu")
    # one search of 3 rates on table-to-text; 10 inits x 3 subsets at the choice, one of them the trial
    assert sum(c.search for c in fig5.values()) == 3 and sum(c.at_choice for c in fig5.values()) == 30 - 1
    assert fig5["table-to-text"].total == 3 + 3 - 1 and fig5["banana"].total == 3
    assert sum(c.total for c in run_counts("table2", "paper").values()) == 15 + 6  # no search, the GPT-2 large rows
    # the claims read 6 of Table 2's cells: their 3 trials and 2 more seeds each; Tables 3 and 4 test no claim
    assert sum(c.claims for c in table2) == 6 * (3 + 2) and not any(
        c.claims for c in run_counts("table3", "cpu").values()
    )


def _record(folder, minutes: dict):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("seed: 1\n")
    (folder / "summary.json").write_text(json.dumps({"timings": {k: 60 * v for k, v in minutes.items()}}))


def test_the_plan_counts_records_and_prices_what_is_left_by_each_cells_median(tmp_path, run_module):
    runs = tmp_path / "cpu" / "runs" / "table3"
    _record(runs / "xsum_finetune,lr=3e-05", {"setup": 1, "train": 9})  # 10 min
    _record(runs / "xsum_finetune,lr=0.00012", {"setup": 1, "train": 19})  # 20 min
    _record(runs / "xsum_prefix_2,lr=5e-05", {"setup": 1, "train": 3, "eval": 1})  # 5 min
    _record(runs / "xsum_gone,lr=1e-05", {"train": 3})  # a cell the grid no longer has
    table2 = tmp_path / "cpu" / "runs" / "table2"
    _record(table2 / "e2e_finetune,lr=5e-05,seed=101", {"train": 20})  # a claimed cell's search trial
    _record(table2 / "e2e_ft_top2,lr=5e-05,seed=101", {"train": 10})  # a cell no claim reads
    readme = tmp_path / "README.md"
    readme.write_text("# plan\n<!-- plan:begin -->\nold\n<!-- plan:end -->\nafter\n")
    result = run_module("scripts.compute_plan", "--results", tmp_path / "cpu", "--readme", readme)
    assert result.returncode == 0, result.stderr
    lines = readme.read_text().splitlines()
    assert "old" not in lines and lines[-1] == "after"
    # median of 10, 20, 5 = 10 min; spent 3 x 10 min; wall 35 min; left: finetune 1 x 15 + prefix_2 2 x 5 +
    # prefix_0.1 (no record yet) 1 x 10 = 35 min
    assert (
        "| Table 3 | 6 | 1 | 7 | 10.0 (median of 3) | 0.5 (0.6) | 0.6 | 0.0 | 3 of 7 recorded; 1 records not in the grid |"
        in lines
    )
    # Table 2: median 15 min; left: e2e_finetune 4 x 20 + e2e_ft_top2 2 x 10 + 5 other claimed cells x 5 runs x 15 +
    # 8 other cells x 3 x 15 = 835 min; for the claims: 4 x 20 + 25 x 15 = 455 min
    assert "| Table 2 | 45 | 12 | 57 | 15.0 (median of 2) | 0.5 (0.5) | 13.9 | 7.6 | 2 of 57 recorded |" in lines
    # no record: the profile's estimate (configs/profile/cpu.yaml: 6 min per Table 4 run) x its 8 runs
    assert "| Table 4 | 6 | 2 | 8 | ~6 (est.) | 0.0 (0.0) | 0.8 | 0.0 | not started |" in lines


def test_a_readme_without_the_plan_block_is_refused(tmp_path, run_module):
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    result = run_module("scripts.compute_plan", "--results", tmp_path, "--readme", readme)
    assert result.returncode == 2 and "has no <!-- plan:begin --> ... <!-- plan:end --> block" in result.stderr
    assert readme.read_text() == "# no block\n"
