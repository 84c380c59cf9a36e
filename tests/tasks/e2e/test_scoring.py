"""E2E metrics: the official script's numbers on a real system output, hand-derived BLEU/NIST, the score CLI."""

import json
import math

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.scoring import coco_caption
from prefix_tuning.scoring.mteval import corpus_bleu, corpus_nist, tokenize
from prefix_tuning.scoring.text_files import read_lines
from prefix_tuning.tasks.e2e.data import load_eval
from prefix_tuning.tasks.e2e.data import tokenize as e2e_tokenize
from prefix_tuning.tasks.e2e.scoring import item_references, load_references, score_file

# tuetschek/e2e-metrics `measure_scores.py -p` on tgen-std.run0 against testset_w_refs.csv (data/SOURCES.md).
OFFICIAL_TGEN = {"BLEU": 0.6616, "NIST": 8.5446, "METEOR": 0.4504, "ROUGE_L": 0.6914, "CIDEr": 2.2312}

SMALL_REFS_CSV = """mr,ref
"name[The Eagle], eatType[coffee shop], priceRange[cheap]","The Eagle is a cheap coffee shop."
"name[The Eagle], eatType[coffee shop], priceRange[cheap]","A cheap coffee shop is The Eagle."
"name[Café Rouge], food[French]","Café Rouge serves French food."
"""


@pytest.mark.needs_java
@pytest.mark.needs_data("e2e", "eval_fixtures")
@pytest.mark.slow
def test_tgen_output_gets_the_official_scores():
    scores = score_file(data_file("eval_fixtures", "e2e", "tgen-std.run0.test-orig.txt"), None, None)
    assert list(scores) == list(OFFICIAL_TGEN)
    for name, official in OFFICIAL_TGEN.items():
        assert round(scores[name], 4) == pytest.approx(official, abs=1e-9), name


@pytest.mark.needs_data
def test_explicit_reference_file_gives_the_default_references():
    default = load_references()
    assert len(default) == 630 and sum(map(len, default)) == 4693
    assert load_references([data_file("e2e", "testset_w_refs.csv")]) == default


def test_tokenize_follows_mteval_v13a():
    assert tokenize("Hello, World. It costs £20-25 &amp; 3.5 (cheap)!") == (
        ["hello", ",", "world", ".", "it", "costs", "£20", "-", "25", "&", "3.5", "(", "cheap", ")", "!"]
    )


def test_bleu_is_one_for_a_reference_and_almost_zero_for_unrelated_words():
    refs = [["the cat sat on the mat", "a dog ran"]]
    assert corpus_bleu(["The cat sat on the mat"], refs) == pytest.approx(1.0)
    assert corpus_bleu(["green ideas sleep furiously"], refs) < 1e-10


def test_bleu_geometric_mean_of_clipped_precisions():
    # 1-4-gram matches 5/6, 3/5, 2/4, 1/3; same length as the reference, so no brevity penalty.
    bleu = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    assert bleu == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    # "the" clipped to twice, the most any one reference has it; the closest reference has 3 words.
    assert corpus_bleu(["the the the the"], [["the cat", "the the dog"]], max_n=1) == pytest.approx(0.5)


def test_bleu_brevity_penalty_uses_the_closest_reference_and_the_shorter_on_a_tie():
    assert corpus_bleu(["the cat sat on"], [["the cat sat on the mat"]]) == pytest.approx(math.exp(1 - 6 / 4))
    # references of 3 and 5 words are equally close to 4: the 3-word one counts, so no penalty.
    assert corpus_bleu(["the cat sat on"], [["the cat sat", "the cat sat on it"]]) == pytest.approx(1.0)


def test_nist_weights_matches_by_reference_information():
    # each reference word occurs once in 4 words: 2 bits; every longer n-gram is predictable: 0 bits.
    assert corpus_nist(["a b c d"], [["a b c d"]]) == pytest.approx(2.0)
    assert corpus_nist(["x y z"], [["a b c d"]]) == 0.0
    # half the reference length: NIST's penalty exp(-beta log(0.5)^2) with beta = -log(0.5) / log(1.5)^2.
    expected = 2.0 * math.exp(math.log(0.5) / math.log(1.5) ** 2 * math.log(0.5) ** 2)
    assert corpus_nist(["a b"], [["a b c d"]]) == pytest.approx(expected)


