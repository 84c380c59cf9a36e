"""Settings dataclasses from config sections: a typo or a missing key is a one-line error, never a silent default.
Also the `pick` config resolver (per-size tables such as Table 8), registered when the package is imported."""

from dataclasses import MISSING, fields

from omegaconf import OmegaConf

from prefix_tuning.errors import UserError


def from_section(cls, values, section: str):
    """`cls(**values)` after checking the keys are the fields of `cls` (those with a default may be left out)."""
    values = dict(values)
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise UserError(f"unknown {section} option(s): {', '.join(sorted(unknown))}")
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
    missing = required - set(values)
    if missing:
        raise UserError(f"missing {section} option(s): {', '.join(sorted(missing))}")
    return cls(**values)


def method_options(method_cfg) -> dict:
    """A method's options (`configs/method/<file>.yaml`) without its name and run-name tag, as plain Python values."""
    values = OmegaConf.to_container(method_cfg, resolve=True) if OmegaConf.is_config(method_cfg) else dict(method_cfg)
    values.pop("name", None)
    values.pop("tag", None)
    return values


def _pick(table, key):
    """`${pick:${table8.prefix},${task.train_size}}`: the entry of a config mapping for a key of any type."""
    if table is None or str(key) not in table:
        raise UserError(f"no entry {key!r} in {list(table or {})} (a per-size table such as Table 8)")
    return table[str(key)]


if not OmegaConf.has_resolver("pick"):
    OmegaConf.register_new_resolver("pick", _pick)
