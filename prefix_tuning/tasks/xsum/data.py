"""XSUM (Narayan et al., 2018): BBC article -> one-sentence summary, and the paper's extrapolation splits.

Where the articles come from (nothing is downloaded here; pass the folder as `root`):
- The original release, `bbc-summary-data/` from XSUM-EMNLP18-Summary-Data-Original.tar.gz (see
  github.com/EdinburghNLP/XSum): one `{bbcid}.summary` file per article with the sections
  `[SN]URL[SN]`, `[SN]TITLE[SN]`, `[SN]FIRST-SENTENCE[SN]` (the reference summary) and
  `[SN]RESTBODY[SN]` (the article), split by the official id lists in
  `xsum/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json.gz` (train 204,045 / validation 11,332 / test 11,334).
  Only this layout has the URLs the extrapolation splits need. Used by default when it sits at
  `data_dir()/xsum/bbc-summary-data`.
- An export of the Hugging Face `EdinburghNLP/xsum` dataset (columns document, summary, id): JSON
  lines (`ds[split].to_json(f"{split}.jsonl")`) or the hub's parquet files, named or foldered by split.
- Offline, only `test_human50`: the 50 test articles of the XSum human evaluation
  (`xsum/xsum-human-evaluation-data.txt`), cased but PTB-tokenized, references lowercased.

Documents keep one paragraph per line (joined with `\\n`, as the Hugging Face loader does; the
authors' extrapolation script glued the lines with no separator at all). Source truncation (paper:
1024 tokens, 512 in the extrapolation runs) happens at tokenization time.
"""

import gzip
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from prefix_tuning.errors import UserError
from prefix_tuning.paths import data_dir, data_file
from prefix_tuning.tasks.records import EvalItem, Pair

SPLITS = ("train", "validation", "test")
HUMAN_EVAL_SPLIT = "test_human50"
SPLIT_FILE = ("xsum", "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json.gz")
HUMAN_EVAL_FILE = ("xsum", "xsum-human-evaluation-data.txt")
RELEASE_FOLDER = "bbc-summary-data"

NOT_SHIPPED = (
    "XSUM articles are not shipped offline (only the 50 human-evaluation articles, split "
    f"{HUMAN_EVAL_SPLIT!r}); pass root=FOLDER (Hydra: task.loader_args.root=FOLDER): the original release `{RELEASE_FOLDER}/` "
    "(XSUM-EMNLP18-Summary-Data-Original.tar.gz, see github.com/EdinburghNLP/XSum) or an export of the "
    "Hugging Face dataset EdinburghNLP/xsum (`ds[split].to_json(f'{split}.jsonl')`)"
)

# Share-bar lines scraped with some article bodies; the Hugging Face loader and the authors' script drop them.
BOILERPLATE_LINES = frozenset(
    {
        "Share this with",
        "Email",
        "Facebook",
        "Messenger",
        "Twitter",
        "Pinterest",
        "WhatsApp",
        "Linkedin",
        "LinkedIn",
        "Copy this link",
        "These are external links and will open in a new window",
    }
)
_SECTION_MARKER = re.compile(r"\[SN\]([A-Z-]+)\[SN\]")
_BBC_PATH = re.compile(r"bbc\.co(?:\.uk|m)(?::\d+)?/([^?#]*)")


class Category(NamedTuple):
    """Where an article sits on the BBC site, read from its URL (see `url_category`)."""

    section: str  # first path segment: news, sport, newsround, newyddion, ...
    subsection: str | None  # news: first word of the slug (uk, world, business, health, ...); sport: the sport


