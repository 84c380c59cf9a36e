"""An OpenAI-style completion request as a batch row, and the row's new tokens as the response.

The prompt is the task input (an E2E meaning representation, a WebNLG triple set, ...), encoded as
`prefix_tuning.evaluate` encodes sources (`encode_source`: truncated to the task's `max_source_tokens`,
then EOS) and decoded with the prefix's task settings (`task_decoding`) through `generate_kwargs`;
the answer is cut at the first EOS and stripped, as `decode` does. `max_tokens` replaces max_new_tokens
(and lowers min_new_tokens to it if needed); the extra field `num_beams` replaces the beam size (1: greedy).
"""

import time
import uuid
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from prefix_tuning.generation.decode import DecodeSettings, cut_at_eos, output_text, search_settings
from prefix_tuning.serving.batcher import Job
from prefix_tuning.serving.prefix_store import ServedPrefix
from prefix_tuning.tasks.encoding import encode_source


class CompletionRequest(BaseModel):
    """POST /v1/completions. Other OpenAI fields (temperature, top_p, ...) are accepted and ignored:
    decoding is the task's, deterministic."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str
    max_tokens: int | None = Field(default=None, ge=1)
    num_beams: int | None = Field(default=None, ge=1)
    n: int = 1
    stream: bool = False


class ApiError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = {404: "not_found_error", 500: "server_error"}.get(self.status, "invalid_request_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


def request_settings(served: ServedPrefix, request: CompletionRequest) -> DecodeSettings:
    settings = served.decoding.settings
    max_new = request.max_tokens or settings.max_new_tokens
    return replace(
        settings,
        num_beams=request.num_beams or settings.num_beams,
        max_new_tokens=max_new,
        min_new_tokens=min(settings.min_new_tokens, max_new),
    )


def completion_job(served: ServedPrefix, request: CompletionRequest, tokenizer, context: int) -> Job:
    """The batch row of a request; a 400 ApiError when it asks for what the server does not do or cannot fit."""
    if request.n != 1:
        raise ApiError(400, f"n={request.n}: one completion per request (n=1)", "n", "unsupported_value")
    if request.stream:
        raise ApiError(400, "stream=true is not supported; send stream=false", "stream", "unsupported_value")
    settings = request_settings(served, request)
    ids = encode_source(tokenizer, request.prompt, settings.max_source_tokens, list(served.prompt))
    total = len(ids) + served.length + settings.max_new_tokens
    if total > context:
        raise ApiError(
            400,
            f"prompt ({len(ids)} tokens) + prefix ({served.length}) + max_tokens ({settings.max_new_tokens}) = "
            f"{total} tokens exceeds the model's context of {context} tokens",
            "max_tokens",
            "context_length_exceeded",
        )
    return Job(ids, served.kv, search_settings(settings, tokenizer))


def completion_body(served: ServedPrefix, job: Job, new_ids: list[int], tokenizer) -> dict:
    """The OpenAI completion object for a row's new ids (cut at EOS, special tokens skipped, stripped)."""
    kept = cut_at_eos(new_ids, tokenizer.eos_token_id)
    text = output_text(tokenizer, new_ids)
    finished = len(kept) < len(new_ids)
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": served.name,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop" if finished else "length"}],
        "usage": {
            "prompt_tokens": len(job.ids),
            "completion_tokens": len(kept),
            "total_tokens": len(job.ids) + len(kept),
        },
    }
