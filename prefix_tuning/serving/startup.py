"""Putting a server together: the base model the prefix files name, the store, the worker, the app.

At start every prefix file in the folder must fit one base model (`shared_identity`) and load (`scan`);
the first that does not is an error naming it. Files added later that do not fit are refused one by one
(listed under `refused` by GET /health) and the server goes on.
"""

from pathlib import Path

import torch

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.generation.decode import newline_token_ids
from prefix_tuning.lm.loading import context_length
from prefix_tuning.prefix.seq2seq_layouts import seq2seq_geometries
from prefix_tuning.serving.app import Serving
from prefix_tuning.serving.base_model import load_served_model, model_config_for, model_config_named
from prefix_tuning.serving.batcher import Batcher
from prefix_tuning.serving.prefix_store import PrefixStore, discover, shared_identity


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_serving(
    directory: Path, model: str | None = None, device: str | None = None, max_batch: int = 32,
    api_key: str | None = None, max_queue: int | None = None, timeout: float | None = None,
):  # fmt: skip
    """A `Serving` for the prefixes in `directory` (`model`: a configs/model name or id, needed for an empty folder;
    `api_key`: Bearer auth on /v1; `max_queue`: rows waiting before 429; `timeout`: seconds per completion)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"--prefixes {directory} is not a folder")
    if max_batch < 1 or (max_queue is not None and max_queue < 1) or (timeout is not None and timeout <= 0):
        raise UserError("--max-batch, --max-queue and --timeout must be positive")
    files = discover(directory)
    if model is None:
        model_cfg = model_config_for(shared_identity(directory, files)["base_model"])
    else:
        model_cfg = model_config_named(model)
    lm, tokenizer, identity = load_served_model(model_cfg, device or default_device())
    geometry = seq2seq_geometries(lm.config) if lm.config.is_encoder_decoder else KVGeometry.of(lm.config)
    store = PrefixStore(directory, identity, geometry, tokenizer, next(lm.parameters()).device)
    _, refused = store.scan()
    if refused:
        raise UserError(next(iter(refused.values())))
    newline_token_ids(tokenizer)  # computed once here, not in the first request
    return Serving(store, Batcher(lm, tokenizer.pad_token_id, max_batch), tokenizer, context_length(lm),
                   identity["base_model"], api_key, max_queue, timeout)  # fmt: skip
