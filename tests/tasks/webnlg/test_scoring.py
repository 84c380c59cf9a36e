"""WebNLG 2017 scoring: the challenge's numbers on BART-large's output, its preprocessing, multi-bleu."""

import json
import math

import pytest

from prefix_tuning import score
from prefix_tuning.paths import data_file
from prefix_tuning.scoring.multi_bleu import multi_bleu, read_reference_streams
from prefix_tuning.scoring.text_files import read_lines
from prefix_tuning.tasks.webnlg import data
from prefix_tuning.tasks.webnlg import scoring as webnlg

FIXTURE = ("eval_fixtures", "webnlg2017", "bart-large_webnlg-all.txt")  # under the data dir
# challenge scripts (evaluation.py + multi-bleu.perl -lc, 3 references) on this output (data/SOURCES.md)
OFFICIAL_BLEU = {"all": 58.06, "seen": 64.51, "unseen": 50.20}


@pytest.mark.needs_data("webnlg2017", "eval_fixtures")
@pytest.mark.parametrize("split", OFFICIAL_BLEU)
def test_bart_large_output_gets_the_official_bleu(split):
    outputs = [webnlg.challenge_hypothesis(line) for line in webnlg.split_lines(read_lines(data_file(*FIXTURE)), split)]
    streams = read_reference_streams(webnlg.official_reference_files(split))
    assert multi_bleu(outputs, streams, lowercase=True) == pytest.approx(OFFICIAL_BLEU[split], abs=0.01)


@pytest.mark.needs_java
@pytest.mark.needs_data("webnlg2017", "eval_fixtures")
@pytest.mark.slow
def test_score_cli_scores_the_seen_split(tmp_path, capsys):
    out = tmp_path / "seen.json"
    score.main(["--task", "webnlg", "--split", "seen", "--hyps", str(data_file(*FIXTURE)), "--json", str(out)])
    scores = json.loads(out.read_text())
    assert scores.pop("protocol") == "challenge"
    assert list(scores) == ["BLEU", "METEOR", "TER"]
    assert scores["BLEU"] == pytest.approx(OFFICIAL_BLEU["seen"], abs=0.01)
    assert 0.3 < scores["METEOR"] < 0.6 and 0.2 < scores["TER"] < 0.6
    assert "webnlg (seen)" in capsys.readouterr().out


@pytest.mark.needs_java
@pytest.mark.needs_data("webnlg2017", "eval_fixtures")
@pytest.mark.slow
def test_score_items_gives_the_paper_seen_unseen_all_columns():
    scores = webnlg.score_items(read_lines(data_file(*FIXTURE)), data.load_eval("test"))
    assert list(scores) == [
        f"{metric}{suffix}" for suffix in ("", "_seen", "_unseen") for metric in ("BLEU", "METEOR", "TER")
    ]
    for split, suffix in (("all", ""), ("seen", "_seen"), ("unseen", "_unseen")):
        assert scores[f"BLEU{suffix}"] == pytest.approx(OFFICIAL_BLEU[split], abs=0.01)
    # corpus TER adds edits and words, so the whole lies between its parts
    assert min(scores["TER_seen"], scores["TER_unseen"]) < scores["TER"] < max(scores["TER_seen"], scores["TER_unseen"])


@pytest.mark.needs_data("webnlg2017", "eval_fixtures")
@pytest.mark.parametrize(("split", "name"), [("test", "all"), ("test_seen", "seen"), ("test_unseen", "unseen")])
def test_reference_preprocessing_rebuilds_the_official_reference_files(split, name):
    items = data.load_eval(split)
    assert webnlg.reference_streams([item.references for item in items]) == read_reference_streams(
        webnlg.official_reference_files(name)
    )


@pytest.mark.needs_data("webnlg2017", "eval_fixtures")
def test_meteor_and_ter_references_are_the_official_3ref_files():
    streams = read_reference_streams(webnlg.official_reference_files("all"))
    per_output = [[s[k] for s in streams if s[k]] for k in range(len(streams[0]))]
    meteor_lines = [line for refs in per_output for line in refs + [""] * (3 - len(refs))]
    ter_lines = [f"{ref} (id{k + 1})" for k, refs in enumerate(per_output) for ref in refs]
    folder = ("webnlg2017", "references")
    assert meteor_lines == read_lines(data_file(*folder, "gold-all-cat-reference-3ref.meteor"))
    assert ter_lines == read_lines(data_file(*folder, "gold-all-cat-reference-3ref.ter"))


def test_challenge_preprocessing():
    assert webnlg.challenge_hypothesis("  Adolfo Suárez Madrid–Barajas Airport's runway is 18L/36R. ") == (
        "adolfo suarez madrid - barajas airport ' s runway is 18l / 36r ."
    )
    # references split on non-word characters before transliteration, outputs after it
    assert webnlg.challenge_reference("Price: 5€") == "price : 5 EUR"
    assert webnlg.challenge_hypothesis("Price: 5€") == "price : 5eur"


@pytest.mark.needs_data("webnlg2017", "eval_fixtures")
def test_split_lines_picks_seen_and_unseen_in_order():
    lines = [f"line {k}" for k in range(1862)]
    seen, unseen = webnlg.split_lines(lines, "seen"), webnlg.split_lines(lines, "unseen")
    assert (len(seen), len(unseen)) == (971, 891)
    assert sorted(seen + unseen, key=lambda line: int(line.split()[1])) == lines
    assert seen[0] == "line 0" and unseen[0] == f"line {[i.meta['seen'] for i in data.load_eval('test')].index(False)}"


def test_multi_bleu_lowercases_ascii_only_and_ties_go_to_the_shorter_reference():
    refs = [["the cat sat on the mat"]]
    assert multi_bleu(["The Cat sat on the mat"], refs, lowercase=True) == pytest.approx(100)
    assert multi_bleu(["The Cat sat on the mat"], refs) < 100
    assert multi_bleu(["Élan vital is a word"], [["élan vital is a word"]], lowercase=True) < 100
    # hypothesis of 5 words, references of 4 and 6 words: the shorter is closest, so no brevity penalty
    assert multi_bleu(["a b c d e"], [["a b c d"], ["u v w x y z"]]) == pytest.approx(
        100 * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    )


def test_multi_bleu_counts_an_empty_reference_line_for_the_closest_length():
    hyps, first = ["a b c d", "w x y z"], ["a b c d e f g h i j", "w x y z"]
    assert multi_bleu(hyps, [first]) == pytest.approx(100 * math.exp(1 - 14 / 8))
    # the empty line is the closest length (0) for the first output: 4 reference words in all, no penalty
    assert multi_bleu(hyps, [first, ["", "w x y z"]]) == pytest.approx(100)


@pytest.mark.needs_data("webnlg2017", "eval_fixtures")
@pytest.mark.parametrize(
    "args, words",
    [
        (["--hyps", "{short}"], ["has 1 lines", "1862 items"]),
        (["--hyps", "{fixture}", "--split", "old"], ["unknown WebNLG split 'old'"]),
        (["--hyps", "{short}", "--refs", "{short}", "--split", "seen"], ["--split picks official references"]),
        (["--hyps", "{fixture}", "--extra-metrics", "BERTScore"], ["task 'webnlg' has no optional metrics"]),
    ],
)
def test_cli_rejects_bad_input(tmp_path, args, words, run_module, assert_user_error):
    short = tmp_path / "short.txt"
    short.write_text("one output\n")
    paths = {"short": short, "fixture": data_file(*FIXTURE)}
    result = run_module("prefix_tuning.score", "--task", "webnlg", *[a.format(**paths) for a in args])
    assert_user_error(result, *words)
