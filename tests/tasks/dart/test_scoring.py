"""DART scoring: the official numbers on BART-large's output, tercom's TER, optional metrics, the CLI."""

import json
import random
import sys

import pytest

from prefix_tuning import score
from prefix_tuning.paths import data_file
from prefix_tuning.scoring import ter
from prefix_tuning.scoring.model_based import Scores, add_model_based_scores
from prefix_tuning.scoring.multi_bleu import multi_bleu, read_reference_streams
from prefix_tuning.scoring.text_files import read_lines
from prefix_tuning.tasks.dart import scoring as dart

FIXTURE = ("eval_fixtures", "dart", "bart-large_dart.txt")  # under the data dir
# DART's run_eval_on_dart.sh on this output: multi-bleu.perl, METEOR 1.5 -r 8, tercom 0.7.25 (data/SOURCES.md)
OFFICIAL = {"BLEU": 48.56, "METEOR": 0.3922, "TER": 0.4470}
TOLERANCE = {"BLEU": 0.01, "METEOR": 0.001, "TER": 0.002}


@pytest.mark.needs_java
@pytest.mark.needs_data("dart", "eval_fixtures")
@pytest.mark.slow
def test_bart_large_output_gets_the_official_scores():
    scores = dart.score_file(data_file(*FIXTURE), None, None)
    assert list(scores) == list(OFFICIAL)
    for name, official in OFFICIAL.items():
        assert scores[name] == pytest.approx(official, abs=TOLERANCE[name]), name


# Edit counts from tercom 0.7.25's algorithm (TERcalc.java), which the DART/WebNLG scripts run.
@pytest.mark.parametrize(
    ("hyp", "ref", "edits"),
    [
        ("a b c d e f", "d e f a b c", 1),  # one shift of a 3-word block
        ("the cat sat on the mat", "on the mat the cat sat", 1),
        ("A B", " a b ", 0),  # case-insensitive, trimmed
        ("", "a b", 2),
        ("x y z", "", 3),
    ],
)
def test_tercom_edit_counts(hyp, ref, edits):
    assert ter.segment_stats(hyp, [ref]) == (edits, len(ref.split()))


@pytest.mark.needs_data("dart", "eval_fixtures")
@pytest.mark.parametrize(("line", "edits"), [(1235, 35), (1317, 42)])
def test_tercom_beam_search_counts_more_than_plain_edit_distance(line, edits):
    # long references where tercom's beam (width 20) prunes the optimal path; sacrebleu's TER differs here
    hyp, ref = (
        read_lines(data_file(*FIXTURE))[line],
        read_lines(data_file("dart", "references", "all-delex-reference0.lex"))[line],
    )
    assert ter.segment_stats(hyp, [ref]) == (edits, len(ref.split()))
    words = ter.tercom_tokens(ref)
    assert (
        ter._levenshtein(ter.tercom_tokens(hyp), ter._word_masks(words), len(words))
        < ter._Search(ter.tercom_tokens(hyp), words).edits
    )


def test_several_references_take_the_best_edits_over_the_average_length():
    assert ter.segment_stats("a b c", ["a b c d e", "x y", "a b c"]) == (0, 10 / 3)
    assert ter.corpus_ter(["a b c", "x"], [["a b d"], ["x", "y z"]]) == pytest.approx(1 / (3 + 1.5))


