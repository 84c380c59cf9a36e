"""The discrete-prompt baseline the paper argues against (section 1, 7.2), written as a practitioner would write
it for an instruct model: the model's own chat template, a one-sentence instruction, and k training pairs as the
earlier turns of the conversation (the instruction with an input, the reference as the assistant's answer), then
the test input. Which instruction and k are chosen on dev (`scripts/choose_prompt.py`), never on test.
"""

from dataclasses import dataclass

from prefix_tuning.errors import UserError
from prefix_tuning.tasks.records import Pair


@dataclass(frozen=True)
class ChatPrompt:
    instruction: str
    examples: tuple[Pair, ...] = ()

    def messages(self, source: str) -> list[dict]:
        turns = []
        for pair in self.examples:
            turns += [{"role": "user", "content": f"{self.instruction}\n{pair.source}"},
                      {"role": "assistant", "content": pair.target}]  # fmt: skip
        return [*turns, {"role": "user", "content": f"{self.instruction}\n{source}"}]

    def encode(self, tokenizer, source: str, max_source_tokens: int) -> list[int]:
        """The chat-templated token ids ending where the assistant's answer starts (the source truncated)."""
        if not getattr(tokenizer, "chat_template", None):
            raise UserError("the prompting baseline needs an instruct model with a chat template (e.g. smollm2-135m)")
        ids = tokenizer(source, add_special_tokens=False)["input_ids"][:max_source_tokens]
        text = tokenizer.apply_chat_template(self.messages(tokenizer.decode(ids)), add_generation_prompt=True,
                                             tokenize=False)  # fmt: skip
        return tokenizer(text, add_special_tokens=False)["input_ids"]


def chat_prompt(prompting_cfg, examples: list[Pair], instruction: str | None = None, shots: int | None = None):
    """The prompt named by a `prompting:` config (configs/prompting/*.yaml): its chosen instruction and number of
    training pairs, or the ones given."""
    name = instruction or prompting_cfg.chosen.instruction
    if name not in prompting_cfg.instructions:
        raise UserError(f"unknown instruction {name!r}; choose one of {', '.join(prompting_cfg.instructions)}")
    count = prompting_cfg.chosen.shots if shots is None else shots
    if count > len(examples):
        raise UserError(f"{count} training pairs asked for in the prompt, {len(examples)} available")
    return ChatPrompt(prompting_cfg.instructions[name], tuple(examples[:count]))
