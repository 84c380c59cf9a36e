"""Write the supported-families table (prefix_tuning/lm/families.py) into the README between its
`<!-- families:begin -->` and `<!-- families:end -->` markers; --check exits 1 when the README differs.

    python scripts/families_table.py --readme README.md [--check]
"""

import argparse
import sys
from pathlib import Path

from prefix_tuning.lm.families import markdown_table

BEGIN, END = "<!-- families:begin -->", "<!-- families:end -->"


def with_table(text: str) -> str:
    if BEGIN not in text or END not in text:
        sys.exit(f"error: the README has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    return head + BEGIN + "\n" + markdown_table() + "\n" + END + rest.split(END, 1)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the README is stale")
    args = parser.parse_args()
    text = args.readme.read_text(encoding="utf-8")
    updated = with_table(text)
    if args.check:
        if updated != text:
            sys.exit(f"{args.readme}: the families table differs from lm/families.py; run scripts/families_table.py")
        return
    args.readme.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
