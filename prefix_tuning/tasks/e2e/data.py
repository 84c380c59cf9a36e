"""E2E NLG (Novikova et al., 2017): the original CSV release, linearized as the paper's code does.

Input:  `name : The Eagle | Type : coffee shop | food : French | ...`  (eatType -> Type,
        priceRange -> price, familyFriendly -> family friendly), values and references split on
        punctuation as in the authors' `src1_*.txt` files (checked: 99% of dev lines identical).
Training uses every (MR, reference) pair; evaluation groups all references of an MR (630 test MRs).
Each evaluation item also carries its references in the training targets' tokenized form
(`meta["tokenized_references"]`): the authors' own files (`prefixtuning_src1_{valid,test}.txt`,
row-aligned with the CSVs) where they exist, else `tokenize` of the CSV references. The paper scored
against those (see `scoring.py`, protocol "paper").
"""

import csv
import gzip
import io
import re
from pathlib import Path

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_dir
from prefix_tuning.tasks.records import EvalItem, Pair

SPLIT_FILES = {"train": "trainset.csv", "dev": "devset.csv", "test": "testset_w_refs.csv"}
AUTHORS_TOKENIZED = {"dev": "prefixtuning_src1_valid.txt", "test": "prefixtuning_src1_test.txt"}
KEY_RENAMES = {"eatType": "Type", "priceRange": "price", "familyFriendly": "family friendly"}
_SLOT = re.compile(r"\s*([^\[\],]+?)\s*\[([^\]]*)\]\s*(?:,|$)")


def tokenize(text: str) -> str:
    """Split punctuation off words the way the authors' preprocessed files do (`aren't` -> `aren 't`)."""
    text = re.sub(r"([^\w\s'])", r" \1 ", text)
    text = re.sub(r"(\w)'(\w)", r"\1 '\2", text)
    return " ".join(text.split())


def linearize_mr(mr: str, where: str = "MR") -> str:
    """`name[The Eagle], eatType[coffee shop]` -> `name : The Eagle | Type : coffee shop`."""
    slots = _SLOT.findall(mr)
    if not slots or "".join(f"{k}[{v}]" for k, v in slots).replace(" ", "") != re.sub(r"[\s,]", "", mr):
        raise UserError(f"{where}: malformed E2E meaning representation {mr!r} (expected `key[value], ...`)")
    return " | ".join(f"{KEY_RENAMES.get(key, key)} : {tokenize(value)}" for key, value in slots)


def split_path(split: str, root: Path | None = None) -> Path:
    """The CSV of a split (plain or .gz, as the release or our shared copy has it)."""
    if split not in SPLIT_FILES:
        raise UserError(f"unknown E2E split {split!r}; choose one of {', '.join(SPLIT_FILES)}")
    folder = (root or data_dir()) / "e2e"
    for name in (SPLIT_FILES[split], SPLIT_FILES[split] + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"missing E2E file {folder / SPLIT_FILES[split]} (run `make data` or set PREFIX_TUNING_DATA)")


def read_rows(path: Path) -> list[tuple[str, str]]:
    """(mr, ref) rows of an E2E CSV; a UserError naming the line of any malformed row."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 ({err.reason} at byte {err.start})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or [h.strip().lower() for h in header[:2]] != ["mr", "ref"]:
        raise UserError(f"{path}: expected a CSV header `mr,ref`, found {header}")
    rows = []
    for row in reader:
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise UserError(f"{path}:{reader.line_num}: malformed row {row!r} (expected two non-empty fields)")
        rows.append((row[0], row[1]))
    return rows


def load_pairs(split: str = "train", root: Path | None = None) -> list[Pair]:
    """Every (MR, reference) pair of a split, linearized and tokenized."""
    path = split_path(split, root)
    return [Pair(linearize_mr(mr, f"{path}:{i + 2}"), tokenize(ref)) for i, (mr, ref) in enumerate(read_rows(path))]


def authors_tokenized_references(split: str, rows: int, root: Path | None = None) -> list[str] | None:
    """The authors' tokenized reference of each CSV row of a split (their `MR || ref` files), or None
    when the split has no such file; a UserError when it does not align with the CSV."""
    if split not in AUTHORS_TOKENIZED:
        return None
    path = (root or data_dir()) / "e2e" / AUTHORS_TOKENIZED[split]
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != rows or any("||" not in line for line in lines):
        raise UserError(
            f"{path} does not align with the {split} CSV ({len(lines)} lines for {rows} rows, `MR || ref` each)"
        )
    return [line.split("||", 1)[1].strip() for line in lines]


def group_references(
    rows: list[tuple[str, str]], path: Path | str = "E2E", tokenized: list[str] | None = None
) -> list[EvalItem]:
    """One item per run of consecutive rows with the same MR, as e2e-metrics groups them; `tokenized`
    (one per row, default: `tokenize` of the row's reference) go to meta["tokenized_references"]."""
    tokenized = tokenized or [tokenize(ref) for _, ref in rows]
    groups: list[tuple[str, list[str], list[str]]] = []
    for (mr, ref), tokens in zip(rows, tokenized):
        if groups and groups[-1][0] == mr:
            groups[-1][1].append(ref)
            groups[-1][2].append(tokens)
        else:
            groups.append((mr, [ref], [tokens]))
    return [
        EvalItem(linearize_mr(mr, str(path)), tuple(refs), {"mr": mr, "tokenized_references": tuple(tokens)})
        for mr, refs, tokens in groups
    ]


def load_eval(split: str = "test", root: Path | None = None) -> list[EvalItem]:
    """Evaluation items of a split: linearized MR, its CSV references, and the same in tokenized form."""
    path = split_path(split, root)
    rows = read_rows(path)
    return group_references(rows, path, authors_tokenized_references(split, len(rows), root))
