"""The prefix's hyper-parameters: everything needed to build a `PrefixEncoder` for a given base model.

The values live in one place, `configs/method/prefix.yaml` (with the paper section of each); this
dataclass only names and checks them.
"""

from dataclasses import asdict, dataclass

from prefix_tuning.errors import UserError
from prefix_tuning.settings import from_section

INIT_STRATEGIES = ("random", "words")
RANDOM_INITS = ("normal", "uniform")


@dataclass(frozen=True)
class PrefixConfig:
    """Prefix length L, the MLP reparametrization (paper section 4.3) and the init strategy (section 7.4)."""

    prefix_length: int | None  # None with init=words: the words' token count
    mlp_hidden: int | None  # None trains P directly (no MLP)
    dropout: float
    init: str  # "random" or "words"
    init_words: str | None
    random_init: str  # "normal": N(0, 1) (original code) | "uniform": U(0, 1) (paper appendix A.5)
    init_fit_steps: int  # MSE fit of the MLP to the word activations
    init_fit_lr: float

    def __post_init__(self):
        if self.prefix_length is None and self.init != "words":
            raise UserError("prefix_length may only be null with init=words (it is then the words' token count)")
        if self.prefix_length is not None and (not isinstance(self.prefix_length, int) or self.prefix_length <= 0):
            raise UserError(f"prefix_length must be a positive integer, got {self.prefix_length!r}")
        if self.mlp_hidden is not None and self.mlp_hidden <= 0:
            raise UserError(f"mlp_hidden must be positive or null (no MLP), got {self.mlp_hidden!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"prefix dropout must be in [0, 1), got {self.dropout!r}")
        if self.init not in INIT_STRATEGIES:
            raise UserError(f"unknown prefix init {self.init!r}; choose one of {', '.join(INIT_STRATEGIES)}")
        if self.random_init not in RANDOM_INITS:
            raise UserError(f"unknown random_init {self.random_init!r}; choose one of {', '.join(RANDOM_INITS)}")
        if self.init == "words" and not (self.init_words or "").strip():
            raise UserError("prefix init=words needs init_words, e.g. init_words='table-to-text'")

    @classmethod
    def from_mapping(cls, values) -> "PrefixConfig":
        """From a Hydra/dict config section, naming any unknown or missing key."""
        return from_section(cls, values, "method")

    def to_dict(self) -> dict:
        return asdict(self)
