"""Reproduce one paper table or figure: one Hydra multirun over its grid, then its report.

    python -m prefix_tuning.reproduce <artifact> [--profile paper|cpu|smoke] [--dry-run] [--claims-only] [overrides ...]
    make reproduce-<artifact> [PROFILE=...] [DRY_RUN=1] [CLAIMS_ONLY=1] [RUNS=dir] [RESULTS=dir] [LAUNCHER=...]

The first line printed says which profile runs (default: paper with a CUDA GPU, else cpu) and how to
choose another. Runs live in RUNS (default runs/reproduce/<profile>/<artifact>), one folder each; a run
that finished is skipped and a killed one resumes from its checkpoint, so the target can be started
again after any crash. The report goes to RESULTS (default results/<profile>), with a record of every
finished run (RESULTS/runs/<artifact>: its config.yaml and summary.json, written as each run finishes, so a
sweep killed before its report loses no finished run); runs recorded there count as finished even when RUNS is
new (another machine), so a table can be filled across machines and sessions. With --claims-only (CLAIMS_ONLY=1) only
the runs a claim reads are launched and the report shows the rest as pending: the verdicts first, on a budget; the
same command without it runs the rest later.
Extra overrides apply to every run (e.g. logger=none).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from prefix_tuning.errors import UserError, exit_on_user_error
from prefix_tuning.reporting.artifact_report import print_claims, write_report
from prefix_tuning.sweeps.grids import ARTIFACTS
from prefix_tuning.sweeps.preflight import check_inputs
from prefix_tuning.sweeps.profiles import chosen_profile, profile_line
from prefix_tuning.sweeps.run_records import RECORDS_ENV, records_dir, restore_records

LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib"], "slurm": ["hydra/launcher=slurm"],
             "submitit_local": ["hydra/launcher=submitit_local"]}  # fmt: skip


@exit_on_user_error
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m prefix_tuning.reproduce", description=__doc__.split("\n")[0])
    parser.add_argument("artifact", choices=ARTIFACTS)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to every run")
    parser.add_argument("--profile", default=None, help="paper | cpu | smoke (default: PROFILE, else by hardware)")
    parser.add_argument("--dry-run", action="store_true", default=os.environ.get("DRY_RUN", "") not in ("", "0"))
    parser.add_argument("--claims-only", action="store_true", default=os.environ.get("CLAIMS_ONLY", "") not in ("", "0"),
                        help="launch only the runs a claim reads (their learning-rate searches included)")  # fmt: skip
    args = parser.parse_args(argv)
    profile, why = chosen_profile(args.profile)
    print(profile_line(args.artifact, profile, why), flush=True)
    runs = Path(os.environ.get("RUNS") or f"runs/reproduce/{profile}/{args.artifact}")
    results = Path(os.environ.get("RESULTS") or f"results/{profile}")
    launcher = os.environ.get("LAUNCHER") or "basic"
    if launcher not in LAUNCHERS:
        raise UserError(f"unknown LAUNCHER={launcher!r}; choose one of {', '.join(LAUNCHERS)}")
    command = [sys.executable, "-m", "prefix_tuning.train", "-m", "hydra/sweeper=reproduce",
               f"hydra.sweeper.artifact={args.artifact}", f"hydra.sweeper.profile={profile}",
               f"hydra.sweep.dir={runs}", *(["hydra.sweeper.claims_only=true"] if args.claims_only else []),
               *LAUNCHERS[launcher], *args.overrides]  # fmt: skip
    shown = (
        f"make reproduce-{args.artifact} PROFILE={profile}"
        + (f" LAUNCHER={launcher}" if launcher != "basic" else "")
        + (" CLAIMS_ONLY=1" if args.claims_only else "")
    )
    if profile == "paper" and not args.dry_run:
        check_inputs(args.artifact, profile)  # offline: one line in seconds, not hub retries in every run
    records = records_dir(results, args.artifact)
    env = {**os.environ, "REPRODUCE_COMMAND": shown, "DRY_RUN": "1" if args.dry_run else "",
           RECORDS_ENV: "" if args.dry_run else str(records.resolve())}  # fmt: skip
    if not args.dry_run and (restored := restore_records(records, runs)):
        print(
            f"{len(restored)} finished runs restored from {records} (skipped below; "
            "delete a record there to run it again)",
            flush=True,
        )
    sweep = subprocess.run(command, env=env)
    if args.dry_run:
        sys.exit(sweep.returncode)
    if (runs / "reproduce.json").is_file():
        for path in write_report(args.artifact, runs, results):
            print(f"wrote {path}")
        print_claims(results / f"{args.artifact}.json")
    sys.exit(sweep.returncode)


if __name__ == "__main__":
    main()
