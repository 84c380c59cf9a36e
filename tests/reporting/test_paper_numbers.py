"""The paper's numbers printed beside ours (reporting/paper_numbers.py) are PAPER.md's tables, number by number:
a mistyped 68.8 fails here."""

import re

import pytest

from prefix_tuning.paths import REPO_ROOT
from prefix_tuning.reporting import paper_numbers as paper

PAPER_MD = REPO_ROOT.parent / "shared" / "docs" / "PAPER.md"
pytestmark = pytest.mark.skipif(not PAPER_MD.is_file(), reason=f"needs {PAPER_MD} (the shared docs)")
NUMBER = r"-?\d*\.?\d+"


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(NUMBER, text)]


@pytest.fixture(scope="module")
def section() -> str:
    text = PAPER_MD.read_text(encoding="utf-8")
    return text.split("## Paper numbers", 1)[1].split("\n## ", 1)[0]


def test_table2_rows_are_papers(section):
    rows = {}
    size = None
    for line in section.splitlines():
        if line.startswith("GPT-2 medium"):
            size = "medium"
        elif line.startswith("GPT-2 large"):
            size = "large"
        elif size and (match := re.match(r"- ([^:]+): (.*)", line)):
            name = "PREFIX(0.1%)" if match[1] == "PREFIX" else match[1]  # the large rows' PREFIX is the 0.1% one
            rows[(size, name)] = numbers(match[2].replace("(", " ").replace(")", " "))
    for (size, row), cells in paper.TABLE2.items():
        ours = [*cells["e2e"].values(), *cells["webnlg"].values(), *cells["dart"].values()]
        assert ours == pytest.approx(rows[(size, row.replace(" ", ""))], abs=0), (size, row)


def test_tables_3_4_5_are_papers(section):
    flat = " ".join(section.split())
    table3 = numbers(flat.split("Table 3, XSUM R-1 / R-2 / R-L:", 1)[1].split("Validation", 1)[0])
    assert [v for row in ("FT-FULL", "PREFIX (2%)", "PREFIX (0.1%)") for v in paper.TABLE3[row].values()] == (
        pytest.approx([x for x in table3 if x not in (2, 0.1)], abs=0)  # the row names' 2% and 0.1% dropped
    )
    table4 = numbers(flat.split("Table 4, XSUM extrapolation R-1 / R-2 / R-L:", 1)[1].split("Table 5", 1)[0])
    order = [
        ("news_to_sports", "FT-FULL"),
        ("news_to_sports", "PREFIX"),
        ("within_news", "FT-FULL"),
        ("within_news", "PREFIX"),
    ]
    assert [v for row in order for v in paper.TABLE4[row].values()] == pytest.approx(table4, abs=0)
    table5 = flat.split("Table 5, E2E BLEU / NIST / METEOR / ROUGE-L / CIDEr:", 1)[1].split("Table 9", 1)[0]
    for row, values in paper.TABLE5.items():
        assert list(values.values()) == pytest.approx(numbers(table5.split(f"{row} ", 1)[1])[:5], abs=0), row
