"""A completion request's batch rows (`Job`s), and their new tokens as OpenAI's completion choices.

A prompt is encoded as `prefix_tuning.evaluate` encodes sources (`encode_source`: the task's source prompt, the
text, EOS) and decoded with the prefix's task settings (`task_decoding`) changed only as the request asks
(`completion_request.plan`). An answer is cut at the first EOS and stripped, as `decode` does; then before the
first stop string. Its log-probabilities are the model's own for the tokens the text keeps.
"""

import time
import uuid
from dataclasses import replace

from prefix_tuning.generation.decode import (
    DecodeSettings,
    cut_at_eos,
    engine_fits,
    generate_kwargs,
    output_text,
    search_settings,
)
from prefix_tuning.serving.batcher import Job
from prefix_tuning.serving.completion_request import ApiError, CompletionRequest, Plan
from prefix_tuning.serving.prefix_store import ServedPrefix
from prefix_tuning.tasks.encoding import encode_source, encode_text


def request_settings(served: ServedPrefix, plan: Plan, max_tokens: int | None) -> DecodeSettings:
    settings = served.decoding.settings
    max_new = max_tokens or settings.max_new_tokens
    return replace(
        settings,
        num_beams=plan.num_beams or settings.num_beams,
        max_new_tokens=max_new,
        min_new_tokens=min(settings.min_new_tokens, max_new),
    )


def prompt_ids(served: ServedPrefix, prompt: str, tokenizer, settings: DecodeSettings, truncate: bool) -> list[int]:
    """The row's prompt ids (an encoder-decoder's: its encoder input); a prompt longer than the task's source limit
    is refused unless the request opts in."""
    if served.seq2seq:
        length = len(tokenizer(prompt)["input_ids"])
        text = prompt if not served.decoding.source_prompt else f"{served.decoding.source_prompt} {prompt}"
        ids = encode_text(tokenizer, text, settings.max_source_tokens if truncate else 10**9)
    else:
        length = len(tokenizer(" " + prompt, add_special_tokens=False)["input_ids"])
    if length > settings.max_source_tokens and not truncate:
        raise ApiError(
            400,
            f"prompt is {length} tokens but {served.decoding.task} prefixes read at most {settings.max_source_tokens} "
            "(the task's source limit); shorten it, or send truncate_prompt=true to keep its first "
            f"{settings.max_source_tokens} tokens",
            "prompt",
            "context_length_exceeded",
        )
    return ids if served.seq2seq else encode_source(tokenizer, prompt, settings.max_source_tokens, list(served.prompt))


def completion_jobs(served: ServedPrefix, request: CompletionRequest, plan: Plan, tokenizer, context: int, lm=None):
    """Per prompt, its rows: one for search (it returns the n best beams), best_of draws for sampling. A row goes to
    the beam engine, or, for an encoder-decoder or a family the engine is not proven on (`lm/families.py`: `lm`'s
    family, and any sliding window the row's span would exceed), to `generate` alone (`generate_jobs`)."""
    settings = request_settings(served, plan, request.max_tokens)
    search = search_settings(settings, tokenizer)
    keep = plan.logprobs if plan.logprobs is not None else (0 if plan.rank_by_logprob else None)
    rows = []
    for prompt in plan.prompts:
        ids = prompt_ids(served, prompt, tokenizer, settings, request.truncate_prompt)
        total = len(ids) + served.length + settings.max_new_tokens
        if not served.seq2seq and total > context:
            raise ApiError(400, f"prompt ({len(ids)} tokens) + prefix ({served.length}) + max_tokens "
                           f"({settings.max_new_tokens}) = {total} tokens exceeds the model's context of {context} "
                           "tokens", "max_tokens", "context_length_exceeded")  # fmt: skip
        if served.seq2seq or (lm is not None and not engine_fits(lm, total)):
            rows.append(generate_jobs(served, ids, plan, settings, search, tokenizer))
        elif plan.sampling is None:
            rows.append([Job(ids, served.kv, search, logprobs=keep, returns=plan.n)])
        else:
            seed = plan.sampling.seed
            rows.append([Job(ids, served.kv, search, sampling=replace(plan.sampling, seed=None if seed is None else seed + j),
                             logprobs=keep) for j in range(plan.draws)])  # fmt: skip
    return rows


