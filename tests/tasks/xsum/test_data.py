"""XSUM loading: the 50 offline articles, the release and Hugging Face layouts, URL categories, extrapolation splits."""

import dataclasses
import gzip
import json
import re
from pathlib import Path

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_file
from prefix_tuning.tasks.xsum import data as xsum
from prefix_tuning.tasks.xsum.data import Category, extrapolation_split, load_eval, load_pairs, url_category

RELEASE = Path(__file__).parent / "fixtures" / "xsum_release"
SPLIT_FILE = RELEASE / "split.json"


def release_ids(split, extrapolation=None, **kwargs):
    items = load_eval(split, RELEASE, extrapolation, split_file=SPLIT_FILE, **kwargs)
    return [item.meta["id"] for item in items]


@pytest.mark.needs_data("xsum")
def test_human50_items_match_their_gold_lines():
    items = load_eval("test_human50")
    with gzip.open(data_file("xsum", "gold-test-sentences.txt.gz"), "rt", encoding="utf-8") as handle:
        gold = handle.read().split("\n")
    assert len(items) == 50
    assert len({item.meta["idx"] for item in items}) == 50
    for item in items:
        assert item.references == (gold[item.meta["idx"]],)
        assert "\n" in item.source and item.source != item.source.lower()  # cased, one sentence a line
    assert items[0].meta["idx"] == 4867
    assert items[0].source.startswith("West Berkshire Council is setting up an emotional health academy")
    assert items[0].references[0].startswith("a council plans to employ its own staff")


@pytest.mark.needs_data("xsum")
def test_human50_pairs_are_article_and_reference():
    """Against a regex reading of the raw file: each block's Document-Full lines and its Reference line."""
    text = data_file("xsum", "xsum-human-evaluation-data.txt").read_text(encoding="utf-8")
    blocks = re.findall(r"==\d+==\n.*?\nDocument-Full\n(.*?)\n\n.*?\nReference\n(.*?)\n", text, flags=re.S)
    assert len(blocks) == 50
    pairs = load_pairs("test_human50")
    assert [(p.source, p.target) for p in pairs] == [
        (article.strip(), reference.strip()) for article, reference in blocks
    ]


def test_human50_has_no_extrapolation_split():
    with pytest.raises(UserError, match="no URLs"):
        load_eval("test_human50", extrapolation="news_to_sports")


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://www.bbc.com/news/uk-politics-38094813", ("news", "uk")),
        ("http://web.archive.org/web/20170527/http://www.bbc.com/news/world-europe-39600124", ("news", "world")),
        ("http://web.archive.org/web/20160311/http://www.bbc.co.uk/news/business-35773812", ("news", "business")),
        (
            "http://web.archive.org/web/20161202/http://www.bbc.co.uk/news/entertainment-arts-2960",
            ("news", "entertainment"),
        ),
        (
            "http://web.archive.org/web/20150408/http://www.bbc.com/news/election-2015-scotland-32194983",
            ("news", "election"),
        ),
        ("http://web.archive.org/web/20170224/http://www.bbc.com:80/sport/football/37543139", ("sport", "football")),
        ("http://www.bbc.co.uk/sport/rugby-union/35419902", ("sport", "rugby-union")),
        ("http://www.bbc.co.uk/sport/0/football/12345678", ("sport", "football")),
        ("http://web.archive.org/web/20170212171820/http://www.bbc.co.uk:80/newsround/26503920", ("newsround", None)),
        ("http://www.bbc.co.uk/news/10234567", ("news", None)),
    ],
)
def test_url_category(url, expected):
    assert url_category(url) == Category(*expected)


@pytest.mark.parametrize("url", ["", "http://example.com/news/uk-1", "http://www.bbc.co.uk/"])
def test_url_category_rejects_non_bbc_urls(url):
    with pytest.raises(UserError, match="not a BBC article URL"):
        url_category(url)


def test_extrapolation_split_filters():
    news_to_sports = extrapolation_split("news_to_sports")
    assert news_to_sports.in_train(Category("news", "health")) and news_to_sports.in_train(Category("news", "uk"))
    assert not news_to_sports.in_train(Category("sport", "football"))
    assert news_to_sports.in_test(Category("sport", "football")) and not news_to_sports.in_test(Category("news", "uk"))
    assert not news_to_sports.in_test(Category("newsround", None))

    within_news = extrapolation_split("within_news")
    for sub in ("uk", "world", "business"):
        assert within_news.in_train(Category("news", sub)) and not within_news.in_test(Category("news", sub))
    for sub in ("health", "technology", None):
        assert within_news.in_test(Category("news", sub)) and not within_news.in_train(Category("news", sub))
    sport = Category("sport", "football")
    assert not within_news.in_train(sport) and not within_news.in_test(sport)
    with pytest.raises(UserError, match="unknown XSUM extrapolation split"):
        extrapolation_split("news_to_weather")


