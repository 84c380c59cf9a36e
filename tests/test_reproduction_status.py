"""scripts/reproduction_status.py: the README's status table comes from the reports, pending artifacts
name their command, and only the marked block of the README changes."""

import json

REPORT = {
    "caption": {"wall_hours": 1.25, "pending": ["e2e_infix_20,lr=0.00032,seed=103"]},
    "claims": [
        {"claim": "infix beats embedding-only (Table 5)", "verdict": "contradicted", "difference_of": "best INFIX - best EMB",
         "difference": -2.0, "ci": [-3.5, -0.6], "n_runs": 3, "n_items": 200, "detail": "..."},
        {"claim": "prefix beats infix (Table 5)", "verdict": "not tested", "detail": "runs missing: INFIX-20"},
    ],
}  # fmt: skip


def test_status_rows_come_from_the_reports_and_pending_artifacts_name_their_command(tmp_path, run_module):
    results = tmp_path / "cpu"
    results.mkdir()
    (results / "table5.json").write_text(json.dumps(REPORT))
    readme = tmp_path / "README.md"
    readme.write_text("# title\nbefore\n<!-- status:begin -->\nold table\n<!-- status:end -->\nafter\n")
    args = ("--profile", "cpu", "--results", results, "--readme", readme)
    assert run_module("scripts.reproduction_status", *args).returncode == 0
    text = readme.read_text()
    assert text.startswith("# title\nbefore\n<!-- status:begin -->\n") and text.endswith("<!-- status:end -->\nafter\n")
    assert "old table" not in text
    rows = [line for line in text.splitlines() if line.startswith("| table") or line.startswith("| fig")]
    contradicted, untested = [row for row in rows if row.startswith("| table5 ")]
    assert "| best INFIX - best EMB: -2.00 [-3.50, -0.60]; 1 runs pending | contradicted | 3 | 1.25 |" in contradicted
    assert "70.3" in contradicted  # the paper's PREFIX BLEU beside ours
    assert "| runs missing: INFIX-20; 1 runs pending | not tested |" in untested
    table2 = [row for row in rows if row.startswith("| table2 ")]
    assert table2 and all("pending" in row and "`make reproduce-table2 PROFILE=cpu`" in row for row in table2)
    assert {row.split(" | ")[0][2:] for row in rows} == {"table2", "table3", "table4", "table5", "fig3", "fig4", "fig5"}
    assert run_module("scripts.reproduction_status", *args).returncode == 0
    assert readme.read_text() == text  # regenerating changes nothing


def test_a_readme_without_the_markers_is_refused(tmp_path, run_module):
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    result = run_module("scripts.reproduction_status", "--results", tmp_path, "--readme", readme)
    assert result.returncode == 2 and "has no <!-- status:begin -->" in result.stderr
    assert readme.read_text() == "# no block\n"