def generate_jobs(served, ids: list[int], plan: Plan, settings: DecodeSettings, search, tokenizer) -> list[Job]:
    """A prompt's rows decoded alone by `generate` with the task's settings as the request changes them (sampling:
    do_sample with its temperature and top-p, seeded; beams: the n best as num_return_sequences). Log-probabilities
    are not computed for them (refused)."""
    if plan.logprobs is not None or plan.rank_by_logprob:
        field = "logprobs" if plan.logprobs is not None else "best_of"
        whom = "encoder-decoder models" if served.seq2seq else "this model family (decoded by generate)"
        raise ApiError(400, f"{field}: log-probabilities are not computed for {whom}", field,
                       "unsupported_parameter")  # fmt: skip
    kwargs = generate_kwargs(settings, tokenizer)
    if plan.sampling is None:
        return [Job(ids, served.kv, search, returns=plan.n, generate={**kwargs, "num_return_sequences": plan.n})]
    sample = {**kwargs, "num_beams": 1, "do_sample": True, "temperature": plan.sampling.temperature,
              "top_p": plan.sampling.top_p}  # fmt: skip
    seeds = [None if plan.sampling.seed is None else plan.sampling.seed + j for j in range(plan.draws)]
    return [Job(ids, served.kv, search, sampling=replace(plan.sampling, seed=seed), generate=sample) for seed in seeds]


def job_answers(plan: Plan, job: Job) -> list[tuple[list[int], list | None]]:
    """A finished row's answers (tokens, log-probs): a search row's n best beams, a sample's one draw."""
    return job.results[: plan.n] if plan.sampling is None else job.results[:1]


def _answers(plan: Plan, jobs: list[Job]) -> list[tuple[list[int], list | None]]:
    """A prompt's n answers: the best beams, or the samples (the best by log-probability per token with best_of)."""
    answers = [answer for job in jobs for answer in job_answers(plan, job)]
    if plan.rank_by_logprob:
        answers = sorted(answers, key=lambda a: -sum(e.logprob for e in a[1]) / max(1, len(a[1])))
    return answers[: plan.n]


def job_choices(plan: Plan, job: Job, tokenizer) -> list[tuple[str, str, int]]:
    """(text, finish_reason, completion tokens) of a finished row's choices, with no echo (streaming)."""
    choices = [_choice(0, "", tokens, lps, plan, False, tokenizer) for tokens, lps in job_answers(plan, job)]
    return [(c["text"], c["finish_reason"], c["completion_tokens"]) for c in choices]


def _choice(index: int, prompt: str, tokens: list[int], lps, plan: Plan, echo: bool, tokenizer) -> dict:
    kept = cut_at_eos(tokens, tokenizer.eos_token_id)
    text = output_text(tokenizer, tokens)
    finish = "stop" if len(kept) < len(tokens) else "length"
    full = tokenizer.decode(kept, skip_special_tokens=True)
    lead = len(full) - len(full.lstrip())  # each kept token's place in the stripped text
    offsets = [max(0, len(tokenizer.decode(kept[:k], skip_special_tokens=True)) - lead) for k in range(len(kept))]
    cuts = [text.find(stop) for stop in plan.stop if stop in text]
    if cuts:
        text, finish = text[: min(cuts)], "stop"
        kept = [token for token, offset in zip(kept, offsets) if offset < len(text)]
    logprobs = None
    if plan.logprobs is not None:
        entries = lps[: len(kept)]
        logprobs = {
            "tokens": [tokenizer.decode([t]) for t in kept],
            "token_logprobs": [e.logprob for e in entries],
            "top_logprobs": [{tokenizer.decode([t]): lp for t, lp in e.top} for e in entries],
            "text_offset": [(len(prompt) if echo else 0) + offset for offset in offsets[: len(kept)]],
        }
    return {"index": index, "text": (prompt + text) if echo else text, "logprobs": logprobs, "finish_reason": finish,
            "completion_tokens": len(kept)}  # fmt: skip


def completion_body(
    served: ServedPrefix, request: CompletionRequest, plan: Plan, rows: list[list[Job]], tokenizer
) -> dict:
    """The OpenAI completion object for a request whose rows have all finished."""
    choices = []
    for prompt, jobs in zip(plan.prompts, rows):
        for tokens, lps in _answers(plan, jobs):
            choices.append(_choice(len(choices), prompt, tokens, lps, plan, request.echo, tokenizer))
    completion = sum(choice.pop("completion_tokens") for choice in choices)
    prompt_tokens = sum(len(jobs[0].ids) for jobs in rows)
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": served.name,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }
