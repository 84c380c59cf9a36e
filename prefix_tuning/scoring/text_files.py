"""Reading a system output file (one hypothesis per line) without silent misalignment."""

import gzip
from pathlib import Path

from prefix_tuning.errors import UserError


def read_lines(path: Path, what: str = "file") -> list[str]:
    """Lines of a UTF-8 text file (plain or .gz) without their line endings; a UserError on a missing file or bad bytes."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise UserError(f"{what} {path} is not a readable gzip file ({err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = raw[: err.start].count(b"\n") + 1
        raise UserError(f"{what} {path} is not UTF-8 (line {line_no}, byte {err.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_hypotheses(path: Path, expected: int) -> list[str]:
    """One hypothesis per line, exactly `expected` lines. Empty lines are kept (scored as empty outputs)
    and reported on stderr, as the official scripts do."""
    import sys

    lines = read_lines(path, "system output")
    if len(lines) != expected:
        raise UserError(
            f"system output {path} has {len(lines)} lines but the references have {expected} items "
            "(one output per line, in reference order)"
        )
    empty = [i + 1 for i, line in enumerate(lines) if not line.strip()]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (" ..." if len(empty) > 10 else "")
        print(f"warning: {len(empty)} empty hypotheses (lines {shown}), scored as empty outputs", file=sys.stderr)
    return lines
