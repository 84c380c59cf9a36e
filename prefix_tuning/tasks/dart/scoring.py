"""DART scoring as the official evaluation/run_eval_on_dart.sh and prepare_files.py (Yale-LILY/dart).

- BLEU: multi-bleu.perl (no -lc) on the raw system output against `all-delex-reference{0,1,2}.lex`.
- METEOR 1.5, `-l en -norm -r 8`: each output's references are its reference0 line (even if
  empty) and its NON-empty reference1/2 lines, padded with empty lines to 8.
- TER (tercom 0.7.25): the same references, every line stripped.
- Optional, only when asked for: MoverScore, BERTScore, BLEURT (see `model_based`).
Scale: BLEU 0-100, METEOR and TER 0-1. The output has one line per test XML entry (5,097).
Protocol "challenge" scores raw outputs as the official script does; "paper" first puts outputs (and
the items' release references) in the official references' form: lowercased, split on non-word
characters (`dart_tokenize`, which rebuilds all 5,097 official reference0 lines from the test XML exactly).
"""

import re
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.scoring.item_stats import column, item_ids, multi_bleu_rows
from prefix_tuning.scoring.meteor import MeteorRun
from prefix_tuning.scoring.model_based import Scores, add_model_based_scores, check_metric_names
from prefix_tuning.scoring.multi_bleu import as_streams, multi_bleu, read_reference_streams
from prefix_tuning.scoring.ter import corpus_ter
from prefix_tuning.scoring.text_files import read_hypotheses
from prefix_tuning.tasks.protocols import check_protocol

METEOR_REFS = 8
REFERENCE_FILES = 3


_NON_WORD = re.compile(r"(\W)")


def dart_tokenize(text: str) -> str:
    """Lowercased, every non-word character split off, single spaces: the official references' form."""
    return " ".join(" ".join(_NON_WORD.split(text)).split()).lower()


def official_reference_files() -> list[Path]:
    """The three official DART test reference files."""
    return [data_file("dart", "references", f"all-delex-reference{k}.lex") for k in range(REFERENCE_FILES)]


def score_dart(
    hypotheses: Sequence[str],
    reference_streams: Sequence[Sequence[str]] | None = None,
    extra_metrics: Sequence[str] = (),
    java: bool = True,
) -> Scores:
    """BLEU, METEOR, TER (and any requested optional metric) of one output per line of the references
    (default: the official test references); `java=False` leaves METEOR out."""
    check_metric_names(extra_metrics)
    streams = reference_streams or read_reference_streams(official_reference_files())
    if len(hypotheses) != len(streams[0]):
        raise UserError(f"{len(hypotheses)} outputs but the references have {len(streams[0])} lines")
    references = [[streams[0][k]] + [s[k] for s in streams[1:] if s[k]] for k in range(len(hypotheses))]
    with ExitStack() as stack:  # METEOR runs meanwhile
        meteor = (
            stack.enter_context(MeteorRun(hypotheses, references, max(METEOR_REFS, len(streams)))) if java else None
        )
        scores = Scores({"BLEU": multi_bleu(hypotheses, streams)})
        ter = corpus_ter(hypotheses, references)
        if meteor is not None:
            scores["METEOR"] = meteor.score()
    scores["TER"] = ter
    every_reference = [[s[k] for s in streams] for k in range(len(hypotheses))]
    return add_model_based_scores(scores, extra_metrics, hypotheses, every_reference)


def _in_protocol_form(hypotheses: Sequence[str], items, protocol: str) -> tuple[list[str], list[list[str]]]:
    """Outputs and the three reference streams as a protocol scores them ("paper": both tokenized)."""
    form = dart_tokenize if check_protocol(protocol) == "paper" else (lambda text: text)
    references = [[form(ref) for ref in item.references] for item in items]
    return [form(h) for h in hypotheses], as_streams(references, REFERENCE_FILES)


def score_items(hypotheses: Sequence[str], items, protocol: str = "paper", java: bool = True) -> Scores:
    """Scores of in-memory outputs against each `EvalItem`'s own references, the first three as in the
    three official files; under "paper" both sides in the official references' form (for the test
    items this is the official files exactly)."""
    outputs, streams = _in_protocol_form(hypotheses, items, protocol)
    return score_dart(outputs, streams, java=java)


def item_stats(hypotheses: Sequence[str], items, protocol: str = "paper") -> dict:
    """BLEU's per-item statistics (scoring/item_stats.py), as `score_items` scores them."""
    outputs, streams = _in_protocol_form(hypotheses, items, protocol)
    return {"ids": item_ids(items), "columns": {"BLEU": column("multi_bleu", multi_bleu_rows(outputs, streams, False))}}


def score_file(
    hyps_path: Path,
    refs_paths: list[Path] | None,
    split: str | None,
    protocol: str = "challenge",
    extra_metrics: Sequence[str] = (),
) -> Scores:
    """`python -m prefix_tuning.score --task dart` (DART has one test set: `split` must be empty or "test")."""
    if split not in (None, "test"):
        raise UserError(f"DART has no split {split!r}; its official scoring is on the test set")
    streams = read_reference_streams(refs_paths or official_reference_files())
    hypotheses = read_hypotheses(hyps_path, len(streams[0]))
    if check_protocol(protocol) == "paper":
        hypotheses = [dart_tokenize(h) for h in hypotheses]
    return score_dart(hypotheses, streams, extra_metrics)
