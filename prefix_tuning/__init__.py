"""Prefix-Tuning (Li & Liang, 2021): a frozen LM steered by trained per-layer key/value prefixes."""

__version__ = "0.1.0"

from prefix_tuning import settings  # noqa: E402,F401  (registers the config resolvers)
