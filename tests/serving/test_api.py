"""The API around the decoding: model listing, users coming and going without a restart, bad requests
answered with JSON errors (and the server serving on), clients that disconnect."""

import functools
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from omegaconf import OmegaConf

from prefix_tuning.generation.decode import DecodeSettings, decode
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.encoder import FixedPrefix
from prefix_tuning.serving.app import create_app
from prefix_tuning.tasks.encoding import prompt_ids


def test_models_lists_each_prefix_with_its_task_and_length(tmp_path, write_prefix, serve):
    write_prefix(tmp_path / "alice.safetensors", length=3)
    write_prefix(tmp_path / "bob.safetensors", length=5)
    (tmp_path / "notes.txt").write_text("not a prefix")
    served = serve(tmp_path)
    body = served.client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [(m["id"], m["task"], m["prefix_length"]) for m in body["data"]] == [("alice", "e2e", 3), ("bob", "e2e", 5)]
    health = served.client.get("/health").json()
    assert (health["status"], health["models"], health["base_model"]) == ("ok", 2, "tiny-random-gpt2-seed0")


def test_users_come_and_go_without_a_restart(tmp_path, write_prefix, serve, mrs):
    old = write_prefix(tmp_path / "old.safetensors", seed=1)
    served = serve(tmp_path)
    new = write_prefix(tmp_path / "new.safetensors", seed=2)
    assert served.text("new", mrs[0], max_tokens=6) == served.offline(new, mrs[0], max_tokens=6)
    (tmp_path / "old.safetensors").unlink()
    response = served.complete("old", mrs[0], max_tokens=6)
    assert response.status_code == 404
    assert "'old' not found; available: new" in response.json()["error"]["message"]
    rewritten = write_prefix(tmp_path / "new.safetensors", seed=3)  # same name, new P
    assert served.text("new", mrs[0], max_tokens=6) == served.offline(rewritten, mrs[0], max_tokens=6)
    write_prefix(tmp_path / "old.safetensors", seed=1)
    assert served.text("old", mrs[0], max_tokens=6) == served.offline(old, mrs[0], max_tokens=6)


def test_run_folder_is_served_with_its_runs_task_config(tmp_path, write_prefix, serve, mrs):
    """A run folder's prefix decodes as `evaluate` decodes that run: the run's decoding and source prompt."""
    run = tmp_path / "myrun"
    kv = write_prefix(run / "prefix.safetensors", seed=4)
    # a run saved before `engine_batch_size` existed: its engine decodes `batch_size` sources at once
    decoding = {"num_beams": 2, "min_new_tokens": 1, "max_new_tokens": 7, "length_penalty": 1.0,
                "no_repeat_ngram_size": 0, "early_stopping": False, "ban_newlines": True, "batch_size": 8,
                "max_source_tokens": 128}  # fmt: skip
    task = {"name": "e2e", "source_prompt": "table-to-text", "decoding": decoding}
    OmegaConf.save(OmegaConf.create({"task": task}), run / "config.yaml")
    served = serve(tmp_path)
    body = served.complete("myrun", mrs[1]).json()
    assert body["usage"]["completion_tokens"] <= 7
    tok = served.serving.tokenizer
    offline = decode(PrefixLM(served.batcher.lm, FixedPrefix(kv)), tok, [mrs[1]], DecodeSettings.from_mapping(decoding),
                     prompt=prompt_ids(tok, "table-to-text"))  # fmt: skip
    assert body["choices"][0]["text"] == offline[0]


