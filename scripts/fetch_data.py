"""Fill a data folder with the four tasks from their original public releases (needs internet; our machines
read ../shared/data instead).

    python scripts/fetch_data.py data        (what `make data` runs; the code then finds data/ by itself)

E2E: the official release plus the authors' tokenized dev/test files (the paper's scoring references).
WebNLG 2017: the challenge XML (train/dev/test) as the PrefixTuning repository ships it, and the
challenge's reference files (Yale-LILY/dart). DART v1.1.1: train/dev/test JSON + XML and the official
references. XSUM: the articles through `datasets` from the hub's parquet export of EdinburghNLP/xsum
(`revision="refs/convert/parquet"`; script datasets no longer load), checked against the official split
file and the paper's counts (204,045 / 11,332 / 11,334), written as JSON lines per split.
Offline, it stops with one line naming what it could not download.
"""

import io
import json
import sys
import urllib.request
import zipfile
from pathlib import Path

PREFIX_TUNING = "https://raw.githubusercontent.com/XiangLi1999/PrefixTuning/6519d30e69b15a180f23e2cd41b766d3f62b8e82"
PREFIX_TUNING_TREE = "https://api.github.com/repos/XiangLi1999/PrefixTuning/git/trees/6519d30e69b15a180f23e2cd41b766d3f62b8e82?recursive=1"
E2E_ZIP = "https://github.com/tuetschek/e2e-dataset/releases/download/v1.0.0/e2e-dataset.zip"
DART_RAW = "https://raw.githubusercontent.com/Yale-LILY/dart/master"
DART_FILES = [
    f"data/v1.1.1/dart-v1.1.1-full-{split}.{ext}" for split in ("train", "dev", "test") for ext in ("json", "xml")
]
DART_REFS = [f"evaluation/dart_reference/all-delex-reference{i}.lex" for i in range(3)]
WEBNLG_REFS = [f"evaluation/webnlg-automatic-evaluation/references/gold-{part}-cat-reference{i}.lex"
               for part in ("all", "old", "new") for i in range(8)]  # fmt: skip
XSUM_RAW = "https://raw.githubusercontent.com/EdinburghNLP/XSum/master/XSum-Dataset"
XSUM_COUNTS = {"train": 204_045, "validation": 11_332, "test": 11_334}  # the paper's (and the split file's)


def download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except OSError as err:
        sys.exit(f"error: cannot download {url} ({err}); `make data` needs internet access")


def write(path: Path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path}")


def fetch_e2e(root: Path):
    with zipfile.ZipFile(io.BytesIO(download(E2E_ZIP))) as archive:
        for name in ("trainset.csv", "devset.csv", "testset_w_refs.csv", "testset.csv"):
            member = next((m for m in archive.namelist() if m.endswith("/" + name) or m == name), None)
            if member is None:
                sys.exit(f"error: {name} not found in {E2E_ZIP}")
            write(root / "e2e" / name, archive.read(member))
    for split in ("valid", "test"):  # the authors' tokenized references, row-aligned with the CSVs
        write(
            root / "e2e" / f"prefixtuning_src1_{split}.txt", download(f"{PREFIX_TUNING}/data/e2e_data/src1_{split}.txt")
        )


def fetch_webnlg(root: Path):
    tree = json.loads(download(PREFIX_TUNING_TREE))["tree"]
    folder = "data/webnlg_challenge_2017/"
    for entry in tree:
        path = entry["path"]
        if entry["type"] == "blob" and path.startswith(folder) and path.endswith(".xml"):
            write(root / "webnlg2017" / path.removeprefix(folder), download(f"{PREFIX_TUNING}/{path}"))
    for path in WEBNLG_REFS:
        write(root / "webnlg2017" / "references" / Path(path).name, download(f"{DART_RAW}/{path}"))


def fetch_dart(root: Path):
    for path in DART_FILES:
        write(root / "dart" / "v1.1.1" / Path(path).name, download(f"{DART_RAW}/{path}"))
    for path in DART_REFS:
        write(root / "dart" / "references" / Path(path).name, download(f"{DART_RAW}/{path}"))


def fetch_xsum(root: Path):
    split_file = root / "xsum" / "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"
    write(split_file, download(f"{XSUM_RAW}/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"))
    official = json.loads(split_file.read_text())
    try:
        import datasets
    except ImportError:
        sys.exit("error: the XSUM articles need the `datasets` package: pip install -e '.[data]'")
    try:
        export = datasets.load_dataset("EdinburghNLP/xsum", revision="refs/convert/parquet")
    except Exception as err:  # offline, or the hub refused
        sys.exit(
            f"error: cannot download EdinburghNLP/xsum's parquet export from the Hugging Face hub ({type(err).__name__})"
        )
    for split, count in XSUM_COUNTS.items():
        rows = export[split]
        ids = {str(i) for i in rows["id"]}
        if len(rows) != count or ids != {str(i) for i in official[split]}:
            sys.exit(f"error: XSUM {split} has {len(rows)} articles, not the official {count} (or other ids)")
        out = root / "xsum" / "hf" / f"{split}.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(
                    json.dumps({"id": row["id"], "document": row["document"], "summary": row["summary"]}) + "\n"
                )
        print(f"wrote {out} ({count} articles, the official split)")


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    for fetch in (fetch_e2e, fetch_webnlg, fetch_dart, fetch_xsum):
        fetch(root)
    print(f"done: {root} holds E2E, WebNLG 2017, DART and XSUM")


if __name__ == "__main__":
    main()