def url_category(url: str) -> Category:
    """The category of a BBC article URL, also inside a Wayback Machine URL as the release stores them.

    `.../news/uk-politics-38094813` -> (news, uk); `.../news/world-europe-39600124` -> (news, world);
    `.../sport/football/37543139` -> (sport, football); `.../newsround/26503920` -> (newsround, None).
    The section is the first path segment after the BBC host. The subsection is the first path
    segment between section and article id, else the first word of the article slug with its id
    removed (None for a bare id such as `.../news/10138849`). The ~320 XSum URLs we could read
    (EdinburghNLP/XSum, XSum-WebArxiveUrls_{Filtered,Leftover}.txt) all have the shapes
    `section/slug-id`, `section/sub/id` or `section/id`; for those this gives the same categories as
    the authors' `process_url` (PrefixTuning, transformers/examples/seq2seq/topic_url_process.py),
    which reads the last three path segments instead. Deeper paths would differ: a numeric middle
    segment (old `sport/0/football/...` URLs, none in that sample) is skipped here, where the
    authors' rule would make `0` the section.
    """
    paths = _BBC_PATH.findall(url.strip())
    segments = [s for s in paths[-1].split("/") if s] if paths else []
    if not segments:
        raise UserError(f"not a BBC article URL: {url!r}")
    section = segments[0].lower()
    if len(segments) == 1:
        return Category(section, None)
    middle = [s.lower() for s in segments[1:-1] if not s.isdigit()]
    slug = re.sub(r"-?\d+$", "", segments[-1]).lower()
    if middle:
        return Category(section, middle[0])
    return Category(section, slug.split("-")[0] if slug else None)


@dataclass(frozen=True)
class ExtrapolationSplit:
    """A train/test split by topic (the paper's extrapolation experiment, Table 3).

    Taken from the authors' script (PrefixTuning, transformers/examples/seq2seq/topic_url_process.py;
    the paper only names the splits). Training keeps the articles of `train_section` (only
    `train_subsections` of it when given); test keeps the other articles of `test_section`.
    Inferred, not recorded by the authors:
    - Validation: the script filters any split with one side's rule; we keep the training side
      (in-domain model selection).
    - Test: the script draws `test_size` articles at random (unseeded) without replacement, which
      fails on a pool smaller than that. The official test split (11,334 articles, about a quarter
      sport judging by the 50 human-evaluation ones) is too small for 8,000 test-side articles, so
      the pool must have been the official train split. `load_articles` draws from it, with a seed;
      no test article is ever a training article since the two sides have disjoint categories.
    """

    name: str
    train_section: str
    test_section: str
    train_subsections: frozenset[str] | None = None  # None: every subsection
    test_size: int = 8000

    def in_train(self, category: Category) -> bool:
        """Whether an article of this category belongs to the training (and validation) side."""
        return category.section == self.train_section and (
            self.train_subsections is None or category.subsection in self.train_subsections
        )

    def in_test(self, category: Category) -> bool:
        """Whether an article of this category belongs to the test side."""
        return category.section == self.test_section and not self.in_train(category)


EXTRAPOLATION_SPLITS = {
    # Train on all news, test on sport: `topic[0] == "news"` / `topic[0] == "sport"` in the authors' script.
    "news_to_sports": ExtrapolationSplit("news_to_sports", "news", "sport"),
    # Train on news/{uk, world, business}, test on every other news category (health, technology,
    # entertainment, education, science, ...; also news URLs without a slug word). "uk" covers all
    # regional UK news: uk-politics, uk-scotland-*, uk-wales-*, uk-england-*, uk-northern-ireland.
    "within_news": ExtrapolationSplit("within_news", "news", "news", frozenset({"uk", "world", "business"})),
}


def extrapolation_split(name: str) -> ExtrapolationSplit:
    """One of the paper's two extrapolation splits: `news_to_sports` or `within_news`."""
    if name not in EXTRAPOLATION_SPLITS:
        raise UserError(f"unknown XSUM extrapolation split {name!r}; choose one of {', '.join(EXTRAPOLATION_SPLITS)}")
    return EXTRAPOLATION_SPLITS[name]


@dataclass(frozen=True)
class Article:
    """One XSUM example. `url` is empty in the Hugging Face export, which has none."""

    id: str
    url: str
    summary: str
    document: str

    def eval_item(self) -> EvalItem:
        """The article with its one reference; id and url in meta."""
        return EvalItem(self.document, (self.summary,), {"id": self.id, "url": self.url})


