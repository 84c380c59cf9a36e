"""A task's `decoding:` section as settings (configs/decoding/*.yaml holds the values and their sources); the
decoders in `generation/` read it."""

from dataclasses import dataclass

from prefix_tuning.errors import UserError
from prefix_tuning.settings import from_section


@dataclass(frozen=True)
class DecodeSettings:
    """A task's `decoding:` section (configs/decoding/*.yaml holds the values and their sources)."""

    num_beams: int
    min_new_tokens: int
    max_new_tokens: int
    length_penalty: float
    no_repeat_ngram_size: int  # 0: no constraint
    early_stopping: bool  # beam search stops when num_beams hypotheses are done
    ban_newlines: bool
    batch_size: int  # sources per `generate` batch
    max_source_tokens: int
    engine_batch_size: int  # sources the beam engine decodes at once

    @classmethod
    def from_mapping(cls, values) -> "DecodeSettings":
        values = dict(values)
        if "batch_size" in values:  # runs saved before the engine had its own width decode as they did then
            values.setdefault("engine_batch_size", values["batch_size"])
        settings = from_section(cls, values, "decoding")
        if min(settings.num_beams, settings.max_new_tokens, settings.batch_size, settings.engine_batch_size) < 1:
            raise UserError("decoding num_beams, max_new_tokens, batch_size and engine_batch_size must be positive")
        if settings.min_new_tokens > settings.max_new_tokens:
            raise UserError("decoding min_new_tokens is larger than max_new_tokens")
        return settings
