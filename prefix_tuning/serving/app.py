"""The HTTP API (FastAPI): GET /health, GET /v1/models, POST /v1/completions (OpenAI-compatible).

The folder is scanned on every request (`PrefixStore.scan`: a stat per file, files read once per version).
While a completion waits for its batch the handler polls the connection every `POLL_SECONDS`; a client
that disconnected has its job cancelled (`Batcher.cancel`). Errors are OpenAI-style JSON: unknown model 404
(naming the available ones), malformed JSON or missing fields 422, unsupported values or a request past the
context 400; none of them stops the server.
"""

import asyncio
import contextlib
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from prefix_tuning.serving.batcher import Batcher
from prefix_tuning.serving.completions import ApiError, CompletionRequest, completion_body, completion_job
from prefix_tuning.serving.prefix_store import PrefixStore, ServedPrefix

POLL_SECONDS = 0.05
CLIENT_CLOSED = 499  # nginx's code for a request whose client went away (nobody reads it)


@dataclass
class Serving:
    """Everything a server holds: the prefix folder, the worker that owns the LM, the tokenizer."""

    store: PrefixStore
    batcher: Batcher
    tokenizer: object
    context: int  # the LM's positions: prompt + prefix + new tokens must fit
    base_model: str


def find_model(serving: Serving, name: str) -> ServedPrefix:
    served, refused = serving.store.scan()
    if name in served:
        return served[name]
    available = ", ".join(sorted(served)) or "none"
    if name in refused:
        raise ApiError(404, f"model {name!r} cannot be served: {refused[name]} (available: {available})", "model")
    raise ApiError(404, f"model {name!r} not found; available: {available}", "model", "model_not_found")


async def wait_for_row(serving: Serving, job, request: Request) -> list[int] | None:
    """The job's new ids, or None when the client disconnected first (the job is then cancelled)."""
    waiter = asyncio.wrap_future(job.future)
    try:
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=POLL_SECONDS)
            if done:
                return waiter.result()
            if await request.is_disconnected():
                return None
    finally:
        if not job.future.done():
            serving.batcher.cancel(job)


def create_app(serving: Serving) -> FastAPI:
    """The app; its lifespan starts the worker and stops it (use TestClient as a context manager)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        serving.batcher.start()
        yield
        serving.batcher.stop()

    app = FastAPI(title="prefix-tuning server", lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        error = ApiError(422, f"invalid request: {problems}", code="invalid_request")
        return JSONResponse({**error.body(), "detail": jsonable_encoder(err.errors())}, status_code=422)

    @app.get("/health")
    async def health():
        served, refused = serving.store.scan()
        return {
            "status": "ok",
            "base_model": serving.base_model,
            "models": len(served),
            "refused": refused,
            **serving.batcher.snapshot(),
        }

    @app.get("/v1/models")
    async def models():
        served, _ = serving.store.scan()
        data = [
            {"id": name, "object": "model", "created": p.created, "owned_by": "prefix-tuning",
             "task": p.decoding.task, "prefix_length": p.length, "base_model": serving.base_model}
            for name, p in sorted(served.items())
        ]  # fmt: skip
        return {"object": "list", "data": data}

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        served = find_model(serving, body.model)
        job = completion_job(served, body, serving.tokenizer, serving.context)
        serving.batcher.submit(job)
        try:
            new_ids = await wait_for_row(serving, job, request)
        except Exception as err:
            raise ApiError(500, f"decoding failed: {type(err).__name__}: {err}") from err
        if new_ids is None:
            return Response(status_code=CLIENT_CLOSED)
        return completion_body(served, job, new_ids, serving.tokenizer)

    return app