def test_bad_requests_get_json_errors_and_the_server_serves_on(tmp_path, write_prefix, serve, mrs):
    kv = write_prefix(tmp_path / "a.safetensors")
    write_prefix(tmp_path / "b.safetensors", seed=1)
    served = serve(tmp_path)
    post = served.client.post
    good = served.offline(kv, mrs[0], max_tokens=5)

    response = served.complete("nobody", mrs[0])
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and "available: a, b" in error["message"]
    assert served.text("a", mrs[0], max_tokens=5) == good

    bad_json = post(
        "/v1/completions", content=b'{"model": "a", "prompt": ', headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422 and "JSON" in bad_json.json()["error"]["message"]
    for body, field in [
        ({"model": "a"}, "prompt"),
        ({"prompt": mrs[0]}, "model"),
        ({"model": "a", "prompt": {"text": mrs[0]}}, "prompt"),
        ({"model": "a", "prompt": mrs[0], "max_tokens": 0}, "max_tokens"),
        ({"model": "a", "prompt": mrs[0], "num_beams": "many"}, "num_beams"),
    ]:
        response = post("/v1/completions", json=body)
        assert response.status_code == 422, body
        assert field in response.json()["error"]["message"]
    assert served.text("a", mrs[0], max_tokens=5) == good

    too_long = served.complete("a", mrs[0], max_tokens=600)
    assert too_long.status_code == 400
    error = too_long.json()["error"]
    assert error["code"] == "context_length_exceeded" and "context of 512 tokens" in error["message"]
    greedy_many = served.complete("a", mrs[0], n=2, num_beams=1)
    assert (
        greedy_many.status_code == 400 and "returns at most that many beams" in greedy_many.json()["error"]["message"]
    )
    for field, value in (
        ("suffix", "x"),
        ("logit_bias", {"50256": -100}),
        ("presence_penalty", 0.5),
        ("temprature", 0.5),
    ):
        refused = served.complete("a", mrs[0], **{field: value})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == field, field
        assert field in refused.json()["error"]["message"]
    assert served.batcher.snapshot()["rows"] == 2  # no bad request reached the model


def test_file_for_another_base_model_added_later_is_refused(tmp_path, write_prefix, serve, mrs):
    kv = write_prefix(tmp_path / "a.safetensors")
    served = serve(tmp_path)
    write_prefix(tmp_path / "llama.safetensors", "tiny-llama")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    refused = served.client.get("/health").json()["refused"]
    assert set(refused) == {"llama", "junk"}
    assert "base_model=tiny-random-llama-seed0" in refused["llama"]
    response = served.complete("llama", mrs[0])
    assert response.status_code == 404 and "cannot be served" in response.json()["error"]["message"]
    assert [m["id"] for m in served.client.get("/v1/models").json()["data"]] == ["a"]
    assert served.text("a", mrs[0], max_tokens=5) == served.offline(kv, mrs[0], max_tokens=5)


class LiveServer:
    """The app under uvicorn on a free loopback port (TestClient cannot drop a connection mid-request)."""

    def __init__(self, serving):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(serving), log_level="warning"))
        self.thread = threading.Thread(target=functools.partial(self.server.run, sockets=[self.sock]), daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def live(tmp_path, write_prefix, serve):
    """(LiveServer, Served) over a folder with one prefix `a`; uvicorn's lifespan runs the worker."""
    write_prefix(tmp_path / "a.safetensors")
    served = serve(tmp_path, client=False)
    with LiveServer(served.serving) as server:
        yield server, served


def test_client_that_leaves_a_queued_request_frees_its_row(live, mrs):
    server, served = live
    served.batcher.pause()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/v1/completions", json={"model": "a", "prompt": mrs[0]}, timeout=0.5)
    served.wait_until(lambda s: s["cancelled"] == 1 and s["queued"] == 0)
    served.batcher.resume()
    response = httpx.post(
        f"{server.url}/v1/completions", json={"model": "a", "prompt": mrs[0], "max_tokens": 5}, timeout=60
    )
    assert response.status_code == 200
    assert served.batcher.snapshot()["rows"] == 1  # the abandoned request was never decoded


def test_client_that_leaves_a_running_batch_stops_it(live, mrs):
    """The client gone: its rows leave the running batch at the next step instead of decoding 400 tokens."""
    server, served = live
    body_model = served.batcher.lm.base_model  # what the beam engine runs at every step
    calls = []
    forward = body_model.forward

    @functools.wraps(forward)
    def counted(*args, **kwargs):
        calls.append(1)
        time.sleep(0.02)
        return forward(*args, **kwargs)

    body_model.forward = counted
    body = {"model": "a", "prompt": mrs[2], "max_tokens": 400, "num_beams": 1}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/v1/completions", json=body, timeout=1.0)
    served.wait_until(lambda s: s["abandoned"] == 1 and s["running"] == 0)
    steps = len(calls)
    time.sleep(0.3)
    assert len(calls) == steps and served.batcher.snapshot()["rows"] == 0  # no step since, no answer computed
    assert len(calls) < 200
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"


def test_a_client_that_leaves_a_stream_frees_its_rows(live, mrs):
    server, served = live
    body = {"model": "a", "prompt": mrs[2], "max_tokens": 400, "num_beams": 1, "stream": True}
    with httpx.Client(timeout=30) as http, http.stream("POST", f"{server.url}/v1/completions", json=body) as response:
        first = next(line for line in response.iter_lines() if line.startswith("data: {"))
        assert '"text"' in first  # the stream started; now the client goes away
    served.wait_until(lambda s: s["running"] == 0 and s["abandoned"] + s["cancelled"] >= 1)
    steps = served.batcher.snapshot()["steps"]
    time.sleep(0.3)
    assert served.batcher.snapshot()["steps"] == steps and steps < 400  # no step since: its rows were freed
