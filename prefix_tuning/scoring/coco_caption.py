"""METEOR, ROUGE-L and CIDEr as the COCO caption evaluation (pycocoevalcap) computes them.

This is what e2e-metrics' `measure_scores.py` runs: every hypothesis and reference goes through
Stanford CoreNLP 3.4.1's PTBTokenizer (`-preserveLines -lowerCase`) and loses its punctuation
tokens, then METEOR 1.5 (`-l en -norm`, one JVM for the corpus), ROUGE-L (beta 1.2, best reference)
and CIDEr (document frequencies from this corpus' references) score the tokenized text.
We call the jars pycocoevalcap ships ourselves, so no temporary file lands in site-packages and
the JVMs are always ended.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor import meteor as pycoco_meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer import ptbtokenizer

from prefix_tuning.errors import UserError

TOKENIZER_JAR = Path(ptbtokenizer.__file__).parent / ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR
METEOR_JAR = Path(pycoco_meteor.__file__).parent / pycoco_meteor.METEOR_JAR
PUNCTUATION_TOKENS = frozenset(ptbtokenizer.PUNCTUATIONS)


def java() -> str:
    """Path of the `java` executable; a UserError if there is none."""
    path = shutil.which("java")
    if path is None:
        raise UserError(
            "METEOR and the PTB tokenizer need a Java runtime (JRE 8 or newer): install one so `java` is on PATH"
        )
    return path


def ptb_tokenize(sentences: list[str]) -> list[str]:
    """Each sentence lowercased and PTB-tokenized, punctuation tokens dropped, in one JVM run."""
    if not sentences:
        return []
    # One sentence per line: any line break inside a sentence would shift every later sentence.
    text = "\n".join(" ".join(sentence.splitlines()) for sentence in sentences)
    command = [
        java(),
        "-cp",
        str(TOKENIZER_JAR),
        "edu.stanford.nlp.process.PTBTokenizer",
        "-preserveLines",
        "-lowerCase",
    ]
    result = subprocess.run(command, input=text, capture_output=True, encoding="utf-8")
    lines = result.stdout.split("\n")  # the tokenizer keeps the input's line breaks, adding none
    if result.returncode != 0 or len(lines) != len(sentences):
        raise RuntimeError(
            f"PTB tokenizer gave {len(lines)} lines for {len(sentences)} sentences "
            f"(exit {result.returncode}): {result.stderr.strip()[-500:]}"
        )
    return [" ".join(token for token in line.rstrip().split(" ") if token not in PUNCTUATION_TOKENS) for line in lines]


def _meteor_field(text: str) -> str:
    # `|||` separates fields in METEOR's stdio protocol (pycocoevalcap cleans the hypothesis this way).
    return text.replace("|||", "").replace("  ", " ")


def meteor(hypotheses: list[str], references: list[list[str]]) -> float:
    """Corpus METEOR 1.5 (`-l en -norm`) of tokenized text: statistics per item, then one aggregate score."""
    command = [java(), "-jar", "-Xmx2G", str(METEOR_JAR), "-", "-", "-stdio", "-l", "en", "-norm"]
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            command,
            cwd=METEOR_JAR.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            encoding="utf-8",
        ) as process,
    ):

        def send(fields: list[str]) -> None:
            process.stdin.write(" ||| ".join(fields) + "\n")
            process.stdin.flush()

        def read() -> str:
            answer = process.stdout.readline()
            if not answer:
                errors.seek(0)
                raise RuntimeError(f"METEOR stopped: {errors.read().decode(errors='replace').strip()[-500:]}")
            return answer.strip()

        try:
            stats = []
            for hyp, refs in zip(hypotheses, references):
                send(["SCORE", *map(_meteor_field, refs), _meteor_field(hyp)])
                stats.append(read())
            send(["EVAL", *stats])
            for _ in stats:  # per-item scores come first; the corpus score is the last line
                read()
            return float(read())
        finally:
            process.kill()  # the jar would wait for more input; Popen's exit then reaps it


def coco_scores(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """METEOR, ROUGE_L (0-1) and CIDEr (pycocoevalcap's x10 scale) of raw hypotheses against raw references."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    tokenized = ptb_tokenize(list(hypotheses) + [ref for refs in references for ref in refs])
    hyps, tokenized_refs = tokenized[: len(hypotheses)], iter(tokenized[len(hypotheses) :])
    refs = [[next(tokenized_refs) for _ in item] for item in references]
    gts = dict(enumerate(refs))
    res = {i: [hyp] for i, hyp in enumerate(hyps)}
    return {
        "METEOR": meteor(hyps, refs),
        "ROUGE_L": float(Rouge().compute_score(gts, res)[0]),
        "CIDEr": float(Cider().compute_score(gts, res)[0]),
    }
