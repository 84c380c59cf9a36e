"""The discrete-prompt baseline (prompting.py): the instruct model's chat template with an instruction and k
training pairs as earlier turns; its instruction and k are the dev choice of scripts/choose_prompt.py."""

import json

import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.generation.chat_prompt import ChatPrompt, chat_prompt
from prefix_tuning.paths import REPO_ROOT
from prefix_tuning.tasks.records import Pair

PAIRS = [Pair("name : Aromi | food : French", "Aromi serves French food ."),
         Pair("name : Zizzi | area : riverside", "Zizzi is by the riverside .")]  # fmt: skip


@pytest.fixture(scope="module")
def smollm2_tokenizer(compose_cfg):
    from prefix_tuning.lm.loading import load_tokenizer

    return load_tokenizer(compose_cfg("model=smollm2-135m").model)


def test_a_few_shot_prompt_is_a_chat_with_the_pairs_as_earlier_turns(smollm2_tokenizer):
    prompt = ChatPrompt("Describe the restaurant.", tuple(PAIRS))
    text = smollm2_tokenizer.decode(prompt.encode(smollm2_tokenizer, "name : The Eagle | food : Thai", 128))
    assert text.count("Describe the restaurant.") == 3
    assert "<|im_start|>assistant\nAromi serves French food .<|im_end|>" in text
    assert text.endswith("<|im_start|>user\nDescribe the restaurant.\nname : The Eagle | food : Thai<|im_end|>\n"
                         "<|im_start|>assistant\n")  # fmt: skip
    assert smollm2_tokenizer.eos_token == "<|im_end|>"  # the answer ends where the assistant's turn ends


def test_the_source_is_truncated_and_a_model_without_a_chat_template_is_refused(smollm2_tokenizer, tiny_tokenizer):
    prompt = ChatPrompt("Describe.")
    long = " ".join(["word"] * 500)
    assert len(prompt.encode(smollm2_tokenizer, long, 16)) < 60
    with pytest.raises(UserError, match="needs an instruct model with a chat template"):
        prompt.encode(tiny_tokenizer, "x", 16)


def test_the_config_names_its_instruction_and_count_or_refuses(compose_cfg):
    prompting = compose_cfg("experiment=demo").prompting
    chosen = chat_prompt(prompting, PAIRS * 5)
    assert chosen.instruction == prompting.instructions[prompting.chosen.instruction]
    assert len(chosen.examples) == prompting.chosen.shots
    with pytest.raises(UserError, match="unknown instruction 'poem'; choose one of"):
        chat_prompt(prompting, PAIRS, instruction="poem")
    with pytest.raises(UserError, match="5 training pairs asked for in the prompt, 2 available"):
        chat_prompt(prompting, PAIRS, shots=5)


def test_the_chosen_prompt_is_the_dev_choice(compose_cfg):
    """configs/prompting/e2e.yaml's `chosen` is the best dev row of results/prompt_choice.json, and the demo's
    few-shot row uses its k."""
    record = json.loads((REPO_ROOT / "results" / "prompt_choice.json").read_text())
    best = max(record["rows"], key=lambda row: row["bleu"])
    cfg = compose_cfg("experiment=demo")
    assert (cfg.prompting.chosen.instruction, cfg.prompting.chosen.shots) == (best["instruction"], best["shots"])
    assert cfg.eval.few_shot == best["shots"]
    assert {(r["instruction"], r["shots"]) for r in record["rows"]} == {
        (name, k) for name in cfg.prompting.instructions for k in cfg.prompting.shots
    }
