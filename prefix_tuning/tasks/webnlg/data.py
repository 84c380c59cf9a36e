"""WebNLG 2017 challenge data (`data_dir()/webnlg2017/`): triple sets -> text.

Source linearization, as the original code (XiangLi1999/PrefixTuning, LineByLineWebNLGTextDataset):
every triple of the modified triple set, in file order, becomes ` | subject : property : object`,
concatenated, so a source starts with " | ". Subject, property and object are the XML strings as
they are: underscores, camelCase properties and quotes are kept (`Aarhus_Airport : cityServed :
Aarhus`). Like the original, only lexicalisations marked comment="good" are used (train: 18,025 of
18,102; dev: 2,258 of 2,268; test: all 4,928).

Splits: "train" and "dev" read `{1..7}triples/*.xml` in sorted path order (the order of the authors'
JSON conversion); "test" reads `test/testdata_with_lex.xml` in its entry order (the order of the
official reference files and of system outputs); "test_seen" / "test_unseen" are its subsets, in
the same order. Unseen categories are the five that never occur in train or dev.
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.tasks.records import EvalItem, Pair

UNSEEN_CATEGORIES = ("Artist", "Athlete", "CelestialBody", "MeanOfTransportation", "Politician")
SEEN_CATEGORIES = (
    "Airport", "Astronaut", "Building", "City", "ComicsCharacter",
    "Food", "Monument", "SportsTeam", "University", "WrittenWork",
)  # fmt: skip
SPLITS = ("train", "dev", "test", "test_seen", "test_unseen")


@dataclass(frozen=True)
class Entry:
    """One triple set with its good lexicalisations."""

    eid: str
    category: str
    triples: tuple[tuple[str, str, str], ...]
    lexicalisations: tuple[str, ...]

    @property
    def seen(self) -> bool:
        return self.category not in UNSEEN_CATEGORIES


def linearize(triples: Sequence[tuple[str, str, str]]) -> str:
    """` | s : p : o` per triple, as the original code builds its source string."""
    return "".join(f" | {subject} : {prop} : {obj}" for subject, prop, obj in triples)


def _parse_triple(text: str, path: Path, eid: str) -> tuple[str, str, str]:
    parts = [part.strip() for part in (text or "").split(" | ")]
    if len(parts) != 3:
        raise UserError(f"{path}: entry {eid} has a triple that is not 'subject | property | object': {text!r}")
    return parts[0], parts[1], parts[2]


def read_entries(path: Path) -> list[Entry]:
    """The entries of one challenge XML file, in file order."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise UserError(f"{path} is not valid XML: {err}") from None
    entries = []
    for node in root.iter("entry"):
        eid = node.get("eid", "?")
        triples = tuple(_parse_triple(t.text, path, eid) for t in node.iterfind("modifiedtripleset/mtriple"))
        if not triples:
            raise UserError(f"{path}: entry {eid} has no triples (modifiedtripleset/mtriple)")
        good = [lex for lex in node.iterfind("lex") if lex.get("comment", "good") == "good"]
        lexes = tuple((lex.text or "").strip() for lex in good)
        entries.append(Entry(eid, node.get("category", ""), triples, lexes))
    return entries


def _split_files(split: str) -> list[Path]:
    if split in ("test", "test_seen", "test_unseen"):
        return [data_file("webnlg2017", "test", "testdata_with_lex.xml")]
    if split in ("train", "dev"):
        files = sorted(data_file("webnlg2017", split).glob("*triples/*.xml"))
        if not files:
            raise UserError(
                f"no WebNLG {split} files under {data_file('webnlg2017', split)} (expected {{1..7}}triples/*.xml)"
            )
        return files
    raise UserError(f"unknown WebNLG split {split!r}; choose one of {', '.join(SPLITS)}")


def _category_filter(categories: str | Sequence[str]) -> set[str]:
    if categories in ("all", None):
        return set(SEEN_CATEGORIES + UNSEEN_CATEGORIES)
    if categories == "seen":
        return set(SEEN_CATEGORIES)
    if categories == "unseen":
        return set(UNSEEN_CATEGORIES)
    names = [categories] if isinstance(categories, str) else list(categories)
    unknown = sorted(set(names) - set(SEEN_CATEGORIES + UNSEEN_CATEGORIES))
    if unknown:
        known = ", ".join(SEEN_CATEGORIES + UNSEEN_CATEGORIES)
        raise UserError(f"unknown WebNLG categories {unknown}; use all, seen, unseen or a list of: {known}")
    return set(names)


def load_entries(split: str, categories: str | Sequence[str] = "all") -> list[Entry]:
    """Entries of a split, optionally only some categories ("all", "seen", "unseen" or a list of names)."""
    wanted = _category_filter(categories)
    if split == "test_seen":
        wanted &= set(SEEN_CATEGORIES)
    elif split == "test_unseen":
        wanted &= set(UNSEEN_CATEGORIES)
    return [entry for path in _split_files(split) for entry in read_entries(path) if entry.category in wanted]


def load_pairs(split: str = "train", categories: str | Sequence[str] = "all") -> list[Pair]:
    """One (source, text) pair per good lexicalisation; `categories="seen"` keeps the 10 training categories."""
    return [Pair(linearize(e.triples), lex) for e in load_entries(split, categories) for lex in e.lexicalisations]


def load_eval(split: str = "test", categories: str | Sequence[str] = "all") -> list[EvalItem]:
    """One item per triple set with all its references; meta has category, seen (bool) and eid."""
    return [
        EvalItem(linearize(e.triples), e.lexicalisations, {"category": e.category, "seen": e.seen, "eid": e.eid})
        for e in load_entries(split, categories)
    ]
