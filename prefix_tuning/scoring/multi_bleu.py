"""Corpus BLEU as Moses' multi-bleu.perl computes it (with or without its -lc option), through sacrebleu.

sacrebleu's BLEU with no tokenization and no smoothing is multi-bleu.perl's (closest reference length,
ties to the shorter; clipped counts over all references; an empty reference line is a candidate
length; any empty n-gram precision gives 0). Two steps keep the perl script's byte semantics: its
`lc` lowercases ASCII letters only, and its `split` cuts on ASCII whitespace only (Python's split
also cuts on non-ASCII spaces, so those are mapped to private-use characters that stay inside a word).
Checked: the WebNLG and DART fixtures' official BLEU to 1e-12, and 3,000 random cases (empty
references, Unicode case and spaces) against a line-by-line transcription of the perl script.
"""

import re
from collections.abc import Sequence
from pathlib import Path

from sacrebleu.metrics import BLEU

from prefix_tuning.errors import UserError
from prefix_tuning.scoring.text_files import read_lines

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NON_ASCII_WHITESPACE = re.compile(r"[^\S \t\n\r\f\v]")
_PRIVATE_USE = 0xF0000


def perl_words(line: str, lowercase: bool) -> str:
    """`line` such that Python's split() and sacrebleu see the words multi-bleu.perl sees."""
    if lowercase:
        line = line.translate(_ASCII_LOWER)
    return _NON_ASCII_WHITESPACE.sub(lambda m: chr(_PRIVATE_USE + ord(m.group())), line)


def read_reference_streams(paths: Sequence[Path]) -> list[list[str]]:
    """Parallel reference files as multi-bleu.perl takes them (line k of every file: the references
    of output k; an empty line: no reference), checked to have the same number of lines."""
    streams = [read_lines(path, "reference file") for path in paths]
    for path, stream in zip(paths, streams):
        if len(stream) != len(streams[0]):
            raise UserError(f"reference file {path} has {len(stream)} lines but {paths[0]} has {len(streams[0])}")
    return streams


def as_streams(references: Sequence[Sequence[str]], count: int) -> list[list[str]]:
    """Per-output reference lists -> `count` parallel streams: the first `count` references of each
    output, an empty line where it has fewer (the layout of the official reference files)."""
    return [[refs[k] if k < len(refs) else "" for refs in references] for k in range(count)]


def multi_bleu_metric() -> BLEU:
    """sacrebleu's BLEU set up as multi-bleu.perl: no tokenization, no smoothing."""
    return BLEU(tokenize="none", smooth_method="none", force=True)


def multi_bleu(hypotheses: Sequence[str], reference_streams: Sequence[Sequence[str]], lowercase: bool = False) -> float:
    """BLEU on multi-bleu.perl's 0-100 scale (unrounded; the script prints it with 2 decimals).

    `reference_streams` are the reference files: stream r holds reference r of every hypothesis.
    """
    for stream in reference_streams:
        if len(stream) != len(hypotheses):
            raise ValueError(f"a reference stream has {len(stream)} lines for {len(hypotheses)} hypotheses")
    if not hypotheses:
        return 0.0
    bleu = multi_bleu_metric()
    hyps = [perl_words(h, lowercase) for h in hypotheses]
    refs = [[perl_words(r, lowercase) for r in stream] for stream in reference_streams]
    return float(bleu.corpus_score(hyps, refs).score)
