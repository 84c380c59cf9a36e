"""Generated blocks inside hand-written markdown: the text between a `<!-- name:begin -->` and its
`<!-- name:end -->` marker is replaced, the rest of the file kept (the README's status table, the compute plan)."""

from pathlib import Path

from prefix_tuning.errors import UserError


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_block(path: Path, name: str, block: str) -> None:
    """Put `block` between the file's `name` markers; an error naming the markers when it has none."""
    begin, end = markers(name)
    text = Path(path).read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise UserError(f"{path} has no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    Path(path).write_text(head + begin + "\n" + block + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")


def print_or_replace(path: Path | None, name: str, block: str) -> None:
    """A generating script's output: `block` on stdout, or into `path`'s `name` block when a file is given."""
    if path is None:
        print(block)
        return
    replace_block(path, name, block)
    print(f"wrote the {name} block of {path}")
