"""Corpus BLEU exactly as Moses' multi-bleu.perl computes it, with its -lc option.

multi-bleu.perl reads raw bytes: its `lc` lowercases ASCII letters only and its `split` cuts on
ASCII whitespace, so we do the same. Each reference file gives each hypothesis one reference; an
empty line is an empty reference, which still counts as a candidate for the closest reference
length (ties go to the shorter one). Clipped n-gram counts use the maximum count over references.
"""

import math
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

from prefix_tuning.errors import UserError
from prefix_tuning.metrics.system_output import read_lines

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PERL_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
MAX_ORDER = 4


def perl_tokens(line: str, lowercase: bool) -> list[str]:
    """The words multi-bleu.perl sees in one line."""
    if lowercase:
        line = line.translate(_ASCII_LOWER)
    return [word for word in _PERL_WHITESPACE.split(line) if word]


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


def _ngrams(words: list[str]) -> Counter:
    return Counter(tuple(words[k : k + n]) for n in range(1, MAX_ORDER + 1) for k in range(len(words) - n + 1))


def multi_bleu(hypotheses: Sequence[str], reference_streams: Sequence[Sequence[str]], lowercase: bool = False) -> float:
    """BLEU on multi-bleu.perl's 0-100 scale (unrounded; the script prints it with 2 decimals).

    `reference_streams` are the reference files: stream r holds reference r of every hypothesis.
    """
    for stream in reference_streams:
        if len(stream) != len(hypotheses):
            raise ValueError(f"a reference stream has {len(stream)} lines for {len(hypotheses)} hypotheses")
    correct = [0] * (MAX_ORDER + 1)
    total = [0] * (MAX_ORDER + 1)
    hyp_length = ref_length = 0
    for k, hypothesis in enumerate(hypotheses):
        words = perl_tokens(hypothesis, lowercase)
        max_ref_counts: Counter = Counter()
        closest_diff, closest_length = None, 0
        for stream in reference_streams:
            ref_words = perl_tokens(stream[k], lowercase)
            diff = abs(len(words) - len(ref_words))
            if closest_diff is None or diff < closest_diff or (diff == closest_diff and len(ref_words) < closest_length):
                closest_diff, closest_length = diff, len(ref_words)
            max_ref_counts |= _ngrams(ref_words)
        hyp_length += len(words)
        ref_length += closest_length
        for ngram, count in _ngrams(words).items():
            total[len(ngram)] += count
            correct[len(ngram)] += min(count, max_ref_counts[ngram])
    if ref_length == 0 or hyp_length == 0:
        return 0.0
    # multi-bleu.perl takes log(0) as -9999999999, so any empty precision gives BLEU 0
    log_precisions = [math.log(correct[n] / total[n]) if correct[n] else -9999999999.0 for n in range(1, MAX_ORDER + 1)]
    brevity_penalty = math.exp(1 - ref_length / hyp_length) if hyp_length < ref_length else 1.0
    return 100 * brevity_penalty * math.exp(sum(log_precisions) / MAX_ORDER)
