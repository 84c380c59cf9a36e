"""DART v1.1.1 loader: release counts, the original linearization, JSON/XML agreement, bad input."""

import json
import re

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.scoring.text_files import read_lines
from prefix_tuning.tasks.dart import data as dart


@pytest.mark.needs_data("dart")
def test_counts_match_the_release():
    dev = dart.load_entries("dev")
    assert (len(dev), sum(len(texts) for _, texts in dev)) == (2768, 6980)
    assert len(dart.load_pairs("dev")) == 6980
    test = dart.load_eval("test")
    assert (len(test), sum(len(item.references) for item in test)) == (5097, 12552)


@pytest.mark.needs_data("dart")
def test_linearization_lowercases_relations_only():
    first = dart.load_eval("test")[0]
    assert first.source == (
        "Hawaii Five-O : notes : Episode: The Flight of the Jewels | [TABLECONTEXT] : [title] : Jeff Daniels"
        " | [TABLECONTEXT] : title : Hawaii Five-O"
    )
    assert dart.linearize([["A B", "HAS PART", "C D"]]) == "A B : has part : C D"


@pytest.mark.needs_data("dart")
def test_dev_json_and_xml_agree():
    folder = data_file("dart", "v1.1.1")
    from_json = dart._read_json(folder / "dart-v1.1.1-full-dev.json.gz")
    from_xml = dart._read_xml(folder / "dart-v1.1.1-full-dev.xml.gz")
    assert from_json == [(list(map(list, triples)), texts) for triples, texts in from_xml]


@pytest.mark.needs_data("dart")
def test_test_items_align_with_the_official_reference_files():
    def letters(text):  # the references are lowercased and tokenized
        return re.sub(r"\W", "", text.lower())

    first_refs = read_lines(data_file("dart", "references", "all-delex-reference0.lex"))
    items = dart.load_eval("test")
    assert [letters(item.references[0]) for item in items] == [letters(ref) for ref in first_refs]


def test_train_split_is_missing_with_a_clear_message():
    with pytest.raises(UserError, match=r"missing DART train split.*original DART v1\.1\.1 release.*make data"):
        dart.load_pairs("train")


def test_ungzipped_release_names_and_bad_entries(tmp_path, monkeypatch):
    folder = tmp_path / "dart" / "v1.1.1"
    folder.mkdir(parents=True)
    monkeypatch.setenv("PREFIX_TUNING_DATA", str(tmp_path))
    record = {
        "tripleset": [["Oslo", "COUNTRY", "Norway"]],
        "annotations": [{"source": "x", "text": "Oslo is in Norway."}],
    }
    (folder / "dart-v1.1.1-full-train.json").write_text(json.dumps([record]))
    pairs = dart.load_pairs("train")
    assert [(p.source, p.target) for p in pairs] == [("Oslo : country : Norway", "Oslo is in Norway.")]

    (folder / "dart-v1.1.1-full-test.xml").write_text(
        '<benchmark><entries><entry category="MISC" eid="Id3" size="0"><modifiedtripleset/>'
        '<lex comment="x" lid="Id1">Text.</lex></entry></entries></benchmark>'
    )
    with pytest.raises(UserError, match=r"dart-v1\.1\.1-full-test\.xml: entry Id3 has no triples"):
        dart.load_eval("test")
    (folder / "dart-v1.1.1-full-dev.json").write_text("{not json")
    with pytest.raises(UserError, match="not a DART JSON release file"):
        dart.load_eval("dev")
    with pytest.raises(UserError, match="unknown DART split"):
        dart.load_pairs("valid")