def read_summary_file(path: Path) -> Article:
    """Parse one `{bbcid}.summary` file of the original release."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8") from None
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        marker = _SECTION_MARKER.fullmatch(line)
        if marker:
            current = sections.setdefault(marker.group(1), [])
        elif line and line not in BOILERPLATE_LINES:
            if current is None:
                raise UserError(f"{path}: text before the first [SN]...[SN] section marker")
            current.append(line)
    missing = [name for name in ("URL", "FIRST-SENTENCE", "RESTBODY") if name not in sections]
    if missing:
        raise UserError(f"{path}: not an XSum .summary file (no {', '.join(f'[SN]{m}[SN]' for m in missing)})")
    return Article(
        path.stem, " ".join(sections["URL"]), " ".join(sections["FIRST-SENTENCE"]), "\n".join(sections["RESTBODY"])
    )


def official_split_ids(split: str, split_file: Path | None = None) -> list[str]:
    """BBC ids of an official split, in the order of the split JSON (plain or .gz)."""
    path = Path(split_file) if split_file else data_file(*SPLIT_FILE)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            ids = json.load(handle)[split]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not an XSum split file with a {split!r} id list ({err})") from None
    return [str(i) for i in ids]


def read_release(folder: Path, split: str, split_file: Path | None = None) -> list[Article]:
    """All articles of an official split from a release folder; a UserError if any file is missing."""
    ids = official_split_ids(split, split_file)
    missing = [i for i in ids if not (folder / f"{i}.summary").is_file()]
    if missing:
        raise UserError(
            f"{len(missing)} of the {len(ids)} {split} articles are missing from {folder} "
            f"(first: {missing[0]}.summary); re-run the XSum download scripts for them"
        )
    return [read_summary_file(folder / f"{i}.summary") for i in ids]


def export_files(folder: Path, split: str) -> list[Path]:
    """A split's files in a Hugging Face export, named or foldered by split:
    `test.jsonl`, `data/test-00000-of-00001.parquet`, `test/0000.parquet`."""
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.suffix in (".jsonl", ".json", ".parquet")
        and split in (re.split(r"[.\-_]", path.name)[0], path.parent.name)
    ]


def read_export(folder: Path, split: str) -> list[Article]:
    """A split of a Hugging Face `EdinburghNLP/xsum` export (JSON lines or parquet, columns document/summary/id)."""
    files = export_files(folder, split)
    if not files:
        raise UserError(f"no {split} files (.jsonl/.json/.parquet) in {folder}; {NOT_SHIPPED}")
    rows = []
    for path in files:
        rows += read_parquet(path) if path.suffix == ".parquet" else read_json_lines(path)
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not {"document", "summary"} <= row.keys():
            raise UserError(f"{folder}: {split} row {i} lacks the document/summary columns of EdinburghNLP/xsum")
    return [Article(str(row.get("id", "")), "", row["summary"].strip(), row["document"].strip()) for row in rows]


def read_json_lines(path: Path) -> list[dict]:
    """Rows of a JSON lines file."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise UserError(f"{path}:{line_no}: not JSON lines ({err.msg})") from None
    return rows


def read_parquet(path: Path) -> list[dict]:
    """Rows of a parquet file (needs pyarrow)."""
    try:
        import pyarrow.parquet
    except ImportError:
        raise UserError(f"reading {path} needs pyarrow (pip install pyarrow), or export JSON lines instead") from None
    return pyarrow.parquet.read_table(path).to_pylist()


def article_folder(root: Path | None) -> tuple[Path, bool]:
    """The folder holding the articles and whether it is the original release (else a Hugging Face export)."""
    if root is None:  # the original release, else the hub export `make data` writes
        root = next(
            (data_dir() / "xsum" / name for name in (RELEASE_FOLDER, "hf") if (data_dir() / "xsum" / name).is_dir()),
            None,
        )
        if root is None:
            raise UserError(NOT_SHIPPED)
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"XSUM folder not found: {root}; {NOT_SHIPPED}")
    for folder in (root, root / RELEASE_FOLDER):
        if folder.is_dir() and next(folder.glob("*.summary"), None) is not None:
            return folder, True
    return root, False


