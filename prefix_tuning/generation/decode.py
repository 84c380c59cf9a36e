"""Decoding as the paper: beam search, length limits, newline tokens banned, output cut at the first EOS.

Every setting `generate` uses comes from the task's `decoding:` config (configs/decoding/), passed
explicitly, so nothing is inherited from a hub model's generation config (bart-large's holds beam 4,
no_repeat_ngram_size 3 and early stopping) except its special-token ids.
"""

from tqdm.auto import tqdm

from prefix_tuning.core.steered_lm import SteeredLM
from prefix_tuning.generation.beam_engine import BeamEngine, Item, SearchSettings
from prefix_tuning.lm.families import family_of
from prefix_tuning.tasks.decoding import DecodeSettings
from prefix_tuning.tasks.encoding import encode_source, encode_text
from prefix_tuning.training.batching import pad_batch


def newline_token_ids(tokenizer) -> list[list[int]]:
    """Every vocabulary entry that decodes to text containing a newline, as `bad_words_ids` (computed once)."""
    cached = getattr(tokenizer, "_prefix_tuning_newline_ids", None)
    if cached is None:
        pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        cached = [[i] for i, piece in enumerate(pieces) if "\n" in piece]
        tokenizer._prefix_tuning_newline_ids = cached
    return cached


def cut_at_eos(ids: list[int], eos_id: int) -> list[int]:
    return ids[: ids.index(eos_id)] if eos_id in ids else ids


def output_text(tokenizer, ids: list[int]) -> str:
    """An output's text: its ids up to EOS, special tokens skipped, stripped."""
    return tokenizer.decode(cut_at_eos(ids, tokenizer.eos_token_id), skip_special_tokens=True).strip()


def prompt_pad_id(tokenizer) -> int:
    """The id that fills masked prompt positions in a left-padded batch: the tokenizer's pad id unless that is
    also EOS, else the first id that is no special token.

    Our prompts end with EOS (the source/target separator), and GPT-2 and SmolLM2 pad with EOS, so `generate`
    would see EOS as the last column and warn of right padding. Masked positions take no part in attention, so
    the value is free; the outputs do not change (tests/generation compare both ids).
    """
    if tokenizer.pad_token_id != tokenizer.eos_token_id:
        return tokenizer.pad_token_id
    special = set(tokenizer.all_special_ids)
    return next(i for i in range(len(tokenizer)) if i not in special)


def generate_kwargs(settings: DecodeSettings, tokenizer) -> dict:
    """The keyword arguments `generate` gets: every decoding setting, explicitly."""
    kwargs = dict(
        num_beams=settings.num_beams,
        min_new_tokens=settings.min_new_tokens,
        max_new_tokens=settings.max_new_tokens,
        length_penalty=settings.length_penalty,
        no_repeat_ngram_size=settings.no_repeat_ngram_size,
        early_stopping=settings.early_stopping,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=prompt_pad_id(tokenizer),
    )
    if settings.ban_newlines:
        kwargs["bad_words_ids"] = newline_token_ids(tokenizer)
    return kwargs


def decode(
    model: SteeredLM,
    tokenizer,
    sources: list[str],
    settings: DecodeSettings,
    desc: str = "decode",
    prompt: list[int] = (),
    engine: bool = True,
    encode=None,
) -> list[str]:
    """One output per source, in input order. Batches are formed from sources of similar length.

    A causal LM continues left-padded prompts (`prompt` ids before each source, or `encode(source)` -> the whole
    prompt's ids, e.g. a chat template: `prompting.py`); an encoder-decoder reads
    right-padded sources (BART's encoder positions ignore padding) and `generate` returns its decoder tokens.
    Models that fit it decode with the beam engine (the same choices as `generate`, with continuous
    batching); `engine=False` uses Hugging Face `generate` in fixed batches (the reference it is tested against).
    """
    seq2seq = model.lm.config.is_encoder_decoder
    if seq2seq:
        prompts = [encode_text(tokenizer, s, settings.max_source_tokens) for s in sources]
    elif encode is not None:
        prompts = [encode(s) for s in sources]
    else:
        prompts = [encode_source(tokenizer, s, settings.max_source_tokens, prompt) for s in sources]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    outputs: list[str] = [""] * len(prompts)
    device = next(model.lm.parameters()).device
    model.eval()
    if engine and uses_engine(model, settings):
        beams = BeamEngine(
            model.lm, search_settings(settings, tokenizer), settings.engine_batch_size * settings.num_beams
        )
        kv = model.prefix_kv()
        for i in order:
            beams.add(Item(prompts[i], kv, key=i))
        with tqdm(total=len(prompts), desc=desc, unit="input") as bar:
            while beams.busy():
                for item in beams.step():
                    if item.error is not None:
                        raise item.error
                    outputs[item.key] = output_text(tokenizer, item.result)
                    bar.update(1)
        return outputs
    kwargs = generate_kwargs(settings, tokenizer)
    side, pad_id = ("right", tokenizer.pad_token_id) if seq2seq else ("left", kwargs["pad_token_id"])
    batch_size = settings.batch_size if seq2seq or fits_window(model, len(prompts[order[0]]), settings) else 1
    with tqdm(total=len(prompts), desc=desc, unit="input") as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = pad_batch([prompts[i] for i in rows], pad_id, side)
            new = model.generate(ids.to(device), mask.to(device), **kwargs)
            for row, seq in zip(rows, new.tolist()):
                outputs[row] = output_text(tokenizer, seq)
            bar.update(len(rows))
    return outputs


def search_settings(settings: DecodeSettings, tokenizer) -> SearchSettings:
    banned = tuple(ids[0] for ids in newline_token_ids(tokenizer)) if settings.ban_newlines else ()
    return SearchSettings(
        num_beams=settings.num_beams, min_new_tokens=settings.min_new_tokens, max_new_tokens=settings.max_new_tokens,
        length_penalty=settings.length_penalty, early_stopping=settings.early_stopping,
        eos_token_id=tokenizer.eos_token_id, banned_token_ids=banned,
    )  # fmt: skip


def fits_window(model: SteeredLM, prompt_length: int, settings: DecodeSettings) -> bool:
    """Whether prefix + prompt + new tokens fit any sliding window of a causal LM. Past it, left padding would move
    a row's tokens relative to the window (padding takes window slots), so rows decode alone."""
    return family_of(model.lm.config).fits_window(model.lm.config, _span(model, prompt_length, settings))


def uses_engine(model: SteeredLM, settings: DecodeSettings) -> bool:
    """The beam engine decodes causal models that say they fit it, with the processors it implements, on a family
    whose engine is proven equal to `generate` (`lm/families.py`), inside any sliding window."""
    if not getattr(model, "engine_ready", False) or model.lm.config.is_encoder_decoder:
        return False
    return engine_fits(model.lm, _span(model, settings.max_source_tokens + 1, settings)) and (
        settings.no_repeat_ngram_size == 0
    )


def _span(model: SteeredLM, prompt_length: int, settings: DecodeSettings) -> int:
    """Positions a row takes: the method's added positions (a prefix), the prompt and the new tokens."""
    added = model.added_positions() if hasattr(model, "added_positions") else 0
    return added + prompt_length + settings.max_new_tokens


def engine_fits(lm, span: int) -> bool:
    """Whether the beam engine may decode `span` tokens (prefix, prompt and new tokens) with this LM."""
    family = family_of(lm.config)
    return family.fused_decoding and family.fits_window(lm.config, span)
