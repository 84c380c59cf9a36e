"""METEOR 1.5 (Denkowski & Lavie 2014) with the jar that pycocoevalcap ships, run as the official
WebNLG and DART scripts run it: `java -Xmx2G -jar meteor-1.5.jar HYPS REFS -l en -norm -r N`, where
REFS holds N lines per hypothesis (its references, then empty lines up to N). One JVM call scores
the whole corpus; the result is its "Final score" line (0-1 scale).
"""

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from prefix_tuning.scoring.coco_caption import METEOR_JAR, java


def _one_line(text: str) -> str:
    # a line break inside a text would shift every later line of METEOR's line-aligned files
    return text.replace("\r", " ").replace("\n", " ")


class MeteorRun:
    """One METEOR run over a corpus, started in the background at construction so that other metrics
    can be computed meanwhile; `score()` waits for it. Use it as a context manager: leaving the block
    ends a run still going. `hypotheses[k]` is scored against `references[k]`, padded with empty
    references up to `refs_per_hypothesis`, as the official scripts pad their reference files."""

    def __init__(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], refs_per_hypothesis: int):
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
        if any(len(refs) > refs_per_hypothesis for refs in references):
            raise ValueError(f"more than {refs_per_hypothesis} references for a hypothesis")
        self._folder = tempfile.TemporaryDirectory(prefix="meteor-")
        folder = Path(self._folder.name)
        (folder / "hyps.txt").write_text("".join(_one_line(h) + "\n" for h in hypotheses), encoding="utf-8")
        padded = [[*refs, *[""] * (refs_per_hypothesis - len(refs))] for refs in references]
        (folder / "refs.txt").write_text(
            "".join(_one_line(r) + "\n" for refs in padded for r in refs), encoding="utf-8"
        )
        files = [str(folder / "hyps.txt"), str(folder / "refs.txt")]
        command = [java(), "-Xmx2G", "-Dfile.encoding=UTF-8", "-jar", str(METEOR_JAR), *files]
        command += ["-l", "en", "-norm", "-r", str(refs_per_hypothesis)]
        # output to a file, not a pipe: nobody reads a pipe while the run goes on, and it would fill
        self._output = open(folder / "output.txt", "w+", encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        self._process = subprocess.Popen(command, cwd=METEOR_JAR.parent, stdout=self._output, stderr=subprocess.STDOUT)

    def __enter__(self) -> "MeteorRun":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._output.close()
        self._folder.cleanup()

    def score(self) -> float:
        """The corpus METEOR score (waits for the run to end)."""
        returncode = self._process.wait()
        self._output.seek(0)
        lines = self._output.read().splitlines()
        for line in reversed(lines):
            if line.startswith("Final score:"):
                return float(line.split(":", 1)[1])
        raise RuntimeError(f"METEOR gave no final score (exit {returncode}): {' | '.join(lines[-5:])}")


def meteor_score(hypotheses: Sequence[str], references: Sequence[Sequence[str]], refs_per_hypothesis: int) -> float:
    """Corpus METEOR of `hypotheses[k]` against `references[k]` (see `MeteorRun`)."""
    with MeteorRun(hypotheses, references, refs_per_hypothesis) as run:
        return run.score()