def load_articles(
    split: str,
    root: Path | None = None,
    extrapolation: str | None = None,
    seed: int = 0,
    split_file: Path | None = None,
) -> list[Article]:
    """Articles of an official split, or of one side of an extrapolation split (`extrapolation_split`).

    With `extrapolation`, train and validation keep their official split's training-side articles;
    test is `test_size` test-side articles drawn with `seed` from the official train split (all of
    them, in split order, when fewer).
    """
    if split not in SPLITS:
        raise UserError(f"unknown XSUM split {split!r}; choose one of {', '.join(SPLITS + (HUMAN_EVAL_SPLIT,))}")
    folder, is_release = article_folder(root)
    if extrapolation is None:
        return read_release(folder, split, split_file) if is_release else read_export(folder, split)
    rule = extrapolation_split(extrapolation)
    if not is_release:
        raise UserError(
            f"extrapolation splits need article URLs, which only the original release has; "
            f"{folder} is not a folder of .summary files"
        )
    if split != "test":
        return [a for a in read_release(folder, split, split_file) if rule.in_train(url_category(a.url))]
    pool = [a for a in read_release(folder, "train", split_file) if rule.in_test(url_category(a.url))]
    if len(pool) < rule.test_size:
        print(
            f"warning: only {len(pool)} {rule.name} test articles (paper: {rule.test_size}); using all", file=sys.stderr
        )
        return pool
    return [pool[i] for i in sorted(random.Random(seed).sample(range(len(pool)), rule.test_size))]


def read_human_eval(path: Path) -> list[EvalItem]:
    """The 50 blocks of the XSum human evaluation file.

    Each block: `==IDX==` (0-based line of gold-test-sentences.txt), then sections separated by blank
    lines, each a header line and its text: Document-400 (lowercased, truncated),
    Document-Full (cased, tokenized, one sentence a line), LEAD, Ext-Oracle, Pointer-Generator,
    ConvS2S, Topic-ConvS2S (system outputs), Reference (lowercased gold summary), Questions-Answers.
    """
    blocks: list[tuple[int, dict[str, list[str]]]] = []
    block, section = None, None
    for line_no, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        start = re.fullmatch(r"==(\d+)==", line)
        if start:
            block, section = {}, None
            blocks.append((int(start.group(1)), block))
        elif not line.strip():
            section = None
        elif block is None:
            raise UserError(f"{path}:{line_no}: text before the first ==IDX== line")
        elif section is None:
            section = block.setdefault(line.strip(), [])
        else:
            section.append(line.strip())
    for idx, sections in blocks:
        if not sections.get("Document-Full") or not sections.get("Reference"):
            raise UserError(f"{path}: block =={idx}== lacks a Document-Full or Reference section")
    return [
        EvalItem("\n".join(sections["Document-Full"]), (" ".join(sections["Reference"]),), {"idx": idx})
        for idx, sections in blocks
    ]


def load_eval(
    split: str = "test",
    root: Path | None = None,
    extrapolation: str | None = None,
    seed: int = 0,
    split_file: Path | None = None,
) -> list[EvalItem]:
    """Evaluation items: article, (reference summary,), meta: id and url (empty in a Hugging Face export),
    or `idx` (line of gold-test-sentences.txt) for test_human50."""
    if split == HUMAN_EVAL_SPLIT:
        if extrapolation:
            raise UserError(f"{HUMAN_EVAL_SPLIT} has no URLs, so no extrapolation split")
        return read_human_eval(data_file(*HUMAN_EVAL_FILE))
    return [a.eval_item() for a in load_articles(split, root, extrapolation, seed, split_file)]


def load_pairs(
    split: str = "train",
    root: Path | None = None,
    extrapolation: str | None = None,
    seed: int = 0,
    split_file: Path | None = None,
) -> list[Pair]:
    """(article, summary) training pairs of a split; `test_human50` works offline."""
    return [Pair(item.source, item.references[0]) for item in load_eval(split, root, extrapolation, seed, split_file)]
