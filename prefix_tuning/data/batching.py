"""Token sequences for a causal LM or an encoder-decoder, and length-grouped batches.

Causal LM: a training example is ` {source} <eos> {target} <eos>` (the original code's format,
with the model's EOS as separator), labels masked on the source. Encoder-decoder: the source ids
(with the tokenizer's own special tokens, ending in EOS) go to the encoder and the target ids are
the labels. Batches group examples of similar length: on a random batch ~26% of the compute is padding.
"""

import random

import torch

from prefix_tuning.data.example import Pair
from prefix_tuning.label_loss import IGNORE_INDEX


def encode_source(tokenizer, source: str, max_source_tokens: int) -> list[int]:
    """Prompt ids: ` {source} <eos>`, the source truncated to `max_source_tokens`."""
    ids = tokenizer(" " + source, add_special_tokens=False)["input_ids"][:max_source_tokens]
    return ids + [tokenizer.eos_token_id]


def encode_pair(tokenizer, pair: Pair, max_source_tokens: int, max_target_tokens: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one training pair; labels are IGNORE_INDEX on the prompt."""
    prompt = encode_source(tokenizer, pair.source, max_source_tokens)
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


def encode_seq2seq_pair(tokenizer, pair: Pair, max_source_tokens: int, max_target_tokens: int) -> tuple[list[int], list[int]]:
    """(source ids for the encoder, target ids as labels) for one training pair."""
    return encode_text(tokenizer, pair.source, max_source_tokens), encode_text(tokenizer, pair.target, max_target_tokens)


def pad_batch(sequences: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence on `side`; returns (ids, attention_mask)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        span = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
        ids[row, span] = torch.tensor(seq, dtype=torch.long)
        mask[row, span] = 1
    return ids, mask


def collate_training(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels."""
    input_ids, attention_mask = pad_batch([e[0] for e in examples], pad_id, "right")
    labels, _ = pad_batch([e[1] for e in examples], IGNORE_INDEX, "right")
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, epoch: int, group: int = 50) -> list[list[int]]:
    """Shuffled batches of indices; within windows of `group` batches, examples are sorted by length.

    A pure function of (seed, epoch), so a resumed run sees exactly the same batches.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * group
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
