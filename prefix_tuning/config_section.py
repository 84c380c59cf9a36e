"""Building a settings dataclass from a config section, naming any unknown key in one line."""

from dataclasses import fields

from prefix_tuning.errors import UserError


def from_section(cls, values, section: str):
    """`cls(**values)` after checking every key is a field of `cls` (a typo is an error, not a silent default)."""
    values = dict(values)
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise UserError(f"unknown {section} option(s): {', '.join(sorted(unknown))}")
    return cls(**values)
