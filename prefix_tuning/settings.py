"""Settings dataclasses from config sections: a typo or a missing key is a one-line error, never a silent default."""

from dataclasses import fields

from prefix_tuning.errors import UserError


def from_section(cls, values, section: str):
    """`cls(**values)` after checking the keys are exactly the fields of `cls`."""
    values = dict(values)
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise UserError(f"unknown {section} option(s): {', '.join(sorted(unknown))}")
    missing = names - set(values)
    if missing:
        raise UserError(f"missing {section} option(s): {', '.join(sorted(missing))}")
    return cls(**values)
