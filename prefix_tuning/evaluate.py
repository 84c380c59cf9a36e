"""Decode a task's evaluation split with a trained method (or the bare model: use_prefix=false) and score it.

    python -m prefix_tuning.evaluate run_dir=runs/<run> [split=test] [max_items=N] [use_prefix=false]
"""

import json
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from prefix_tuning import tasks
from prefix_tuning import methods
from prefix_tuning.base_model import load_base_model, load_tokenizer, model_identity
from prefix_tuning.decode import DecodeSettings, decode
from prefix_tuning.errors import UserError, exit_on_user_error
from prefix_tuning.prefix_model import PrefixLM
from prefix_tuning.seq2seq_prefix import Seq2SeqPrefixLM
from prefix_tuning.score import format_table



def run_identity(cfg: DictConfig, lm) -> dict:
    """What a saved method must match: the base model and its architecture."""
    return {"base_model": model_identity(cfg.model, lm), "architecture": lm.config.model_type, "task": cfg.task.name}


def load_run_config(run_dir: Path) -> DictConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a training run (no config.yaml)")
    return OmegaConf.load(path)


def evaluate_run(cfg: DictConfig, run_dir: Path, lm=None, tokenizer=None, split: str | None = None,
                 max_items: int | None = None, use_prefix: bool = True, name: str | None = None) -> dict:
    """Decode and score; writes `run_dir/eval/<name>/{outputs.txt,metrics.json}` and returns the metrics."""
    run_dir = Path(run_dir)
    split = split or cfg.task.eval_split
    tokenizer = tokenizer or load_tokenizer(cfg.model)
    lm = lm or load_base_model(cfg.model, tokenizer)
    plain = Seq2SeqPrefixLM if lm.config.is_encoder_decoder else PrefixLM
    model = methods.load(cfg.method, run_dir, lm, run_identity(cfg, lm)) if use_prefix else plain(lm, None)
    items = tasks.load_eval_items(cfg.task, split, max_items)
    settings = DecodeSettings.from_mapping(cfg.task.decoding)
    name = name or f"{split}{'' if use_prefix else '-zero_shot'}"
    start = time.perf_counter()
    hypotheses = decode(model, tokenizer, [item.source for item in items], settings, desc=f"decode {name}")
    decode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = tasks.score(cfg.task.name, hypotheses, items)
    score_seconds = time.perf_counter() - start
    out_dir = run_dir / "eval" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "outputs.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    result = {"split": split, "items": len(items), "use_prefix": use_prefix, "scores": scores,
              "decode_seconds": decode_seconds, "score_seconds": score_seconds}
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    result["examples"] = [(item.source, h, item.references[0]) for item, h in list(zip(items, hypotheses))[:3]]
    return result


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    args = OmegaConf.from_dotlist(sys.argv[1:] if argv is None else argv)
    unknown = set(args) - {"run_dir", "split", "max_items", "use_prefix"}
    if "run_dir" not in args or unknown:
        raise UserError("usage: python -m prefix_tuning.evaluate run_dir=runs/<run> [split=S] [max_items=N] [use_prefix=false]")
    run_cfg = load_run_config(Path(args.run_dir))
    result = evaluate_run(run_cfg, Path(args.run_dir), split=args.get("split"), max_items=args.get("max_items"),
                          use_prefix=bool(args.get("use_prefix", True)))
    print(format_table(result["scores"], f"{run_cfg.task.name} {result['split']} ({result['items']} items)"))
    return result


if __name__ == "__main__":
    main()
