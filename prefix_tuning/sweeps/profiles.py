"""The three reproduction profiles and which one runs.

- `paper`: the paper's models, full data, the paper's grid (all seeds and subsets): GPU machines with internet.
- `cpu`: the embedded SmolLM2 and the offline data, scaled down to hours per artifact on 2 CPU cores (about
  25 CPU-hours for the seven: experiments/README.md has the plan); the grid keeps its shape where it can
  (fewer subsets, seeds, steps and test items, never fewer methods or conditions) and every deviation is
  listed in the report's caption.
- `smoke`: tiny random models, a few steps, a few test items: the whole artifact pipeline in about a
  minute, for tests and CI.
"""

import os

from prefix_tuning.errors import UserError

PROFILES = ("paper", "cpu", "smoke")


def chosen_profile(requested: str | None = None) -> tuple[str, str]:
    """(profile, why): the requested one (argument or PROFILE), else `paper` with a CUDA GPU, else `cpu`."""
    requested = requested or os.environ.get("PROFILE") or None
    if requested:
        if requested not in PROFILES:
            raise UserError(f"unknown PROFILE={requested!r}; choose one of {', '.join(PROFILES)}")
        return requested, "chosen with PROFILE"
    import torch

    if torch.cuda.is_available():
        return "paper", "the default with a CUDA GPU visible"
    return "cpu", "the default without a CUDA GPU"


def profile_line(artifact: str, profile: str, why: str) -> str:
    """The first line a reproduction prints."""
    others = "|".join(p for p in PROFILES if p != profile)
    return f"reproduce {artifact}: profile {profile} ({why}); choose another with PROFILE={others}"
