"""XSUM scoring: ROUGE-1/2/L F1 x 100 (rouge-score, stemming, bootstrap mid) against one reference per line.

Default references: `xsum/gold-test-sentences.txt.gz`, the 11,334 gold test summaries released with
the XSum model predictions. They are lowercased and PTB-tokenized (`it 's`, PTB quotes); the paper
scored against the cased, untokenized Hugging Face `test.target`. rouge-score lowercases and keeps
only [a-z0-9] tokens, so this rarely matters, but it is not the same file. Their line order is the
gold file's; how it maps to the BBC ids of the split JSON is unknown, so outputs must follow it.
`--split test_human50` scores 50 lines against the references of the 50 human-evaluation articles.
"""

from collections.abc import Sequence
from pathlib import Path

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.scoring.item_stats import column, item_ids
from prefix_tuning.scoring.rouge import item_f1, rouge_f1
from prefix_tuning.scoring.text_files import read_hypotheses, read_lines
from prefix_tuning.tasks.protocols import check_protocol
from prefix_tuning.tasks.xsum.data import HUMAN_EVAL_SPLIT, load_eval

GOLD_TEST_FILE = ("xsum", "gold-test-sentences.txt.gz")


def score_xsum(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1, ROUGE-2, ROUGE-L F1 x 100 of aligned hypothesis and reference lines."""
    return rouge_f1(hypotheses, references)


def reference_lines(refs_paths: list[Path] | None, split: str | None) -> list[str]:
    """The reference summaries to score against, one per line."""
    if split not in (None, "test", HUMAN_EVAL_SPLIT):
        raise UserError(f"unknown XSUM split {split!r}; choose test (default) or {HUMAN_EVAL_SPLIT}")
    if refs_paths:
        if len(refs_paths) != 1:
            raise UserError(f"XSUM has one reference per article: give one --refs file, not {len(refs_paths)}")
        references = read_lines(refs_paths[0], "reference file")
        if not references:
            raise UserError(f"reference file {refs_paths[0]} is empty")
    elif split == HUMAN_EVAL_SPLIT:
        references = [item.references[0] for item in load_eval(HUMAN_EVAL_SPLIT)]
    else:
        references = read_lines(data_file(*GOLD_TEST_FILE), "reference file")
    return references


def score_file(
    hyps_path: Path, refs_paths: list[Path] | None = None, split: str | None = None, protocol: str = "challenge"
) -> dict[str, float]:
    """Score a system output file (one summary per line, in reference order) as `python -m prefix_tuning.score` does."""
    check_protocol(protocol)  # both protocols score alike here (tasks/protocols.py)
    references = reference_lines(refs_paths, split)
    return score_xsum(read_hypotheses(hyps_path, len(references)), references)


def score_items(hypotheses: Sequence[str], items, protocol: str = "paper", java: bool = True) -> dict[str, float]:
    """ROUGE of in-memory outputs against each `EvalItem`'s (single) reference."""
    check_protocol(protocol)  # both protocols score alike here (tasks/protocols.py)
    return score_xsum(hypotheses, [item.references[0] for item in items])


def item_stats(hypotheses: Sequence[str], items, protocol: str = "paper") -> dict:
    """ROUGE-1/2/L F1 x 100 per item (their mean: scoring/item_stats.py), against each item's reference."""
    check_protocol(protocol)
    per_item = item_f1(hypotheses, [item.references[0] for item in items])
    columns = {name.replace("ROUGE-", "R-"): column("mean", [[v] for v in values]) for name, values in per_item.items()}
    return {"ids": item_ids(items), "columns": columns}  # named as the report's columns (R-1, R-2, R-L)
