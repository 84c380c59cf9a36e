"""Reading a method's options from its config section (`configs/method/<file>.yaml`)."""

from prefix_tuning.errors import UserError
from prefix_tuning.settings import method_options as options  # also imported from here by the methods


def checked_options(method_cfg, known: tuple[str, ...]) -> dict:
    """`options`, naming any key the method does not know or misses."""
    values = options(method_cfg)
    unknown, missing = set(values) - set(known), set(known) - set(values)
    if unknown:
        raise UserError(f"unknown {method_cfg.name} option(s): {', '.join(sorted(unknown))}")
    if missing:
        raise UserError(f"missing {method_cfg.name} option(s): {', '.join(sorted(missing))}")
    return values


def require_causal_lm(lm, method: str):
    """The baselines and ablations are written for decoder-only LMs; say so instead of failing inside the model."""
    if lm.config.is_encoder_decoder:
        raise UserError(
            f"method {method} supports causal LMs (GPT-2, Llama) only; use method=prefix with the encoder-decoder {lm.config.model_type}"
        )
