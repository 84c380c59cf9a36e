"""Where data and caches live: one resolution rule used everywhere."""

import os
from pathlib import Path

from prefix_tuning.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "configs"


def data_dir() -> Path:
    """`PREFIX_TUNING_DATA` if set, else `../shared/data` beside the repo, else `data/` (filled by `make data`)."""
    env = os.environ.get("PREFIX_TUNING_DATA")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise UserError(f"PREFIX_TUNING_DATA={env} is not a directory")
        return path
    shared = REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return REPO_ROOT / "data"


def data_file(*parts: str) -> Path:
    """A file under the data dir, or a UserError that says how to get it."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise UserError(f"missing data file {path} (run `make data` or set PREFIX_TUNING_DATA)")
    return path


def cache_dir() -> Path:
    """User-level cache for converted model weights: `PREFIX_TUNING_CACHE`, else `$XDG_CACHE_HOME/prefix-tuning`."""
    env = os.environ.get("PREFIX_TUNING_CACHE")
    if env:
        path = Path(env).expanduser()
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "prefix-tuning"
    path.mkdir(parents=True, exist_ok=True)
    return path


def code_version() -> str:
    """The git commit of this checkout (with "+changes" when tracked files differ from it), or "unknown"."""
    import subprocess

    def git(*args) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return (commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