def test_missing_java_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="Java runtime"):
        coco_caption.java()


@pytest.mark.needs_java
def test_cli_scores_a_file_against_a_reference_csv(tmp_path, run_module):
    refs = tmp_path / "refs.csv"
    refs.write_text(SMALL_REFS_CSV, encoding="utf-8")
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("The Eagle is a cheap coffee shop.\nCafé Rouge serves French food.\n", encoding="utf-8")
    out = tmp_path / "scores.json"
    result = run_module("prefix_tuning.score", "--task", "e2e", "--hyps", hyps, "--refs", refs, "--json", out)
    assert result.returncode == 0, result.stderr
    scores = json.loads(out.read_text())
    assert list(scores) == ["BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr", "protocol"]
    assert scores["BLEU"] == pytest.approx(1.0) and scores["ROUGE_L"] == pytest.approx(1.0)


@pytest.mark.needs_data
def test_cli_rejects_a_wrong_line_count(tmp_path, run_module, assert_user_error):
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("one line\nand another\n", encoding="utf-8")
    result = run_module("prefix_tuning.score", "--task", "e2e", "--hyps", hyps)
    assert_user_error(result, "has 2 lines", "630 items")
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]


@pytest.mark.parametrize("bad", ["hyps", "refs"])
def test_cli_rejects_non_utf8_files(tmp_path, bad, run_module, assert_user_error):
    files = {"hyps": tmp_path / "hyps.txt", "refs": tmp_path / "refs.csv"}
    files["refs"].write_text(SMALL_REFS_CSV, encoding="utf-8")
    files["hyps"].write_text("The Eagle is a coffee shop.\nCafé Rouge is French.\n", encoding="utf-8")
    files[bad].write_bytes(files[bad].read_text(encoding="utf-8").encode("latin-1"))
    result = run_module("prefix_tuning.score", "--task", "e2e", "--hyps", files["hyps"], "--refs", files["refs"])
    assert_user_error(result, "is not UTF-8")


@pytest.mark.needs_data
def test_paper_protocol_scores_against_the_authors_tokenized_references():
    """The authors' first tokenized reference of each MR, scored as a system: 100 BLEU against the paper's
    (tokenized) references, as their gold file gives; against the raw CSV references it loses points."""
    items = load_eval("test")
    authors = [line.split("||", 1)[1].strip() for line in read_lines(data_file("e2e", "prefixtuning_src1_test.txt"))]
    assert [ref for item in items for ref in item.meta["tokenized_references"]] == authors
    system = [item.meta["tokenized_references"][0] for item in items]
    assert corpus_bleu(system, item_references(items, "paper")) == pytest.approx(1.0)
    assert corpus_bleu(system, item_references(items, "challenge")) < 0.95
    assert system[0] == "A coffee shop in the city centre area called Blue Spice ."
    # The training targets' tokenizer matches the authors' dev file on 99% of lines but their test file on 96.6%:
    # the two files were tokenized differently ("isn 't" in dev, PTB's "is n't" in test).
    ours = [e2e_tokenize(ref) for item in items for ref in item.references]
    assert sum(a == b for a, b in zip(ours, authors)) / len(authors) > 0.96


@pytest.mark.needs_java  # the CLI scores METEOR, ROUGE-L and CIDEr too
def test_cli_protocol_flag_picks_tokenized_references(tmp_path, run_module):
    refs = tmp_path / "refs.csv"
    refs.write_text(
        'mr,ref\n"name[Aromi], familyFriendly[yes]","Aromi is family-friendly, £20-25."\n', encoding="utf-8"
    )
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("Aromi is family - friendly , £ 20 - 25 .\n", encoding="utf-8")
    scores = {}
    for protocol in ("paper", "challenge"):
        out = tmp_path / f"{protocol}.json"
        result = run_module("prefix_tuning.score", "--task", "e2e", "--hyps", hyps, "--refs", refs,
                            "--protocol", protocol, "--json", out)  # fmt: skip
        assert result.returncode == 0, result.stderr
        scores[protocol] = json.loads(out.read_text())
        assert scores[protocol]["protocol"] == protocol and f"{protocol} protocol" in result.stdout
    assert scores["paper"]["BLEU"] == pytest.approx(1.0) and scores["challenge"]["BLEU"] < 1.0