def test_bit_parallel_edit_distance_is_levenshtein():
    def levenshtein(a, b):
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            prev, row[0] = row[0], i
            for j, y in enumerate(b, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
        return row[-1]

    rng = random.Random(0)
    for _ in range(2000):
        hyp = rng.choices("abcde", k=rng.randint(1, 15))
        ref = rng.choices("abcde", k=rng.randint(1, 80))
        assert ter._levenshtein(hyp, ter._word_masks(ref), len(ref)) == levenshtein(ref, hyp)


@pytest.mark.needs_data("dart", "eval_fixtures")
def test_parallel_and_serial_ter_agree_exactly():
    hyps = read_lines(data_file(*FIXTURE))[:60]
    refs = [[r] for r in read_lines(data_file("dart", "references", "all-delex-reference0.lex"))[:60]]
    assert ter.corpus_ter(hyps, refs, processes=2) == ter.corpus_ter(hyps, refs, processes=1)


@pytest.mark.needs_java
def test_optional_metrics_are_reported_as_not_computed(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "bert_score", None)  # an import of it fails
    scores = add_model_based_scores(Scores({"BLEU": 1.0}), ["BERTScore"], ["a"], [["a"]])
    assert dict(scores) == {"BLEU": 1.0} and "bert_score" in scores.not_computed["BERTScore"]
    assert "BERTScore  not computed (cannot import bert_score" in score.format_table(scores)

    files = {name: tmp_path / f"{name}.txt" for name in ("hyps", "ref0", "ref1", "ref2")}
    files["hyps"].write_text("the cat sat on the mat .\na dog barked loudly .\n")
    files["ref0"].write_text("the cat sat on the mat .\na dog barked .\n")
    files["ref1"].write_text("a cat sat on a mat .\n\n")
    files["ref2"].write_text("\n\n")
    out = tmp_path / "scores.json"
    refs = [str(files[f"ref{k}"]) for k in range(3)]
    score.main(
        [
            "--task",
            "dart",
            "--hyps",
            str(files["hyps"]),
            "--refs",
            *refs,
            "--extra-metrics",
            "BERTScore",
            "--json",
            str(out),
        ]
    )
    assert list(json.loads(out.read_text())) == ["BLEU", "METEOR", "TER", "protocol"]  # no placeholder number
    assert "not computed" in capsys.readouterr().out


@pytest.mark.needs_java
@pytest.mark.needs_data("dart", "eval_fixtures")
def test_score_items_uses_the_first_three_references_in_the_protocols_form():
    from prefix_tuning.tasks.dart.data import load_eval

    items = [item for item in load_eval("dev") if len(item.references) > 3][:4]
    outputs = [item.references[-1] for item in items]  # a reference beyond the third: not matched exactly
    for protocol, form in (("challenge", lambda text: text), ("paper", dart.dart_tokenize)):
        scores = dart.score_items(outputs, items, protocol)
        assert list(scores) == ["BLEU", "METEOR", "TER"]
        first_three = [[form(item.references[k]) for item in items] for k in range(3)]
        assert scores["BLEU"] == pytest.approx(multi_bleu([form(o) for o in outputs], first_three))
        assert scores["BLEU"] < 100 and scores["TER"] > 0


@pytest.mark.needs_data("dart", "eval_fixtures")
@pytest.mark.parametrize(
    "args, words",
    [
        (["--hyps", "{short}"], ["has 1 lines", "5097 items"]),
        (["--hyps", "{fixture}", "--split", "seen"], ["DART has no split 'seen'"]),
        (["--hyps", "{missing}"], ["system output not found"]),
        (["--hyps", "{short}", "--refs", "{short}", "{fixture}"], ["has 5097 lines but", "has 1"]),
        (["--hyps", "{fixture}", "--extra-metrics", "BLEU"], ["unknown optional metric 'BLEU'"]),
    ],
)
def test_cli_rejects_bad_input(tmp_path, args, words, run_module, assert_user_error):
    short = tmp_path / "short.txt"
    short.write_text("one output\n")
    paths = {"short": short, "missing": tmp_path / "missing.txt", "fixture": data_file(*FIXTURE)}
    result = run_module("prefix_tuning.score", "--task", "dart", *[a.format(**paths) for a in args])
    assert_user_error(result, *words)


@pytest.mark.needs_data("dart", "eval_fixtures")
def test_paper_form_of_the_release_references_is_the_official_reference_file():
    """dart_tokenize of each test entry's first release reference rebuilds all-delex-reference0.lex exactly."""
    from prefix_tuning.tasks.dart.data import load_eval

    official = read_lines(data_file("dart", "references", "all-delex-reference0.lex"))
    ours = [dart.dart_tokenize(item.references[0]) if item.references else "" for item in load_eval("test")]
    assert len(ours) == 5097 and ours == official
    assert (
        dart.dart_tokenize("Jeff Daniels played in the Hawaii Five-O episode.")
        == "jeff daniels played in the hawaii five - o episode ."
    )


@pytest.mark.needs_data("dart", "eval_fixtures")
def test_paper_protocol_puts_cased_outputs_in_the_references_form():
    """A cased, untokenized output scores as its paper form against the official references under "paper"."""
    refs = read_reference_streams(dart.official_reference_files())
    hyps = ["Jeff Daniels played in the Hawaii Five-O episode The Flight of the Jewels"] + refs[0][1:]
    official = [dart.dart_tokenize(hyps[0])] + refs[0][1:]
    assert multi_bleu([dart.dart_tokenize(h) for h in hyps], refs) == pytest.approx(multi_bleu(official, refs))
    assert multi_bleu(hyps, refs) < multi_bleu(official, refs)
