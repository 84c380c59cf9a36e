"""`stream: true`: a completion as server-sent events in OpenAI's chunk format, ending with `data: [DONE]`.

One-beam rows (greedy, sampling) stream their text as the worker produces it: each chunk carries what the text
grew by since the last one (held back while it may be the start of a stop string or ends in a half-decoded
character), so the chunks joined equal the non-streamed text. A beam-search row's text is only final when the
search ends: it comes in one chunk then. The last chunk of each choice has its `finish_reason`. A client that
goes away ends the generator, which cancels the request's rows (freed at the worker's next step).
"""

import asyncio
import json
import time
import uuid

from prefix_tuning.generation.decode import output_text
from prefix_tuning.serving.completion_request import ApiError, CompletionRequest, Plan


def event(payload) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def check_streamable(plan: Plan, request: CompletionRequest) -> None:
    if plan.rank_by_logprob:
        raise ApiError(400, "best_of with stream: the best samples are known only at the end; drop one of them",
                       "best_of", "unsupported_parameter")  # fmt: skip
    if plan.logprobs is not None:
        raise ApiError(400, "logprobs with stream is not supported; send stream=false for log-probabilities",
                       "logprobs", "unsupported_parameter")  # fmt: skip


def _shown(text: str, stops: tuple[str, ...], final: bool) -> str:
    """How much of `text` can be sent: all when final; else short of a possible stop start and a half character."""
    if final:
        return text
    text = text.rstrip("\ufffd")
    hold = max((len(s) - 1 for s in stops), default=0)
    for cut in range(min(hold, len(text)), 0, -1):  # the longest tail that begins some stop string
        if any(stop.startswith(text[-cut:]) for stop in stops):
            return text[:-cut]
    return text


async def stream_events(name: str, request: CompletionRequest, plan: Plan, rows, tokenizer, answers, cancel):
    """Yield the SSE chunks of `rows` (per prompt, its jobs). `answers(job)` -> the finished job's choices
    [(text, finish_reason)] as the non-streamed body gives them (search: its n best beams; a sample: one);
    `cancel(job)` frees a job's rows."""
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()
    firsts = {}  # each job's first choice index: prompt i's choices are i*n .. i*n+n-1
    for i, jobs in enumerate(rows):
        for j, job in enumerate(jobs):
            firsts[id(job)] = i * plan.n + j
            if job.search.num_beams == 1 and (plan.sampling is not None or plan.n == 1):
                job.progress = lambda tokens, job=job: loop.call_soon_threadsafe(queue.put_nowait, (job, tokens))
            job.future.add_done_callback(lambda _, job=job: loop.call_soon_threadsafe(queue.put_nowait, (job, None)))
    jobs = [job for jobs in rows for job in jobs]
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()), "model": name}

    def chunk(k: int, text: str, finish=None) -> str:
        return event({**head, "choices": [{"index": k, "text": text, "logprobs": None, "finish_reason": finish}]})

    sent, waiting = {}, {id(job) for job in jobs}
    try:
        if request.echo:
            for i, prompt in enumerate(plan.prompts):
                for j in range(plan.n):
                    yield chunk(i * plan.n + j, prompt)
        while waiting:
            job, tokens = await queue.get()
            if id(job) not in waiting:
                continue
            first = firsts[id(job)]
            if tokens is not None:  # one more token of a one-beam row
                text = output_text(tokenizer, tokens)
                cuts = [text.find(stop) for stop in plan.stop if stop in text]
                if cuts:  # a stop string: the choice is done, its row freed
                    cancel(job)
                    waiting.discard(id(job))
                    yield chunk(first, text[: min(cuts)][len(sent.get(first, "")) :], "stop")
                    continue
                shown = _shown(text, plan.stop, final=False)
                if len(shown) > len(sent.get(first, "")):
                    yield chunk(first, shown[len(sent.get(first, "")) :])
                    sent[first] = shown
                continue
            waiting.discard(id(job))
            if job.future.cancelled() or job.future.exception() is not None:
                raise ApiError(500, f"decoding failed: {job.future.exception()!r}")
            for k, (text, finish) in enumerate(answers(job)):
                yield chunk(first + k, text[len(sent.get(first + k, "")) :], finish)
        yield event("[DONE]")
    except ApiError as err:
        yield event(err.body())
        yield event("[DONE]")
    finally:
        for job in jobs:
            if not job.future.done():
                cancel(job)