def test_release_files_parse_into_summary_and_article():
    pairs = load_pairs("train", RELEASE, split_file=SPLIT_FILE)
    assert len(pairs) == 4
    assert pairs[0].target == "A town council has approved its budget for next year after a long debate."
    # share-bar lines and blank lines dropped, one paragraph a line
    assert pairs[0].source == (
        "Councillors met on Tuesday evening to discuss the plans.\n"
        "The budget includes money for new street lights.\n"
        "A final vote is expected in March."
    )
    [item] = load_eval("test", RELEASE, split_file=SPLIT_FILE)
    assert item.meta == {
        "id": "33261110",
        "url": "http://web.archive.org/web/20151007204229/http://www.bbc.co.uk/news/business-33261110",
    }
    assert item.references == ("Factory output grew faster than expected last month, figures show.",)


def test_release_parent_folder_is_accepted(tmp_path):
    (tmp_path / "bbc-summary-data").symlink_to(RELEASE)
    assert [i.meta["id"] for i in load_eval("validation", tmp_path, split_file=SPLIT_FILE)] == ["40415756"]


@pytest.mark.parametrize(
    "name, train, validation, test",
    [
        ("news_to_sports", ["38094813", "29604402"], ["40415756"], ["37543139"]),
        ("within_news", ["38094813"], ["40415756"], ["29604402"]),
    ],
)
def test_extrapolation_splits_on_release_folder(name, train, validation, test, capsys):
    assert release_ids("train", name) == train
    assert release_ids("validation", name) == validation
    assert release_ids("test", name) == test  # drawn from the official train split
    assert "test articles (paper: 8000); using all" in capsys.readouterr().err


def test_extrapolation_test_sample_is_seeded(monkeypatch):
    # train on sport, test on news: two news articles in the train split, draw one
    rule = dataclasses.replace(
        extrapolation_split("news_to_sports"), train_section="sport", test_section="news", test_size=1
    )
    monkeypatch.setitem(xsum.EXTRAPOLATION_SPLITS, "news_to_sports", rule)
    drawn = {seed: release_ids("test", "news_to_sports", seed=seed) for seed in range(6)}
    assert all(len(ids) == 1 and ids[0] in {"38094813", "29604402"} for ids in drawn.values())
    assert len({ids[0] for ids in drawn.values()}) == 2  # the seed matters
    assert release_ids("test", "news_to_sports", seed=3) == drawn[3]


def test_hugging_face_export_layouts(tmp_path):
    rows = [
        {"document": "First article.\nSecond line.", "summary": "One.", "id": "1"},
        {"document": "Another article.", "summary": "Two.", "id": "2"},
    ]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "test.jsonl").write_text(json.dumps(rows[1]) + "\n", encoding="utf-8")
    pairs = load_pairs("train", tmp_path)
    assert [(p.source, p.target) for p in pairs] == [
        ("First article.\nSecond line.", "One."),
        ("Another article.", "Two."),
    ]
    assert [(i.meta["id"], i.meta["url"]) for i in load_eval("test", tmp_path)] == [("2", "")]
    with pytest.raises(UserError, match="only the original release has"):
        load_pairs("train", tmp_path, extrapolation="within_news")


def test_hugging_face_parquet_export(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow
    import pyarrow.parquet

    (tmp_path / "data").mkdir()
    table = pyarrow.table({"document": ["An article."], "summary": ["A summary."], "id": ["7"]})
    pyarrow.parquet.write_table(table, tmp_path / "data" / "validation-00000-of-00001.parquet")
    [item] = load_eval("validation", tmp_path)
    assert (item.source, item.references, item.meta["id"]) == ("An article.", ("A summary.",), "7")


def test_bad_input_is_a_user_error(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="XSUM folder not found"):
        load_pairs("train", tmp_path / "missing")
    monkeypatch.setenv("PREFIX_TUNING_DATA", str(tmp_path))
    with pytest.raises(UserError, match="not shipped offline"):
        load_pairs("train")
    with pytest.raises(UserError, match="no train files"):
        load_pairs("train", tmp_path)
    monkeypatch.delenv("PREFIX_TUNING_DATA")
    with pytest.raises(UserError, match="unknown XSUM split"):
        load_pairs("dev", RELEASE, split_file=SPLIT_FILE)

    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "38094813.summary").write_bytes((RELEASE / "38094813.summary").read_bytes())
    with pytest.raises(UserError, match="3 of the 4 train articles are missing"):
        load_pairs("train", partial, split_file=SPLIT_FILE)

    (partial / "40415756.summary").write_text("just some text\n", encoding="utf-8")
    with pytest.raises(UserError, match="text before the first"):
        load_pairs("validation", partial, split_file=SPLIT_FILE)
    (partial / "40415756.summary").write_text("[SN]URL[SN]\nhttp://www.bbc.co.uk/news/uk-1\n", encoding="utf-8")
    with pytest.raises(UserError, match="no \\[SN\\]FIRST-SENTENCE\\[SN\\], \\[SN\\]RESTBODY\\[SN\\]"):
        load_pairs("validation", partial, split_file=SPLIT_FILE)
