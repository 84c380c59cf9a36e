"""The xsum task: `data.py` reads the release, `scoring.py` scores outputs as the official tools do."""

from prefix_tuning.tasks.xsum.data import load_eval, load_pairs
from prefix_tuning.tasks.xsum.scoring import item_stats, score_file, score_items

__all__ = ["load_eval", "load_pairs", "item_stats", "score_file", "score_items"]
