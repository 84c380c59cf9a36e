"""The HTTP API (FastAPI): GET /health, GET /metrics, GET /v1/models, POST /v1/completions (OpenAI-compatible,
`completion_request.py` says what each field does), and POST /v1/chat/completions answered with a 404 that says
the served models are completion models.

The folder is scanned on every request (`PrefixStore.scan`: a stat per file, files read once per version).
While a completion waits the handler polls the connection every `POLL_SECONDS`; a client that disconnected has
its rows cancelled (`Batcher.cancel`), and so has a request past the per-request timeout (504). With an API key
every /v1 endpoint needs `Authorization: Bearer <key>` (401 otherwise; /health and /metrics stay open). Beyond
`max_queue` waiting rows a request is refused with 429 and a Retry-After. Errors are OpenAI-style JSON: unknown
model 404 (naming the available ones), malformed JSON or missing fields 422, a field that cannot be honoured or
a request past the context 400; none of them stops the server.
"""

import asyncio
import contextlib
import hmac
import math
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from prefix_tuning.serving.batcher import Batcher
from prefix_tuning.serving.completion_request import ApiError, CompletionRequest, plan
from prefix_tuning.serving.completions import completion_body, completion_jobs, job_choices
from prefix_tuning.serving.metrics import ServerMetrics
from prefix_tuning.serving.prefix_store import PrefixStore, ServedPrefix
from prefix_tuning.serving.streaming import check_streamable, stream_events

POLL_SECONDS = 0.05
CLIENT_CLOSED = 499  # nginx's code for a request whose client went away (nobody reads it)


@dataclass
class Serving:
    """Everything a server holds: the prefix folder, the worker that owns the LM, the tokenizer, its limits."""

    store: PrefixStore
    batcher: Batcher
    tokenizer: object
    context: int  # the LM's positions: prompt + prefix + new tokens must fit
    base_model: str
    api_key: str | None = None
    max_queue: int | None = None  # rows waiting beyond this: 429
    timeout: float | None = None  # seconds a completion may take: 504 after
    latencies: list = field(default_factory=list)  # recent request seconds (Retry-After's estimate)


def find_model(serving: Serving, name: str) -> ServedPrefix:
    served, refused = serving.store.scan()
    if name in served:
        return served[name]
    available = ", ".join(sorted(served)) or "none"
    if name in refused:
        raise ApiError(404, f"model {name!r} cannot be served: {refused[name]} (available: {available})", "model")
    raise ApiError(404, f"model {name!r} not found; available: {available}", "model", "model_not_found")


def admit(serving: Serving, jobs: list) -> None:
    """Queue a request's rows, or refuse it with 429 when the queue is full."""
    queued = serving.batcher.snapshot()["queued"]
    if serving.max_queue is not None and queued + len(jobs) > serving.max_queue:
        recent = serving.latencies[-20:]
        wait = math.ceil(max(1.0, (sum(recent) / len(recent)) if recent else 1.0))
        error = ApiError(429, f"{queued} rows are waiting (at most {serving.max_queue}); retry in {wait} s",
                         None, "queue_full")  # fmt: skip
        error.headers = {"Retry-After": str(wait)}
        raise error
    for job in jobs:
        serving.batcher.submit(job)


async def wait_for_rows(serving: Serving, jobs: list, request: Request) -> bool:
    """Wait for every row; False when the client disconnected first. Past the timeout: 504. Unfinished rows are
    cancelled on the way out."""
    waiters = [asyncio.wrap_future(job.future) for job in jobs]
    deadline = None if serving.timeout is None else time.monotonic() + serving.timeout
    try:
        while True:
            await asyncio.wait(waiters, timeout=POLL_SECONDS)
            if all(w.done() for w in waiters):
                for w in waiters:
                    w.result()
                return True
            if await request.is_disconnected():
                return False
            if deadline is not None and time.monotonic() > deadline:
                raise ApiError(504, f"the completion took longer than the server's {serving.timeout:g} s limit",
                               None, "timeout")  # fmt: skip
    finally:
        for job in jobs:
            if not job.future.done():
                serving.batcher.cancel(job)


