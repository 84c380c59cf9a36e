"""The E2E loader against the release files and the authors' preprocessed copies."""

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_dir
from prefix_tuning.tasks.e2e import data as e2e


@pytest.mark.needs_data
def test_release_counts():
    train = e2e.load_pairs("train")
    assert len(train) == 42_061
    assert len({p.source for p in train}) == 4_862
    test = e2e.load_eval("test")
    assert len(test) == 630 and sum(len(i.references) for i in test) == 4_693


@pytest.mark.needs_data
def test_linearization_matches_the_authors_files():
    """Our MR linearization equals the authors' src1_valid.txt on every dev line; references on >= 99%."""
    lines = (data_dir() / "e2e" / "prefixtuning_src1_valid.txt").read_text(encoding="utf-8").splitlines()
    pairs = e2e.load_pairs("dev")
    assert len(pairs) == len(lines)
    sources_equal = sum(p.source == line.split("||")[0] for p, line in zip(pairs, lines))
    targets_equal = sum(p.target == line.split("||")[1].strip() for p, line in zip(pairs, lines))
    assert sources_equal == len(lines)
    assert targets_equal >= 0.99 * len(lines)


def test_linearize_renames_keys_and_tokenizes_values():
    mr = "name[The Eagle], eatType[coffee shop], priceRange[£20-25], familyFriendly[yes]"
    assert e2e.linearize_mr(mr) == "name : The Eagle | Type : coffee shop | price : £ 20 - 25 | family friendly : yes"
    assert e2e.tokenize("It isn't family-friendly.") == "It isn 't family - friendly ."


def test_consecutive_rows_group_like_the_official_script():
    rows = [("name[A]", "r1"), ("name[A]", "r2"), ("name[B]", "r3"), ("name[A]", "r4")]
    items = e2e.group_references(rows)
    assert [i.references for i in items] == [("r1", "r2"), ("r3",), ("r4",)]


@pytest.mark.parametrize(
    "content, message",
    [
        ('mr,ref\n"name[A]",\n', "malformed row"),
        ('mr,ref\n"name[A","text"\n', "malformed E2E meaning representation"),
        ('meaning,text\n"name[A]","t"\n', "header"),
    ],
)
def test_malformed_csv_is_a_clear_error(tmp_path, content, message):
    (tmp_path / "e2e").mkdir()
    (tmp_path / "e2e" / "trainset.csv").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        e2e.load_pairs("train", root=tmp_path)


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match="make data"):
        e2e.load_pairs("train", root=tmp_path)
