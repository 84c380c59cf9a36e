"""Fill a data folder from the original public releases (needs internet). Our machines read ../shared/data.

    python scripts/fetch_data.py data        (what `make data` runs; then PREFIX_TUNING_DATA is not needed)

Fetches E2E (official release) and DART v1.1.1 (train/dev/test JSON + XML, official references).
WebNLG 2017 and XSUM are large multi-file releases: the script prints where to put them.
"""

import io
import sys
import urllib.request
import zipfile
from pathlib import Path

E2E_ZIP = "https://github.com/tuetschek/e2e-dataset/releases/download/v1.0.0/e2e-dataset.zip"
DART_RAW = "https://raw.githubusercontent.com/Yale-LILY/dart/master"
DART_FILES = [
    f"data/v1.1.1/dart-v1.1.1-full-{split}.{ext}" for split in ("train", "dev", "test") for ext in ("json", "xml")
]
DART_REFS = [f"evaluation/dart_reference/all-delex-reference{i}.lex" for i in range(3)]
MANUAL = """Not fetched automatically:
  WebNLG 2017: put the challenge XML folders as {root}/webnlg2017/{{train,dev}}/<n>triples/*.xml and
               {root}/webnlg2017/test/testdata_with_lex.xml, references under {root}/webnlg2017/references/.
  XSUM:        extract the original bbc-summary-data release into {root}/xsum/bbc-summary-data/ and the
               split file XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json into {root}/xsum/."""


def download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except OSError as err:
        sys.exit(f"error: cannot download {url} ({err}); this needs internet access")


def fetch_e2e(root: Path):
    target = root / "e2e"
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(download(E2E_ZIP))) as archive:
        for name in ("trainset.csv", "devset.csv", "testset_w_refs.csv", "testset.csv"):
            member = next((m for m in archive.namelist() if m.endswith("/" + name) or m == name), None)
            if member is None:
                sys.exit(f"error: {name} not found in {E2E_ZIP}")
            (target / name).write_bytes(archive.read(member))
            print(f"wrote {target / name}")


def fetch_dart(root: Path):
    for path in DART_FILES:
        out = root / "dart" / "v1.1.1" / Path(path).name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(download(f"{DART_RAW}/{path}"))
        print(f"wrote {out}")
    for path in DART_REFS:
        out = root / "dart" / "references" / Path(path).name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(download(f"{DART_RAW}/{path}"))
        print(f"wrote {out}")


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    fetch_e2e(root)
    fetch_dart(root)
    print(MANUAL.format(root=root))


if __name__ == "__main__":
    main()
