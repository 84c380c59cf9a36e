"""The prefix folder a server watches: every prefix file in it is a model, found again on every request.

`DIR/<name>.safetensors` or a run folder `DIR/<name>/prefix.safetensors` is the model `<name>`. A file is
read once per version (path, mtime, size): adding a file makes it servable at the next request, removing
it makes its name unknown (404), rewriting it (atomically, as `tensor_files` writes) serves the new P.
A file that does not fit the served LM (another base model, architecture or geometry, not a prefix, no
task) is refused with the one-line reason `tensor_files` gives; at start-up that is an error.
"""

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError
from prefix_tuning.prefix.file_format import load_prefix
from prefix_tuning.prefix.method import PREFIX_FILE
from prefix_tuning.serving.task_decoding import TaskDecoding, task_decoding
from prefix_tuning.tasks.encoding import prompt_ids
from prefix_tuning.tensor_files import read_metadata

SUFFIX = ".safetensors"


@dataclass(frozen=True)
class ServedPrefix:
    """One servable prefix: P [layers, 2, kv_heads, L, head_dim] on the LM's device, and its task's decoding."""

    name: str
    path: Path
    kv: torch.Tensor | dict[str, torch.Tensor]  # an encoder-decoder's: {encoder, decoder, cross}
    decoding: TaskDecoding
    prompt: tuple[int, ...]  # the task's source prompt ids (usually none)
    created: int  # file mtime, seconds

    @property
    def length(self) -> int:
        return next(iter(self.kv.values())).shape[-2] if isinstance(self.kv, dict) else self.kv.shape[-2]

    @property
    def seq2seq(self) -> bool:
        return isinstance(self.kv, dict)


def discover(directory: Path) -> dict[str, Path]:
    """name -> prefix file; a bare file wins over a run folder of the same name."""
    found: dict[str, Path] = {}
    entries = sorted(directory.iterdir(), key=lambda p: (p.is_dir(), p.name))
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.suffix == SUFFIX and entry.is_file():
            found.setdefault(entry.stem, entry)
        elif entry.is_dir() and (entry / PREFIX_FILE).is_file():
            found.setdefault(entry.name, entry / PREFIX_FILE)
    return found


def shared_identity(directory: Path, files: dict[str, Path]) -> dict:
    """The base model and architecture every file in the folder was made for; the odd file out is an error."""
    if not files:
        raise UserError(f"no prefix files in {directory} (<name>{SUFFIX} or <name>/{PREFIX_FILE}); or pass --model")
    metas = {path: read_metadata(path) for path in files.values()}
    counts = Counter((meta.get("base_model"), meta.get("architecture")) for meta in metas.values())
    (base_model, architecture), _ = counts.most_common(1)[0]
    check_identity(
        metas, {"base_model": base_model, "architecture": architecture}, f"the other prefixes in {directory}"
    )
    return {"base_model": base_model, "architecture": architecture}


def check_identity(metas: dict[Path, dict], identity: dict, served: str):
    for path, meta in metas.items():
        got = (meta.get("base_model"), meta.get("architecture"))
        if got != (identity["base_model"], identity["architecture"]):
            raise UserError(
                f"{path} was made for base model {got[0]} ({got[1]}), but {served} are for "
                f"{identity['base_model']} ({identity['architecture']}); serve it from a server of its own"
            )


class PrefixStore:
    """The servable prefixes of a folder, for one LM (identity, geometry, tokenizer, device)."""

    def __init__(self, directory: Path, identity: dict, geometry: KVGeometry | dict, tokenizer, device):
        self.directory = Path(directory)
        self.identity = {"base_model": identity["base_model"], "architecture": identity["architecture"]}
        self.geometry = geometry
        self.tokenizer = tokenizer
        self.device = device
        self._cache: dict[Path, tuple[tuple[int, int], ServedPrefix | str]] = {}

    def scan(self) -> tuple[dict[str, ServedPrefix], dict[str, str]]:
        """(servable prefixes by name, refused names with the reason); only new or changed files are read."""
        try:
            files = discover(self.directory)
        except OSError as err:
            return {}, {"*": f"cannot read {self.directory}: {err}"}
        served, refused = {}, {}
        for name, path in files.items():
            try:
                stat = path.stat()
            except OSError:
                continue  # removed while listing
            version = (stat.st_mtime_ns, stat.st_size)
            cached = self._cache.get(path)
            if cached is None or cached[0] != version:
                cached = (version, self._load(name, path, int(stat.st_mtime)))
                self._cache[path] = cached
                if isinstance(cached[1], str):
                    print(f"refused {path}: {cached[1]}", file=sys.stderr)
            if isinstance(cached[1], str):
                refused[name] = cached[1]
            else:
                served[name] = cached[1]
        for path in set(self._cache) - set(files.values()):
            del self._cache[path]
        return served, refused

    def _load(self, name: str, path: Path, created: int) -> ServedPrefix | str:
        """The prefix in `path`, or the one-line reason it cannot be served."""
        try:
            meta = read_metadata(path)
            if ("parts" in meta) != isinstance(self.geometry, dict):
                kinds = ("an encoder-decoder", "a decoder-only")
                prefix, base = kinds if "parts" in meta else kinds[::-1]
                raise UserError(f"{path} is {prefix} prefix, but this server's base model {self.identity['base_model']} "
                                f"is {base} LM: serve it from a server of its own")  # fmt: skip
            kv = load_prefix(path, self.identity, self.geometry)
            task = json.loads(meta.get("extra") or "{}").get("task")
            if not task:
                raise UserError(f"{path} names no task in its metadata, so its decoding settings are unknown")
            run_config = path.parent / "config.yaml" if path.name == PREFIX_FILE else None
            decoding = task_decoding(task, run_config)
        except (UserError, OSError, ValueError) as err:
            return str(err)
        prompt = tuple(prompt_ids(self.tokenizer, decoding.source_prompt))
        kv = {part: t.to(self.device) for part, t in kv.items()} if isinstance(kv, dict) else kv.to(self.device)
        return ServedPrefix(name, path, kv, decoding, prompt, created)
