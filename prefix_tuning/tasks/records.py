"""The two record types every task loader returns."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pair:
    """One training example: linearized source and one target text."""

    source: str
    target: str


@dataclass(frozen=True)
class EvalItem:
    """One evaluation input with all its references (E2E: one MR; WebNLG: one triple set)."""

    source: str
    references: tuple[str, ...]
    meta: dict = field(default_factory=dict, compare=False)
