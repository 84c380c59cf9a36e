"""Operating the server: Bearer auth, a bounded queue (429 with Retry-After), a per-request timeout (504),
Prometheus metrics, graceful shutdown on SIGTERM; and faults: prefix files corrupted or removed while served,
prompts with invalid UTF-8 or control characters, 200 concurrent clients against a 32-row queue."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from prefix_tuning.paths import REPO_ROOT


def test_an_api_key_guards_v1_and_leaves_health_and_metrics_open(tmp_path, write_prefix, serve, mrs):
    write_prefix(tmp_path / "a.safetensors")
    served = serve(tmp_path, api_key="s3cret")
    bare = served.client.get("/v1/models")
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"
    wrong = served.client.post(
        "/v1/completions", json={"model": "a", "prompt": mrs[0]}, headers={"Authorization": "Bearer x"}
    )
    assert wrong.status_code == 401
    api = openai.OpenAI(api_key="s3cret", base_url="http://testserver/v1", http_client=served.client, max_retries=0)
    assert api.completions.create(model="a", prompt=mrs[0], max_tokens=3).choices[0].text
    assert served.client.get("/health").status_code == 200 and served.client.get("/metrics").status_code == 200


def test_beyond_the_queue_bound_requests_get_429_with_retry_after(tmp_path, write_prefix, serve, mrs):
    write_prefix(tmp_path / "a.safetensors")
    served = serve(tmp_path, max_queue=2)
    served.batcher.pause()
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(served.complete, "a", mr, max_tokens=3) for mr in mrs[:2]]
        served.wait_until(lambda s: s["queued"] == 2)
        full = served.complete("a", mrs[2], max_tokens=3)
        assert full.status_code == 429 and int(full.headers["Retry-After"]) >= 1
        assert full.json()["error"]["code"] == "queue_full" and "at most 2" in full.json()["error"]["message"]
        served.batcher.resume()
        assert [w.result().status_code for w in waiting] == [200, 200]


def test_a_request_past_its_timeout_gets_504_and_leaves_the_queue(tmp_path, write_prefix, serve, mrs):
    write_prefix(tmp_path / "a.safetensors")
    served = serve(tmp_path, timeout=0.5)
    served.batcher.pause()
    late = served.complete("a", mrs[0], max_tokens=3)
    assert late.status_code == 504 and "0.5 s" in late.json()["error"]["message"]
    served.wait_until(lambda s: s["queued"] == 0 and s["cancelled"] == 1)
    served.batcher.resume()
    assert served.complete("a", mrs[0], max_tokens=3).status_code == 200


def test_metrics_are_prometheus_text(tmp_path, write_prefix, serve, mrs):
    write_prefix(tmp_path / "a.safetensors")
    served = serve(tmp_path)
    answer = served.complete("a", mrs[0], max_tokens=4).json()
    served.complete("nope", mrs[0])
    text = served.client.get("/metrics").text
    assert 'prefix_requests_total{endpoint="/v1/completions",status="200"} 1.0' in text
    assert 'prefix_requests_total{endpoint="/v1/completions",status="404"} 1.0' in text
    assert f"prefix_generated_tokens_total {float(answer['usage']['completion_tokens'])}" in text
    assert "prefix_request_latency_seconds_bucket" in text and "prefix_queue_depth 0.0" in text


def test_prefix_files_corrupted_or_removed_while_served(tmp_path, write_prefix, serve, mrs):
    """A file rewritten as junk is refused (404 naming why) while the others serve on; a file removed while its
    request decodes still answers that request (its P is in memory)."""
    write_prefix(tmp_path / "a.safetensors", seed=1)
    b = write_prefix(tmp_path / "b.safetensors", seed=2)
    served = serve(tmp_path)
    data = (tmp_path / "a.safetensors").read_bytes()
    (tmp_path / "a.safetensors").write_bytes(data[: len(data) // 2])  # truncated mid-write
    broken = served.complete("a", mrs[0], max_tokens=4)
    assert broken.status_code == 404 and "cannot be served" in broken.json()["error"]["message"]
    assert served.text("b", mrs[0], max_tokens=4) == served.offline(b, mrs[0], max_tokens=4)
    served.batcher.pause()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(served.text, "b", mrs[1], max_tokens=4)
        served.wait_until(lambda s: s["queued"] == 1)
        (tmp_path / "b.safetensors").unlink()
        served.batcher.resume()
        assert pending.result() == served.offline(b, mrs[1], max_tokens=4)
    assert served.complete("b", mrs[1], max_tokens=4).status_code == 404


def test_prompts_with_invalid_utf8_or_control_characters_get_well_formed_answers(tmp_path, write_prefix, serve):
    write_prefix(tmp_path / "a.safetensors")
    served = serve(tmp_path)
    raw = b'{"model": "a", "prompt": "name : \xff\xfe Aromi", "max_tokens": 3}'
    bad = served.client.post("/v1/completions", content=raw, headers={"content-type": "application/json"})
    assert bad.status_code in (400, 422) and "error" in bad.json()
    control = served.complete("a", "name : \x00\x07\x1b[31m Aromi \u202e", max_tokens=3)
    assert control.status_code == 200 and isinstance(control.json()["choices"][0]["text"], str)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(tmp_path, write_prefix):
    """`python -m prefix_tuning.serve` as a user starts it (loopback), with the given flags; killed after."""
    write_prefix(tmp_path / "a.safetensors")
    processes = []

    def start(*flags):
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "prefix_tuning.serve",
            "--prefixes",
            str(tmp_path),
            "--port",
            str(port),
            *flags,
        ]
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return process, url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(process.stderr.read() if process.poll() is not None else "server did not start")

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.slow
def test_200_concurrent_clients_against_a_32_row_queue_all_get_an_answer_or_a_429(live_server, mrs):
    _, url = live_server("--max-queue", "32", "--max-batch", "16")
    body = {"model": "a", "max_tokens": 4, "num_beams": 1}

    def call(k):
        try:
            response = httpx.post(f"{url}/v1/completions", json={**body, "prompt": mrs[k % 4]}, timeout=120)
            return response.status_code, response.json()
        except httpx.HTTPError as err:
            return type(err).__name__, None

    with ThreadPoolExecutor(200) as pool:
        outcomes = list(pool.map(call, range(200)))
    statuses = [status for status, _ in outcomes]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= 32 and all("choices" in body or "error" in body for _, body in outcomes)
    assert httpx.get(f"{url}/health", timeout=5).json()["queued"] == 0


@pytest.mark.slow
def test_sigterm_lets_in_flight_requests_finish_within_the_grace_and_exits_0(live_server, mrs):
    process, url = live_server("--shutdown-grace", "20")
    result = {}

    def long_request():
        body = {"model": "a", "prompt": mrs[0], "max_tokens": 60, "num_beams": 1}
        result["response"] = httpx.post(f"{url}/v1/completions", json=body, timeout=60)

    thread = threading.Thread(target=long_request)
    thread.start()
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/health", timeout=5).json()["running"] + httpx.get(f"{url}/health").json()["rows"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    start = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0 and time.monotonic() - start < 25
    thread.join(timeout=30)
    assert result["response"].status_code == 200 and json.loads(result["response"].text)["choices"][0]["text"]
