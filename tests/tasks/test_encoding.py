"""The exact token layout of a training example and a decoding prompt (GPT-2's real BPE)."""

from prefix_tuning.core.label_loss import IGNORE_INDEX
from prefix_tuning.tasks.encoding import encode_pair, encode_source, prompt_ids
from prefix_tuning.tasks.records import Pair


def test_training_example_is_space_source_eos_space_target_eos(tiny_tokenizer):
    tok = tiny_tokenizer
    eos = tok.eos_token_id
    ids, labels = encode_pair(tok, Pair("name : Aromi", "Aromi is nice ."), 64, 64)
    source = tok.encode(" name : Aromi")
    target = tok.encode(" Aromi is nice .")
    assert ids == [*source, eos, *target, eos]
    assert labels == [IGNORE_INDEX] * (len(source) + 1) + [*target, eos]
    assert tok.convert_ids_to_tokens(source) == ["Ġname", "Ġ:", "ĠA", "rom", "i"]


def test_truncation_and_prompts(tiny_tokenizer):
    tok = tiny_tokenizer
    eos = tok.eos_token_id
    assert encode_source(tok, "a b c d", 2) == [*tok.encode(" a b"), eos]
    ids, labels = encode_pair(tok, Pair("x", "one two three"), 64, 2)
    assert ids[-3:] == [*tok.encode(" one two"), eos] and labels[-3:] == ids[-3:]
    prompt = prompt_ids(tok, "table-to-text:")
    assert len(prompt) == 6 and prompt_ids(tok, None) == []
    assert encode_source(tok, "name : A", 64, prompt) == [*prompt, *tok.encode(" name : A"), eos]
