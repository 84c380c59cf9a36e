"""WebNLG 2017 scoring as the challenge's webnlg-automatic-evaluation scripts (evaluation.py,
bleu_eval_3ref.sh, meteor_eval.sh, ter_eval.sh; copy in Yale-LILY/dart/evaluation):

- outputs get the challenge preprocessing (`challenge_hypothesis`); the official references
  `references/gold-{all,old,new}-cat-reference{0,1,2}.lex` already have it (old = seen, new = unseen);
- BLEU: multi-bleu.perl -lc with those 3 reference files;
- METEOR 1.5, `-l en -norm -r 3`: the same (up to) 3 references per output, padded with empty lines;
- TER (tercom 0.7.25): the same references.
A system output has 1,862 lines in the order of testdata_with_lex.xml; `split` seen / unseen scores
the lines of the seen / unseen categories (in that order) against the old / new-cat references.
`score_items` (evaluation pipeline) preprocesses the `EvalItem`s' own references the same way (for
the test items this rebuilds the official files exactly) and adds the _seen / _unseen scores.
Scale: BLEU 0-100, METEOR and TER 0-1.
"""

import re
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from unidecode import unidecode

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.scoring.item_stats import column, item_ids, multi_bleu_rows
from prefix_tuning.scoring.meteor import MeteorRun
from prefix_tuning.scoring.model_based import Scores
from prefix_tuning.scoring.multi_bleu import as_streams, multi_bleu, read_reference_streams
from prefix_tuning.scoring.ter import corpus_stats, total_ter
from prefix_tuning.scoring.text_files import read_hypotheses, read_lines
from prefix_tuning.tasks.protocols import check_protocol
from prefix_tuning.tasks.webnlg.data import UNSEEN_CATEGORIES, load_entries

SPLITS = {"all": "all", "seen": "old", "unseen": "new"}  # our name -> the challenge's file name
MAX_REFERENCES = 3  # the challenge scores against three references
_NON_WORD = re.compile(r"(\W)")


def challenge_hypothesis(text: str) -> str:
    """A system output as evaluation.py prepares it: ASCII (unidecode), lowercased, every non-word
    character split off, single spaces."""
    ascii_text = unidecode(unidecode(text.strip()).lower())
    return " ".join(" ".join(_NON_WORD.split(ascii_text)).split())


def challenge_reference(text: str) -> str:
    """A reference as evaluation.py writes the reference files (non-word characters split off before
    unidecode, then lowercased and unidecoded)."""
    return unidecode(" ".join(" ".join(_NON_WORD.split(text)).split()).lower())


