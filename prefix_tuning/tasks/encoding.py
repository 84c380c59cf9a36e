"""Token sequences of a task's examples, for a causal LM or an encoder-decoder.

Causal LM: a training example is ` {source} <eos> {target} <eos>` (the original code's format, with
the model's EOS as separator), labels masked on the source. Encoder-decoder: the source ids (with the
tokenizer's own special tokens, ending in EOS) go to the encoder and the target ids are the labels.
A `prompt` (token ids) goes before every source: a discrete prompt such as the low-data fine-tuning
baseline's init words (`task.source_prompt`, tokenized by `prompt_ids`) or few-shot demonstrations.
"""

from prefix_tuning.core.label_loss import IGNORE_INDEX
from prefix_tuning.tasks.records import Pair


def prompt_ids(tokenizer, text: str | None) -> list[int]:
    """The ids of a text prompt, ` {text}` ([] for none)."""
    return tokenizer(" " + text.strip(), add_special_tokens=False)["input_ids"] if text else []


def encode_source(tokenizer, source: str, max_source_tokens: int, prompt: list[int] = ()) -> list[int]:
    """Prompt ids: `[prompt] {source} <eos>`, the source truncated to `max_source_tokens`."""
    ids = tokenizer(" " + source, add_special_tokens=False)["input_ids"][:max_source_tokens]
    return [*prompt, *ids, tokenizer.eos_token_id]


def encode_pair(
    tokenizer, pair: Pair, max_source_tokens: int, max_target_tokens: int, prompt: list[int] = ()
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one training pair; labels are IGNORE_INDEX on the prompt."""
    prompt = encode_source(tokenizer, pair.source, max_source_tokens, prompt)
    target = tokenizer(" " + pair.target, add_special_tokens=False)["input_ids"][:max_target_tokens]
    target = target + [tokenizer.eos_token_id]
    return prompt + target, [IGNORE_INDEX] * len(prompt) + target


def encode_text(tokenizer, text: str, max_tokens: int) -> list[int]:
    """Encoder-decoder ids of `text`, at most `max_tokens` in all (special tokens included, as the
    original's 1024-token XSUM sources): the tokenizer's own special tokens (BART: <s> .. </s>,
    T5: .. </s>), always ending in EOS, which is added when the tokenizer adds none (GPT-2's)."""
    ids = tokenizer(text)["input_ids"]
    body = ids[:-1] if ids and ids[-1] == tokenizer.eos_token_id else ids
    return body[: max_tokens - 1] + [tokenizer.eos_token_id]


def encode_seq2seq_pair(
    tokenizer, pair: Pair, max_source_tokens: int, max_target_tokens: int
) -> tuple[list[int], list[int]]:
    """(source ids for the encoder, target ids as labels) for one training pair."""
    return encode_text(tokenizer, pair.source, max_source_tokens), encode_text(
        tokenizer, pair.target, max_target_tokens
    )
