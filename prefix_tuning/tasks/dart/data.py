"""DART v1.1.1 (`data_dir()/dart/v1.1.1/`): open-domain triple sets -> text.

Source linearization, as the original code (XiangLi1999/PrefixTuning, LineByLineTriplesTextDataset):
triples joined by " | ", each `subject : relation : object` with the relation lowercased and
everything else as in the release (`[TABLECONTEXT] : [title] : Jeff Daniels`); unlike WebNLG there
is no leading " | ". Every annotation is a training target.

Files: `dart-v1.1.1-full-{split}.json` or `.xml`, gzipped (`.gz`, as shipped in the shared data
folder) or not (as in the original release). JSON is read where present (the original code reads
it); the test split is read from the XML, whose 5,097 entries (identical triple sets grouped) are
aligned line by line with the official reference files `dart/references/all-delex-reference*.lex`.
The train split is not in the shared data; it comes from the original release.
"""

import gzip
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_dir
from prefix_tuning.tasks.records import EvalItem, Pair

SPLITS = ("train", "dev", "test")
_RELEASE = "dart-v1.1.1-full"


def linearize(triples: Sequence[Sequence[str]]) -> str:
    """`s : r : o | s : r : o ...` with relations lowercased, as the original code."""
    return " | ".join(f"{subject} : {relation.lower()} : {obj}" for subject, relation, obj in triples)


def _release_file(split: str, ext: str) -> Path | None:
    folder = data_dir() / "dart" / "v1.1.1"
    for name in (f"{_RELEASE}-{split}.{ext}.gz", f"{_RELEASE}-{split}.{ext}"):
        if (folder / name).is_file():
            return folder / name
    return None


def _open_binary(path: Path):
    return gzip.open(path) if path.suffix == ".gz" else open(path, "rb")


def _read_json(path: Path) -> list[tuple[list, list[str]]]:
    try:
        with _open_binary(path) as f:
            records = json.load(f)
        return [(record["tripleset"], [a["text"] for a in record["annotations"]]) for record in records]
    except (ValueError, KeyError, TypeError, EOFError, OSError) as err:
        raise UserError(f"{path} is not a DART JSON release file: {err}") from None


def _read_xml(path: Path) -> list[tuple[list, list[str]]]:
    try:
        with _open_binary(path) as f:
            root = ET.parse(f).getroot()
    except (ET.ParseError, EOFError, OSError) as err:
        raise UserError(f"{path} is not a DART XML release file: {err}") from None
    entries = []
    for node in root.iter("entry"):
        triples = [(t.text or "").split(" | ") for t in node.iterfind("modifiedtripleset/mtriple")]
        eid = node.get("eid", "?")
        if not triples:
            raise UserError(f"{path}: entry {eid} has no triples (modifiedtripleset/mtriple)")
        if any(len(t) != 3 for t in triples):
            raise UserError(f"{path}: entry {eid} has a triple that is not 'subject | relation | object'")
        entries.append((triples, [lex.text or "" for lex in node.iterfind("lex")]))
    return entries


def load_entries(split: str) -> list[tuple[list, list[str]]]:
    """(triples, annotation texts) per triple set of a split; see the module docstring for which file."""
    if split not in SPLITS:
        raise UserError(f"unknown DART split {split!r}; choose one of {', '.join(SPLITS)}")
    kinds = ("xml",) if split == "test" else ("json", "xml")
    for ext in kinds:
        path = _release_file(split, ext)
        if path is not None:
            return _read_json(path) if ext == "json" else _read_xml(path)
    where = data_dir() / "dart" / "v1.1.1"
    hint = " (run `make data` when online)" if split == "train" else ""
    raise UserError(
        f"missing DART {split} split: no {_RELEASE}-{split}.{'/'.join(kinds)}[.gz] under {where}; "
        f"it comes from the original DART v1.1.1 release (Yale-LILY/dart, data/v1.1.1){hint}"
    )


def load_pairs(split: str = "train") -> list[Pair]:
    """One (source, text) pair per annotation."""
    return [Pair(linearize(triples), text) for triples, texts in load_entries(split) for text in texts]


def load_eval(split: str = "test") -> list[EvalItem]:
    """One item per triple set with all its annotations as references (test: the 5,097 XML entries)."""
    entries = load_entries(split)
    return [EvalItem(linearize(triples), tuple(texts), {"index": k}) for k, (triples, texts) in enumerate(entries)]