def _split_name(split: str | None) -> str:
    split = split or "all"
    if split not in SPLITS:
        raise UserError(f"unknown WebNLG split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def official_reference_files(split: str = "all") -> list[Path]:
    """The three official reference files of a split (all, seen = old-cat, unseen = new-cat)."""
    name = SPLITS[_split_name(split)]
    return [data_file("webnlg2017", "references", f"gold-{name}-cat-reference{k}.lex") for k in range(MAX_REFERENCES)]


def split_lines(lines: Sequence[str], split: str) -> list[str]:
    """The lines of one split out of a full 1,862-line output (testdata_with_lex.xml order)."""
    seen = [entry.category not in UNSEEN_CATEGORIES for entry in load_entries("test")]
    if len(lines) != len(seen):
        raise UserError(f"{len(lines)} outputs but the WebNLG test set has {len(seen)} entries")
    if _split_name(split) == "all":
        return list(lines)
    return [line for line, is_seen in zip(lines, seen) if is_seen == (split == "seen")]


def score_webnlg(hypotheses: Sequence[str], split: str = "all") -> Scores:
    """BLEU, METEOR, TER of raw system outputs against the official test references of `split`;
    `hypotheses` are either all 1,862 test outputs (the split's lines are picked) or just the
    split's outputs, in testdata_with_lex.xml order."""
    streams = read_reference_streams(official_reference_files(split))
    if len(hypotheses) != len(streams[0]):  # a full test output: pick the split's lines
        hypotheses = split_lines(hypotheses, split)
    return score_streams(hypotheses, streams)


def reference_streams(references: Sequence[Sequence[str]]) -> list[list[str]]:
    """Raw references per output -> the challenge's three reference files (preprocessed; an empty
    line where an output has fewer references)."""
    return as_streams([[challenge_reference(r) for r in refs[:MAX_REFERENCES]] for refs in references], MAX_REFERENCES)


def score_streams(
    hypotheses: Sequence[str], streams: Sequence[Sequence[str]], subsets: dict[str, list[int]] | None = None,
    java: bool = True,
) -> Scores:  # fmt: skip
    """The challenge's three metrics of raw outputs against preprocessed parallel reference streams;
    `subsets` (name -> output indices) adds BLEU_name, METEOR_name, TER_name for each subset;
    `java=False` leaves METEOR out."""
    if len(hypotheses) != len(streams[0]):
        raise UserError(f"{len(hypotheses)} outputs but the references have {len(streams[0])} lines")
    outputs = [challenge_hypothesis(h) for h in hypotheses]
    references = [[s[k] for s in streams if s[k]] for k in range(len(outputs))]
    missing = [k + 1 for k, refs in enumerate(references) if not refs]
    if missing:
        raise UserError(f"output line {missing[0]} has no reference (an empty line in every reference file)")
    groups = {"": list(range(len(outputs))), **{f"_{name}": indices for name, indices in (subsets or {}).items()}}
    scores = Scores()
    with ExitStack() as stack:  # the METEOR runs go on while BLEU and TER are computed
        meteor = {
            suffix: stack.enter_context(
                MeteorRun([outputs[k] for k in group], [references[k] for k in group], len(streams))
            )
            for suffix, group in groups.items()
            if java
        }
        ter_stats = corpus_stats(outputs, references)
        for suffix, group in groups.items():
            group_streams = [[stream[k] for k in group] for stream in streams]
            scores[f"BLEU{suffix}"] = multi_bleu([outputs[k] for k in group], group_streams, lowercase=True)
            if java:
                scores[f"METEOR{suffix}"] = meteor[suffix].score()
            scores[f"TER{suffix}"] = total_ter([ter_stats[k] for k in group])
    return scores


def _seen_subsets(items) -> dict[str, list[int]] | None:
    """The positions of the seen and of the unseen items, when both occur (the paper's S / U columns)."""
    seen = [k for k, item in enumerate(items) if item.meta.get("seen", True)]
    unseen = [k for k, item in enumerate(items) if not item.meta.get("seen", True)]
    return {"seen": seen, "unseen": unseen} if seen and unseen else None


def score_items(hypotheses: Sequence[str], items, protocol: str = "paper", java: bool = True) -> Scores:
    """Scores of in-memory outputs against `EvalItem`s' references (challenge preprocessing, first
    three references); items of both seen and unseen categories also get the _seen and _unseen
    scores (the paper's S / U / A columns)."""
    check_protocol(protocol)  # both protocols score alike here (tasks/protocols.py)
    streams = reference_streams([item.references for item in items])
    return score_streams(hypotheses, streams, _seen_subsets(items), java)


def item_stats(hypotheses: Sequence[str], items, protocol: str = "paper") -> dict:
    """BLEU's per-item statistics (scoring/item_stats.py) for the A, S and U columns, as `score_items`."""
    check_protocol(protocol)
    streams = reference_streams([item.references for item in items])
    rows = multi_bleu_rows([challenge_hypothesis(h) for h in hypotheses], streams, lowercase=True)
    columns = {"BLEU A": column("multi_bleu", rows)}
    for name, positions in (_seen_subsets(items) or {}).items():
        columns[f"BLEU {name[0].upper()}"] = column("multi_bleu", [rows[k] for k in positions], positions)
    return {"ids": item_ids(items), "columns": columns}


def score_file(
    hyps_path: Path, refs_paths: list[Path] | None, split: str | None, protocol: str = "challenge"
) -> Scores:
    """`python -m prefix_tuning.score --task webnlg [--split seen|unseen|all]`: a 1,862-line output
    against the official references, or any output against parallel reference files `refs_paths`."""
    check_protocol(protocol)  # both protocols score alike here (tasks/protocols.py)
    split = _split_name(split)
    if refs_paths:
        if split != "all":
            raise UserError("--split picks official references; with --refs give the matching output lines only")
        streams = read_reference_streams(refs_paths)
        return score_streams(read_hypotheses(hyps_path, len(streams[0])), streams)
    test_size = len(read_lines(official_reference_files("all")[0], "reference file"))
    return score_webnlg(read_hypotheses(hyps_path, test_size), split)
