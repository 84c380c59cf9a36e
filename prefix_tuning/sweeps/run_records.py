"""Finished runs kept beside the results: each run's config.yaml and summary.json copied to
<results>/runs/<artifact>/<run>, so that an artifact's report can be rebuilt, and its sweep resumed, from the
repository alone once the run folders are gone (another machine, a cleaned disk, a lost worktree).

Under `reproduce` each run writes its record as soon as it has finished (REPRODUCE_RECORDS names the folder),
so a sweep killed before its report (a machine shut down mid-table) loses no finished run. A report writes the
records of the sweep's finished runs too and then reads every record (a run finished in an earlier sweep
counts); `reproduce` copies the records back into an empty run folder first, so those runs are skipped instead
of trained again. Delete a record to run it again.
"""

import os
import shutil
from pathlib import Path

from prefix_tuning.sweeps.sweep_runs import finished_runs

RECORD_FILES = ("config.yaml", "summary.json")
SWEEP_FILE = "reproduce.json"  # what the sweeper wrote about the sweep (artifact, profile, command)
RESTORED_MARK = "restored_from.txt"  # in a run folder filled from a record: where the record is
RECORDS_ENV = "REPRODUCE_RECORDS"  # set by `reproduce`: the records folder each finished run copies itself to


def records_dir(results_dir: Path, artifact: str) -> Path:
    return Path(results_dir) / "runs" / artifact


def _copy_record(folder: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        shutil.copyfile(folder / name, target / name)


def keep_records(run_folders: list[Path], sweep_dir: Path, records: Path) -> int:
    """Copy each finished run's record files (and the sweep's own record) under `records`, keeping the run's
    folder path relative to `sweep_dir`; returns how many runs were kept."""
    sweep_dir, records = Path(sweep_dir), Path(records)
    kept = 0
    for folder in run_folders:
        target = records / Path(folder).relative_to(sweep_dir)
        if target.resolve() == Path(folder).resolve():
            continue  # reading the records themselves
        _copy_record(Path(folder), target)
        kept += 1
    if (sweep_dir / SWEEP_FILE).is_file() and (records / SWEEP_FILE).resolve() != (sweep_dir / SWEEP_FILE).resolve():
        records.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sweep_dir / SWEEP_FILE, records / SWEEP_FILE)
    return kept


def keep_record_now(run_dir: Path, sweep_dir: Path) -> bool:
    """In a sweep started by `reproduce`: copy this finished run's record (and the sweep's) into the records folder
    that REPRODUCE_RECORDS names, at once rather than at the report; False when no folder is named."""
    if not (records := os.environ.get(RECORDS_ENV)) or not (Path(run_dir) / "summary.json").is_file():
        return False
    keep_records([Path(run_dir).resolve()], Path(sweep_dir).resolve(), Path(records))
    return True


def restore_records(records: Path, sweep_dir: Path) -> list[str]:
    """Copy every record into its run folder under `sweep_dir` where that folder holds nothing yet (a folder
    with a config.yaml is a run of its own: finished, or killed and resuming); returns the runs restored."""
    records, sweep_dir = Path(records), Path(sweep_dir)
    if not records.is_dir():
        return []
    restored = []
    for run in finished_runs(records):
        name = run.folder.relative_to(records)
        target = sweep_dir / name
        if (target / "config.yaml").exists():
            continue
        _copy_record(run.folder, target)
        (target / RESTORED_MARK).write_text(f"{run.folder}\n")
        restored.append(str(name))
    return restored
