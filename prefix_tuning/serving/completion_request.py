"""POST /v1/completions: every field of OpenAI's completions request, each honoured or refused with a 400 that
names it (a client never silently gets something other than what it asked for).

Honoured:
- `prompt`: the task input (an E2E meaning representation, a WebNLG triple set, ...), a string or a list of
  strings (one or more choices per prompt, `index` in order). Longer than the task's source limit: refused,
  unless the extra field `truncate_prompt: true` asks for the cut.
- `max_tokens`; `temperature`, `top_p`, `seed`: omitted, or temperature 0 and top_p 1, decode as the prefix's
  task does (its beam search; the extra field `num_beams`, 1 = greedy); otherwise sample (one beam,
  temperature then nucleus, reproducible with a seed).
- `n`, `best_of`: beam search returns its n best beams (best_of beams, at least the task's); sampling draws
  best_of samples (seeds seed, seed+1, ...) and returns the n with the highest log-probability per token.
- `stop` (up to 4 strings): the text is cut before the first one, `finish_reason` "stop".
- `logprobs` (0-5): the model's log-probabilities of the chosen tokens with that many alternatives.
- `echo`: the prompt before each completion. `stream`: server-sent events. `user`: accepted (no output depends
  on it).
Refused: `suffix`, `presence_penalty`, `frequency_penalty`, `logit_bias`, `stream_options`, token-id prompts,
`echo` with `logprobs` (the prompt's log-probabilities are not computed), unknown fields.
"""

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from prefix_tuning.generation.token_choice import Sampling

MAX_STOP = 4
MAX_LOGPROBS = 5


class ApiError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error", 500: "server_error",
                503: "server_error", 504: "timeout"}.get(self.status, "invalid_request_error")  # fmt: skip
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


def refused(field: str, why: str) -> ApiError:
    return ApiError(400, f"{field}: {why}", field, "unsupported_parameter")


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused with its name

    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=16)
    best_of: int | None = Field(default=None, ge=1, le=16)
    stop: str | list[str] | None = None
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    echo: bool = False
    stream: bool = False
    stream_options: dict | None = None
    user: str | None = None
    suffix: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict | None = None
    num_beams: int | None = Field(default=None, ge=1)  # ours: the beam size (1: greedy)
    truncate_prompt: bool = False  # ours: cut a prompt longer than the task's source limit instead of refusing it


@dataclass(frozen=True)
class Plan:
    """How a request decodes: its prompts, and per prompt the beam size, sampling draws and what each returns."""

    prompts: list[str]
    num_beams: int | None  # None: the task's
    sampling: Sampling | None  # None: search (beam or greedy)
    draws: int  # rows per prompt: 1 for search (it returns `n` beams), best_of for sampling
    n: int
    logprobs: int | None  # alternatives asked for (None: no logprobs in the answer)
    rank_by_logprob: bool  # sampling with best_of > n: keep the n best by log-probability per token
    stop: tuple[str, ...]


def plan(request: CompletionRequest, task_beams: int) -> Plan:
    """The request's decoding, or an ApiError naming the first field that cannot be honoured."""
    for field, value, default in (("suffix", request.suffix, None), ("presence_penalty", request.presence_penalty, 0),
                                  ("frequency_penalty", request.frequency_penalty, 0), ("logit_bias", request.logit_bias, {}),
                                  ("stream_options", request.stream_options, None)):  # fmt: skip
        if value not in (None, default):
            raise refused(field, "not supported by this server; leave it out")
    prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise refused("prompt", "send the task input as text (a string or a list of strings), not token ids")
    if request.echo and request.logprobs is not None:
        raise refused("echo", "echo with logprobs is not supported (the prompt's log-probabilities are not computed)")
    stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
    if len(stops) > MAX_STOP or any(not s for s in stops):
        raise refused("stop", f"at most {MAX_STOP} non-empty strings")
    best_of = request.best_of or request.n
    if best_of < request.n:
        raise refused("best_of", f"best_of ({best_of}) must be at least n ({request.n})")
    temperature = request.temperature if request.temperature is not None else (1.0 if (request.top_p or 1) < 1 else 0)
    sampled = temperature > 0  # temperature 0 (or left out with top_p 1) is the task's search, as OpenAI's greedy
    if not sampled:
        beams = max(request.num_beams or task_beams, best_of)
        if request.num_beams is not None and request.num_beams < best_of:
            raise refused("n", f"beam search with num_beams={request.num_beams} returns at most that many beams")
        return Plan(prompts, beams, None, 1, request.n, request.logprobs, False, tuple(stops))
    if request.num_beams not in (None, 1):
        raise refused(
            "num_beams", "sampling (temperature > 0 or top_p < 1) draws one beam; send num_beams=1 or omit it"
        )
    sampling = Sampling(temperature, request.top_p or 1.0, request.seed)
    return Plan(prompts, 1, sampling, best_of, request.n, request.logprobs, best_of > request.n, tuple(stops))
