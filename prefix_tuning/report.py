"""Write the report of a paper table or figure from a sweep's finished runs (reads files only, touches no model).

    python -m prefix_tuning.report <artifact> <sweep dir> [--results DIR]

Artifacts: table2 table3 table4 table5 fig3 fig4 fig5 (ACL 2021 numbering; fig3 also writes Figure 7,
fig5 also Figure 8). Writes <results>/<artifact>.{md,tex,json} and, for figures, .png.
"""

import argparse
from pathlib import Path

from prefix_tuning.errors import exit_on_user_error
from prefix_tuning.reporting.artifact_report import print_claims, write_report
from prefix_tuning.sweeps.grids import ARTIFACTS


@exit_on_user_error
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m prefix_tuning.report", description=__doc__.split("\n")[0])
    parser.add_argument("artifact", choices=ARTIFACTS)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="where the report goes (default results/)"
    )
    args = parser.parse_args(argv)
    for path in write_report(args.artifact, args.sweep_dir, args.results):
        print(f"wrote {path}")
    print_claims(args.results / f"{args.artifact}.json")


if __name__ == "__main__":
    main()
