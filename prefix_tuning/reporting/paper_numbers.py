"""The paper's numbers (ACL 2021 version; quoted from ../shared/docs/PAPER.md), in the units the paper prints,
for printing beside ours. Table 2 = arXiv v1 Table 1 (v1 numbers its tables one lower)."""

E2E_COLUMNS = ("BLEU", "NIST", "METEOR", "ROUGE-L", "CIDEr")
WEBNLG_COLUMNS = tuple(f"{metric} {split}" for metric in ("BLEU", "MET", "TER") for split in ("S", "U", "A"))
DART_COLUMNS = ("BLEU", "MET", "TER", "MoverScore", "BERTScore", "BLEURT")


def _row(columns, values: str) -> dict[str, float]:
    return dict(zip(columns, (float(v) for v in values.split())))


def _table2_row(e2e: str, webnlg: str, dart: str) -> dict[str, dict[str, float]]:
    return {"e2e": _row(E2E_COLUMNS, e2e), "webnlg": _row(WEBNLG_COLUMNS, webnlg), "dart": _row(DART_COLUMNS, dart)}


# Table 2: rows (model, method) -> {task: {column: value}}; test sets.
TABLE2 = {
    ("medium", "FT-FULL"): _table2_row(
        "68.8 8.71 46.1 71.1 2.43", "64.7 26.7 45.7 .46 .30 .38 .33 .78 .54", "46.2 .39 .46 .50 .94 .39"
    ),
    ("medium", "FT-TOP2"): _table2_row(
        "68.1 8.59 46.0 70.8 2.41", "53.6 18.9 36.0 .38 .23 .31 .49 .99 .72", "41.0 .34 .56 .43 .93 .21"
    ),
    ("medium", "ADAPTER (3%)"): _table2_row(
        "68.9 8.71 46.1 71.3 2.47", "60.5 47.9 54.8 .43 .38 .41 .35 .46 .39", "45.2 .38 .46 .50 .94 .39"
    ),
    ("medium", "ADAPTER (0.1%)"): _table2_row(
        "66.3 8.41 45.0 69.8 2.40", "54.5 45.1 50.2 .39 .36 .38 .40 .46 .43", "42.4 .36 .48 .47 .94 .33"
    ),
    ("medium", "PREFIX (0.1%)"): _table2_row(
        "70.3 8.82 46.3 72.1 2.46", "62.9 45.3 55.0 .44 .37 .41 .35 .51 .42", "46.4 .38 .46 .50 .94 .39"
    ),
    ("large", "FT-FULL"): _table2_row(
        "68.5 8.78 46.0 69.9 2.45", "65.3 43.1 55.5 .46 .38 .42 .33 .53 .42", "47.0 .39 .46 .51 .94 .40"
    ),
    ("large", "PREFIX (0.1%)"): _table2_row(
        "70.3 8.85 46.2 71.7 2.47", "63.4 47.7 56.3 .45 .39 .42 .34 .48 .40", "46.7 .39 .45 .51 .94 .40"
    ),
}
XSUM_COLUMNS = ("R-1", "R-2", "R-L")
TABLE3 = {"FT-FULL": _row(XSUM_COLUMNS, "45.14 22.27 37.25"), "PREFIX (2%)": _row(XSUM_COLUMNS, "43.80 20.93 36.05"),
          "PREFIX (0.1%)": _row(XSUM_COLUMNS, "42.92 20.03 35.05")}  # fmt: skip
TABLE4 = {
    ("news_to_sports", "FT-FULL"): _row(XSUM_COLUMNS, "38.15 15.51 30.26"),
    ("news_to_sports", "PREFIX"): _row(XSUM_COLUMNS, "39.23 16.74 31.51"),
    ("within_news", "FT-FULL"): _row(XSUM_COLUMNS, "39.20 16.35 31.15"),
    ("within_news", "PREFIX"): _row(XSUM_COLUMNS, "39.41 16.87 31.47"),
}
TABLE5 = {
    "PREFIX": _row(E2E_COLUMNS, "70.3 8.82 46.3 72.1 2.46"),
    "EMB-1": _row(E2E_COLUMNS, "48.1 3.33 32.1 60.2 1.10"),
    "EMB-10": _row(E2E_COLUMNS, "62.2 6.70 38.6 66.4 1.75"),
    "EMB-20": _row(E2E_COLUMNS, "61.9 7.11 39.3 65.6 1.85"),
    "INFIX-1": _row(E2E_COLUMNS, "67.9 8.63 45.8 69.4 2.42"),
    "INFIX-10": _row(E2E_COLUMNS, "67.2 8.48 45.8 69.9 2.40"),
    "INFIX-20": _row(E2E_COLUMNS, "66.7 8.47 45.8 70.0 2.42"),
}
# The figures' claims (the paper prints no numbers for them; PAPER.md "Claims the figures make").
CLAIMS = {
    "fig3": "prefix beats fine-tuning by 2.9 BLEU on average at 50-500 E2E examples, the gap narrowing with size",
    "fig4": "performance rises with L up to ~200 (XSUM) and ~10 (table-to-text), then dips slightly",
    "fig5": "real-word init beats random clearly; task words slightly beat unrelated words",
}
