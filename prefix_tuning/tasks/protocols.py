"""Which references (and output form) a score is computed against.

- `challenge`: the official tool as published, on raw outputs against the release references: what
  published system outputs (E2E challenge entries, the DART leaderboard) are scored with.
- `paper`: what the paper's numbers used and every run of ours records: E2E references in the same
  tokenized form as the training targets (the authors' gold files: "family - friendly", "£ 20 - 25");
  DART outputs and references lowercased and split on non-word characters (the official DART
  references' form; `tolower.py`-style tokenization of the outputs, as the original code's DART scoring).
WebNLG and XSUM scores are the same under both: the challenge script and rouge-score normalize both sides.
"""

from prefix_tuning.errors import UserError

PROTOCOLS = ("paper", "challenge")


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown scoring protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return protocol
