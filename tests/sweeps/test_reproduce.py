"""`make reproduce-X PROFILE=smoke` for every artifact: one multirun over the grid on tiny models, then the
report; a killed sweep started again skips its finished runs and reports the same numbers; the submitit
path with its local executor."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from prefix_tuning.paths import REPO_ROOT
from prefix_tuning.sweeps.grids import ARTIFACTS, artifact_config, grid

pytestmark = [pytest.mark.slow, pytest.mark.needs_data("e2e", "webnlg2017", "dart", "xsum"), pytest.mark.needs_java]


def reproduce(artifact, tmp_path, run_module, **env):
    env = {"RUNS": str(tmp_path / "runs"), "RESULTS": str(tmp_path / "results"), **env}
    return run_module("prefix_tuning.reproduce", artifact, "--profile", "smoke", env=env, timeout=900)


def report_numbers(results, artifact) -> list:
    cells = json.loads((results / f"{artifact}.json").read_text())["cells"]
    return sorted(
        (json.dumps({k: v for k, v in c.items() if k != "ours"}, sort_keys=True), c["ours"]["values"]) for c in cells
    )


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_smoke_profile_runs_every_artifact_and_writes_its_report(artifact, tmp_path, run_module):
    result = reproduce(artifact, tmp_path, run_module)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        result.stdout.splitlines()[0]
        == f"reproduce {artifact}: profile smoke (chosen with PROFILE); choose another with PROFILE=paper|cpu"
    )
    runs = list((tmp_path / "runs").rglob("summary.json"))
    assert len(runs) == len(grid(artifact, "smoke"))
    results = tmp_path / "results"
    md = (results / f"{artifact}.md").read_text()
    record = json.loads((results / f"{artifact}.json").read_text())
    assert record["caption"]["profile"] == "smoke" and record["caption"]["pending"] == []
    assert f"make reproduce-{artifact} PROFILE=smoke" in md and "Deviations from the paper" in md
    assert all(cell["ours"]["runs"] for cell in record["cells"] if cell["ours"]["n"])
    if artifact.startswith("fig"):
        assert (results / f"{artifact}.png").stat().st_size > 0
        lines = md.splitlines()  # the figure sits above its data table, not inside it
        assert lines.index(f"![{artifact}]({artifact}.png)") < lines.index(
            "| task | series | x | metric | ours (mean ± std) | n |"
        )
    else:
        assert " / " in md and (results / f"{artifact}.tex").is_file()
        assert "(each cell: ours / paper; ours ran on tiny-" in md  # not the paper's model: said above each table


def test_a_killed_sweep_resumes_skips_finished_runs_and_reports_the_same_numbers(tmp_path, run_module):
    straight = tmp_path / "straight"
    assert reproduce("table3", straight, run_module).returncode == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "RUNS": str(killed / "runs"), "RESULTS": str(killed / "results")}
    command = [sys.executable, "-m", "prefix_tuning.reproduce", "table3", "--profile", "smoke"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    records = killed / "results" / "runs" / "table3"  # written as each run finishes, not by the report
    deadline = time.time() + 300
    while not list(records.rglob("summary.json")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # mid-sweep: the first run finished, the next one is under way
    process.wait()
    finished = sorted(p.parent.relative_to(killed / "runs") for p in (killed / "runs").rglob("summary.json"))
    assert 1 <= len(finished) < 3
    assert sorted(p.parent.relative_to(records) for p in records.rglob("summary.json")) == finished
    assert not (killed / "results" / "table3.json").exists()
    again = reproduce("table3", killed, run_module)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(finished)} finished runs restored from" not in again.stdout  # their folders were still there
    assert again.stdout.count("skip ") == len(finished)
    assert report_numbers(killed / "results", "table3") == report_numbers(straight / "results", "table3")


def test_submitit_launcher_runs_the_grid_with_its_local_executor(tmp_path, run_module):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = reproduce("table3", tmp_path, run_module, LAUNCHER="submitit_local")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "runs").rglob("summary.json"))) == 3
    assert list((tmp_path / "runs").rglob(".submitit"))  # the jobs went through submitit


def test_runs_recorded_with_the_results_survive_losing_the_run_folders(tmp_path, run_module):
    """A new RUNS folder (another machine) with the same RESULTS trains only what has no record, and the report
    rebuilt from the records alone has the numbers of the sweep that ran everything."""
    first = tmp_path / "first"
    assert reproduce("table3", first, run_module).returncode == 0
    results, records = first / "results", first / "results" / "runs" / "table3"
    assert len(list(records.rglob("summary.json"))) == len(grid("table3", "smoke"))
    expected = report_numbers(results, "table3")
    one = sorted(records.rglob("summary.json"))[0].parent
    for file in one.iterdir():
        file.unlink()
    one.rmdir()  # this run has no record: it runs again

    again = reproduce("table3", tmp_path / "elsewhere", run_module, RESULTS=str(results))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"2 finished runs restored from {records}" in again.stdout
    assert again.stdout.count("skip ") == 2
    runs = tmp_path / "elsewhere" / "runs"
    trained = [p.parent for p in runs.rglob("summary.json") if not (p.parent / "restored_from.txt").exists()]
    assert [p.relative_to(runs) for p in trained] == [one.relative_to(records)]
    assert len(list(trained[0].glob("*.safetensors"))) >= 1  # it really trained: its weights are there
    assert report_numbers(results, "table3") == expected

    rebuilt = run_module("prefix_tuning.report", "table3", str(records), "--results", str(tmp_path / "rebuilt"))
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert report_numbers(tmp_path / "rebuilt", "table3") == expected
    cells = json.loads((tmp_path / "rebuilt" / "table3.json").read_text())["cells"]
    assert {run for c in cells for run in c["ours"]["runs"]} <= {
        str(p.parent.relative_to(results)) for p in records.rglob("summary.json")
    }

    # a run that reached its cap before a dev-loss plateau marks its cell (and only its cell) with †: the first
    # record in order is fine-tuning's
    summaries = sorted(records.rglob("summary.json"))
    for path in summaries:
        path.write_text(json.dumps({**json.loads(path.read_text()), "converged": path != summaries[0]}))
    marked = run_module("prefix_tuning.report", "table3", str(records), "--results", str(tmp_path / "marked"))
    assert marked.returncode == 0, marked.stderr[-3000:]
    md = (tmp_path / "marked" / "table3.md").read_text()
    assert [line.split(" | ")[0] for line in md.splitlines() if line.startswith("|") and "†" in line] == ["| FT-FULL †"]
    assert "† a run of this cell reached its step cap before a dev-loss plateau (`converged: false`" in md


def test_claims_only_runs_what_the_claims_read_and_the_full_command_runs_the_rest(tmp_path, run_module):
    """CLAIMS_ONLY=1: Table 2's claims read 6 of its 15 cells; those run and their report shows the other 9 as
    pending, with the command that made it. The same command without it runs only those 9."""
    claimed = set(artifact_config("table2")["claims"])
    first = reproduce("table2", tmp_path, run_module, CLAIMS_ONLY="1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "claims only: 9 runs no claim reads are left; the same command without CLAIMS_ONLY runs them" in first.stdout
    ran = {p.parent.name for p in (tmp_path / "runs").rglob("summary.json")}
    assert ran == claimed
    caption = json.loads((tmp_path / "results" / "table2.json").read_text())["caption"]
    assert caption["command"] == "make reproduce-table2 PROFILE=smoke CLAIMS_ONLY=1"
    assert set(caption["pending"]) == set(artifact_config("table2")["cells"]) - claimed
    rest = reproduce("table2", tmp_path, run_module)
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert rest.stdout.count("skip ") == 6 and "claims only" not in rest.stdout
    assert {p.parent.name for p in (tmp_path / "runs").rglob("summary.json")} == set(artifact_config("table2")["cells"])
    assert json.loads((tmp_path / "results" / "table2.json").read_text())["caption"]["pending"] == []
