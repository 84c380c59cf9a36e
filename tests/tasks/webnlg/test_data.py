"""WebNLG 2017 loader: release counts, the original linearization, category subsets, bad input."""

import gzip
import json
import xml.etree.ElementTree as ET

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.tasks.webnlg import data as webnlg

ENTRY_XML = """<benchmark><entries>
<entry category="Airport" eid="Id7" size="{size}">
  <modifiedtripleset>{triples}</modifiedtripleset>
  <lex comment="good" lid="Id1">Some text.</lex>
</entry>
</entries></benchmark>"""


def _lex_count(split: str) -> int:
    folder = data_file("webnlg2017", split)
    return sum(len(ET.parse(path).getroot().findall(".//lex")) for path in folder.glob("*triples/*.xml"))


@pytest.mark.needs_data("webnlg2017")
def test_train_and_dev_counts_match_the_release():
    train, dev = webnlg.load_entries("train"), webnlg.load_entries("dev")
    assert (len(train), _lex_count("train")) == (6940, 18102)
    assert (len(dev), _lex_count("dev")) == (872, 2268)
    # the original code trains on comment="good" lexicalisations only
    assert len(webnlg.load_pairs("train")) == 18025
    assert len(webnlg.load_pairs("dev")) == 2258
    assert {e.category for e in train} == set(webnlg.SEEN_CATEGORIES)


@pytest.mark.needs_data("webnlg2017")
def test_test_split_is_971_seen_plus_891_unseen_in_xml_order():
    test = webnlg.load_eval("test")
    assert len(test) == 1862 and sum(len(item.references) for item in test) == 4928
    assert [item.meta["eid"] for item in test] == [f"Id{k}" for k in range(1, 1863)]
    seen, unseen = webnlg.load_eval("test_seen"), webnlg.load_eval("test_unseen")
    assert (len(seen), len(unseen)) == (971, 891)
    assert seen == [item for item in test if item.meta["seen"]]
    assert unseen == [item for item in test if not item.meta["seen"]]
    assert {item.meta["category"] for item in unseen} == set(webnlg.UNSEEN_CATEGORIES)
    # unseen means absent from training
    train_categories = {e.category for e in webnlg.load_entries("train")}
    assert {item.meta["category"] for item in test} - train_categories == set(webnlg.UNSEEN_CATEGORIES)


@pytest.mark.needs_data("webnlg2017")
def test_linearization_of_a_known_entry():
    pairs = [
        p for p in webnlg.load_pairs("train") if p.target.startswith("Aarhus airport serves the city of Aarhus who")
    ]
    assert len(pairs) == 1
    assert pairs[0].source == " | Aarhus : leaderName : Jacob_Bundsgaard | Aarhus_Airport : cityServed : Aarhus"


@pytest.mark.needs_data("webnlg2017")
def test_dev_pairs_equal_the_authors_json_conversion():
    with gzip.open(data_file("webnlg2017", "prefixtuning_dev.json.gz"), "rt", encoding="utf-8") as f:
        entries = json.load(f)["entries"]
    expected = []
    for k, entry in enumerate(entries):
        record = entry[str(k + 1)]
        source = "".join(f" | {t['subject']} : {t['property']} : {t['object']}" for t in record["modifiedtripleset"])
        expected += [(source, lex["lex"]) for lex in record["lexicalisations"] if lex["comment"] == "good"]
    assert [(p.source, p.target) for p in webnlg.load_pairs("dev")] == expected


@pytest.mark.needs_data("webnlg2017")
def test_category_option():
    assert webnlg.load_pairs("train", categories="seen") == webnlg.load_pairs("train")
    assert webnlg.load_eval("test", categories="unseen") == webnlg.load_eval("test_unseen")
    food = webnlg.load_eval("test", categories=["Food"])
    assert len(food) == 177 and {item.meta["category"] for item in food} == {"Food"}
    with pytest.raises(UserError, match="Fod"):
        webnlg.load_pairs("train", categories=["Fod"])


def test_entry_without_triples_names_file_and_entry(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text(ENTRY_XML.format(size=0, triples=""))
    with pytest.raises(UserError, match=r"bad\.xml: entry Id7 has no triples"):
        webnlg.read_entries(path)
    path.write_text(ENTRY_XML.format(size=1, triples="<mtriple>only | two</mtriple>"))
    with pytest.raises(UserError, match="entry Id7"):
        webnlg.read_entries(path)


def test_missing_data_and_unknown_split(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFIX_TUNING_DATA", str(tmp_path))
    with pytest.raises(UserError, match="testdata_with_lex.xml"):
        webnlg.load_eval("test")
    with pytest.raises(UserError, match="webnlg2017"):
        webnlg.load_pairs("train")
    (tmp_path / "webnlg2017" / "train").mkdir(parents=True)
    with pytest.raises(UserError, match="no WebNLG train files"):
        webnlg.load_pairs("train")
    with pytest.raises(UserError, match="unknown WebNLG split"):
        webnlg.load_pairs("validation")