class AuthorizeAndCount:
    """Plain ASGI middleware (Starlette's BaseHTTPMiddleware would hide a client's disconnect from the handlers):
    /v1 needs the API key when there is one; every response is counted by path and status."""

    def __init__(self, app, api_key: str | None, metrics: ServerMetrics):
        self.app, self.api_key, self.metrics = app, api_key, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]

        async def counted(message):
            if message["type"] == "http.response.start":
                self.metrics.requests.labels(path, str(message["status"])).inc()
            await send(message)

        if self.api_key and path.startswith("/v1/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, f"Bearer {self.api_key}".encode()):
                error = ApiError(
                    401, "missing or wrong API key (send Authorization: Bearer <key>)", None, "invalid_api_key"
                )
                return await JSONResponse(error.body(), status_code=401)(scope, receive, counted)
        await self.app(scope, receive, counted)


def create_app(serving: Serving) -> FastAPI:
    """The app; its lifespan starts the worker and stops it (use TestClient as a context manager)."""
    metrics = ServerMetrics(serving.batcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        serving.batcher.start()
        yield
        serving.batcher.stop()

    app = FastAPI(title="prefix-tuning server", lifespan=lifespan)

    app.add_middleware(AuthorizeAndCount, api_key=serving.api_key, metrics=metrics)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return JSONResponse(err.body(), status_code=err.status, headers=getattr(err, "headers", None))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):  # e.g. a body that is not UTF-8 JSON
        error = ApiError(err.status_code, f"invalid request: {err.detail}", code="invalid_request")
        return JSONResponse(error.body(), status_code=err.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        unknown = [".".join(map(str, e["loc"][1:])) for e in err.errors() if e["type"] == "extra_forbidden"]
        if unknown:  # a field we do not know: refused by name, never ignored
            error = ApiError(400, f"unsupported field(s): {', '.join(unknown)}", unknown[0], "unsupported_parameter")
            return JSONResponse(error.body(), status_code=400)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        error = ApiError(422, f"invalid request: {problems}", code="invalid_request")
        return JSONResponse({**error.body(), "detail": jsonable_encoder(err.errors())}, status_code=422)

    @app.get("/health")
    async def health():
        served, refused = serving.store.scan()
        return {"status": "ok", "base_model": serving.base_model, "models": len(served), "refused": refused,
                **serving.batcher.snapshot()}  # fmt: skip

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.text(), media_type=metrics.content_type)

    @app.get("/v1/models")
    async def models():
        served, _ = serving.store.scan()
        data = [
            {"id": name, "object": "model", "created": p.created, "owned_by": "prefix-tuning",
             "task": p.decoding.task, "prefix_length": p.length, "base_model": serving.base_model}
            for name, p in sorted(served.items())
        ]  # fmt: skip
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat():
        raise ApiError(404, "the served models are completion models (prefixes trained on task inputs, not chats): "
                       "use POST /v1/completions with the task input as the prompt", None, "chat_not_supported")  # fmt: skip

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        start = time.monotonic()
        served = find_model(serving, body.model)
        decoding = plan(body, served.decoding.settings.num_beams)
        if body.stream:
            check_streamable(decoding, body)
        rows = completion_jobs(served, body, decoding, serving.tokenizer, serving.context, serving.batcher.lm)
        jobs = [job for jobs in rows for job in jobs]
        admit(serving, jobs)
        if body.stream:

            def answers(job):
                choices = job_choices(decoding, job, serving.tokenizer)
                metrics.tokens.inc(sum(count for *_, count in choices))
                return [(text, finish) for text, finish, _ in choices]

            events = stream_events(
                served.name, body, decoding, rows, serving.tokenizer, answers, serving.batcher.cancel
            )
            return StreamingResponse(events, media_type="text/event-stream")
        try:
            if not await wait_for_rows(serving, jobs, request):
                return Response(status_code=CLIENT_CLOSED)
        except ApiError:
            raise
        except Exception as err:
            raise ApiError(500, f"decoding failed: {type(err).__name__}: {err}") from err
        answer = completion_body(served, body, decoding, rows, serving.tokenizer)
        seconds = time.monotonic() - start
        serving.latencies[:] = [*serving.latencies[-99:], seconds]
        metrics.latency.observe(seconds)
        metrics.tokens.inc(answer["usage"]["completion_tokens"])
        return answer

    return app
