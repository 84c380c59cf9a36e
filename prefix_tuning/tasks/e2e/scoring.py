"""E2E NLG scores as the challenge's script prints them (tuetschek/e2e-metrics `measure_scores.py -p`).

BLEU and NIST from the script's mteval-v13a port, METEOR, ROUGE-L and CIDEr from the COCO caption
evaluation. One output line per MR, against all references of that MR (the official test set: 630
MRs; the CSV rows of one MR are consecutive, and items follow the order of first appearance).
Protocol "challenge" scores against the CSV references (as published challenge outputs are scored);
"paper" against the same references in the training targets' tokenized form (see `tasks/protocols.py`).
"""

from pathlib import Path

from prefix_tuning.errors import UserError
from prefix_tuning.scoring.coco_caption import coco_scores
from prefix_tuning.scoring.item_stats import column, item_ids, mteval_bleu_rows
from prefix_tuning.scoring.mteval import corpus_bleu, corpus_nist
from prefix_tuning.scoring.text_files import read_hypotheses
from prefix_tuning.tasks.e2e.data import group_references, load_eval, read_rows
from prefix_tuning.tasks.protocols import check_protocol


def score_e2e(hypotheses: list[str], references: list[list[str]], java: bool = True) -> dict[str, float]:
    """BLEU (0-1), NIST, METEOR, ROUGE_L and CIDEr of one hypothesis per item against that item's references
    (`java=False`: BLEU and NIST only; the other three need the Java PTB tokenizer and METEOR)."""
    if not hypotheses or len(hypotheses) != len(references):
        raise ValueError(f"need one hypothesis per reference set, got {len(hypotheses)} and {len(references)}")
    hypotheses = [hyp.strip() for hyp in hypotheses]  # the script strips every output line
    coco = coco_scores(hypotheses, references) if java else {}  # first: a missing Java runtime fails before any work
    return {"BLEU": corpus_bleu(hypotheses, references), "NIST": corpus_nist(hypotheses, references), **coco}


def item_references(items, protocol: str) -> list[list[str]]:
    """Each item's references under a protocol: tokenized ("paper") or as in the CSV ("challenge")."""
    key = "tokenized_references" if check_protocol(protocol) == "paper" else None
    return [list(item.meta[key] if key else item.references) for item in items]


def load_references(
    refs_paths: list[Path] | None = None, split: str | None = None, protocol: str = "challenge"
) -> list[list[str]]:
    """Reference sets: from one `mr,ref` CSV if given, else from the release CSV of `split` (default test)."""
    if not refs_paths:
        return item_references(load_eval(split or "test"), protocol)
    if split is not None:
        raise UserError("--split picks the release references; it cannot be combined with --refs")
    if len(refs_paths) != 1:
        raise UserError(f"E2E takes one reference CSV (`mr,ref` rows), got {len(refs_paths)} files")
    path = Path(refs_paths[0])
    if not path.is_file():
        raise UserError(f"reference file not found: {path}")
    return item_references(group_references(read_rows(path), path), protocol)


def score_file(
    hyps_path: Path, refs_paths: list[Path] | None, split: str | None, protocol: str = "challenge"
) -> dict[str, float]:
    """Scores of a system output file (one line per MR, in reference order); see `prefix_tuning.score`."""
    references = load_references(refs_paths, split, protocol)
    return score_e2e(read_hypotheses(hyps_path, len(references)), references)


def score_items(hypotheses: list[str], items, protocol: str = "paper", java: bool = True) -> dict[str, float]:
    """Scores of in-memory outputs against the references carried by `EvalItem`s (evaluation pipeline)."""
    return score_e2e(hypotheses, item_references(items, protocol), java)


def item_stats(hypotheses: list[str], items, protocol: str = "paper") -> dict:
    """BLEU's per-item statistics (scoring/item_stats.py) against the same references as `score_items`."""
    rows = mteval_bleu_rows([hyp.strip() for hyp in hypotheses], item_references(items, protocol))
    return {"ids": item_ids(items), "columns": {"BLEU": column("mteval_bleu", rows)}}
