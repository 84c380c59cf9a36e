"""Corpus BLEU and NIST as the E2E challenge script computes them.

`measure_scores.py -p` (tuetschek/e2e-metrics) scores with `metrics/pymteval.py`, a Python port of
mteval-v13a.pl: the same tokenization and n-gram statistics, matching case-insensitively. Two
corner cases follow the port rather than the Perl script, because the port's numbers are the
ones we must reproduce: a hypothesis shorter than n tokens adds `len - n + 1` (negative) to the
n-gram count, and an n-gram order without any match gets a tiny floor instead of Perl's 1/2^k
smoothing. NIST divides the reference length per item by that item's reference count (the port's
choice; Perl pads missing references and divides by the largest count).

Why not sacrebleu: its 13a BLEU equals this one on ordinary outputs (checked: the tgen fixture, to
1e-15) but not on outputs shorter than 4 tokens (e.g. 0.5134 vs the port's 0.5517 on a two-line case
with a 2-token output), which early or degenerate runs do produce; and it has no NIST.
"""

import math
import re
from collections import Counter

Tokens = list[str]

# mteval-v13a `tokenization` (the non-international one), line by line.
_SGML_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
_PUNCTUATION = re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])")
_PERIOD_COMMA_AFTER_NON_DIGIT = re.compile(r"([^0-9])([\.,])")
_PERIOD_COMMA_BEFORE_NON_DIGIT = re.compile(r"([\.,])([^0-9])")
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")
_SPACES = re.compile(r"\s+")

# NIST brevity penalty: a 0.5 factor when the output is 1.5 times shorter than the references.
_NIST_BETA = -math.log(0.5) / math.log(1.5) ** 2
# pymteval's floors that keep log-precision defined when an n-gram order has no match or no n-gram.
BLEU_TINY_HITS = 1e-15
BLEU_SMALL_COUNT = 1e-9
BLEU_EMPTY_LENGTH = 1e-5


def tokenize(text: str) -> Tokens:
    """mteval-v13a tokens of a sentence, lowercased. An empty sentence is one empty token, as in the port."""
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    for entity, char in _SGML_ENTITIES:
        text = text.replace(entity, char)
    text = _PUNCTUATION.sub(r" \1 ", f" {text} ")
    text = _PERIOD_COMMA_AFTER_NON_DIGIT.sub(r"\1 \2 ", text)
    text = _PERIOD_COMMA_BEFORE_NON_DIGIT.sub(r" \1 \2", text)
    text = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", text)
    return [token.lower() for token in _SPACES.sub(" ", text).strip().split(" ")]


def ngram_counts(tokens: Tokens, n: int) -> Counter:
    """How often each n-gram (a tuple of n tokens) occurs in a sentence."""
    return Counter(zip(*(tokens[i:] for i in range(n))))


def clipped_matches(hypothesis: Tokens, references: list[Tokens], n: int) -> Counter:
    """Hypothesis n-grams found in the references, each counted at most as often as in the one reference
    that has it most often."""
    most_in_a_reference = Counter()
    for reference in references:
        most_in_a_reference |= ngram_counts(reference, n)
    return ngram_counts(hypothesis, n) & most_in_a_reference


def tokenized(hypotheses: list[str], references: list[list[str]]) -> list[tuple[Tokens, list[Tokens]]]:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    if any(not refs for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    return [(tokenize(hyp), [tokenize(ref) for ref in refs]) for hyp, refs in zip(hypotheses, references)]


def corpus_bleu(hypotheses: list[str], references: list[list[str]], max_n: int = 4) -> float:
    """Corpus BLEU on the 0-1 scale: clipped n-gram precisions up to `max_n` over the whole corpus, and a
    brevity penalty against the reference closest in length to each hypothesis (the shorter on a tie)."""
    hits = [0] * max_n
    counts = [0] * max_n
    reference_length = 0
    for hyp, refs in tokenized(hypotheses, references):
        for n in range(1, max_n + 1):
            hits[n - 1] += sum(clipped_matches(hyp, refs, n).values())
            counts[n - 1] += len(hyp) - n + 1
        reference_length += min((len(ref) for ref in refs), key=lambda length: (abs(length - len(hyp)), length))
    hypothesis_length = counts[0]
    brevity = 1.0
    if hypothesis_length <= reference_length:
        brevity = math.exp(1.0 - reference_length / (hypothesis_length or BLEU_EMPTY_LENGTH))
    log_precision = sum(
        math.log(max(hit, BLEU_TINY_HITS) / max(count, BLEU_SMALL_COUNT)) for hit, count in zip(hits, counts)
    )
    return brevity * math.exp(log_precision / max_n)


def _nist_brevity(ratio: float) -> float:
    if ratio >= 1:
        return 1.0
    if ratio <= 0:
        return 0.0
    return math.exp(-_NIST_BETA * math.log(ratio) ** 2)


def corpus_nist(hypotheses: list[str], references: list[list[str]], max_n: int = 5) -> float:
    """Corpus NIST: matched n-grams (up to `max_n`) weighted by their information in the references,
    log2(count(first n-1 words) / count(n-gram)), times the NIST length penalty."""
    reference_ngrams = Counter()  # over all references of the corpus; () counts every reference word
    matches = Counter()  # clipped matches over the corpus, keyed by n-gram
    counts = [0] * max_n
    average_reference_length = 0.0
    for hyp, refs in tokenized(hypotheses, references):
        for n in range(1, max_n + 1):
            matches.update(clipped_matches(hyp, refs, n))
            counts[n - 1] += len(hyp) - n + 1
            for ref in refs:
                reference_ngrams.update(ngram_counts(ref, n))
        words = sum(len(ref) for ref in refs)
        reference_ngrams[()] += words
        average_reference_length += words / len(refs)
    information = [0.0] * max_n
    for ngram, hits in matches.items():
        information[len(ngram) - 1] += hits * math.log2(reference_ngrams[ngram[:-1]] / reference_ngrams[ngram])
    # max(count, 1) is mteval-v13a's guard; it only acts when no hypothesis has n tokens.
    score = sum(info / max(count, 1) for info, count in zip(information, counts))
    return score * _nist_brevity(counts[0] / average_reference_length)
