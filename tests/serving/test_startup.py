"""Starting a server: the base model comes from the prefix files, and a file that does not fit is refused
at start with one line naming it; `python -m prefix_tuning.serve` answers requests on loopback."""

import socket
import subprocess
import sys
import time

import httpx
import pytest

from prefix_tuning.errors import UserError
from prefix_tuning.paths import REPO_ROOT
from prefix_tuning.prefix.file_format import save_prefix
from prefix_tuning.serving.startup import build_serving


def test_file_for_another_base_model_is_refused_at_start(tmp_path, write_prefix, run_module, assert_user_error):
    write_prefix(tmp_path / "alice.safetensors")
    write_prefix(tmp_path / "bob.safetensors", seed=1)
    write_prefix(tmp_path / "carol.safetensors", "tiny-llama")
    result = run_module("prefix_tuning.serve", "--prefixes", tmp_path, "--port", "0")
    assert_user_error(result, "carol.safetensors", "tiny-random-llama-seed0", "tiny-random-gpt2-seed0")


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d, w: None, ["no prefix files", "--model"]),
        (lambda d, w: w(d / "a.safetensors", task=None), ["a.safetensors", "no task"]),
        (lambda d, w: w(d / "a.safetensors", task="nonsense"), ["unknown task 'nonsense'"]),
        (lambda d, w: (d / "a.safetensors").write_text("garbage"), ["a.safetensors", "not a safetensors file"]),
    ],
)
def test_unservable_folders_fail_with_one_line(tmp_path, write_prefix, make, words):
    make(tmp_path, write_prefix)
    with pytest.raises(UserError) as err:
        build_serving(tmp_path, device="cpu")
    for word in words:
        assert word in str(err.value)


def test_geometry_and_model_mismatches_are_refused(tmp_path, write_prefix, random_kv):
    kv = write_prefix(tmp_path / "a.safetensors")
    save_prefix(tmp_path / "b.safetensors", kv[:1], {"base_model": "tiny-random-gpt2-seed0", "architecture": "gpt2", "task": "e2e"})  # fmt: skip
    with pytest.raises(UserError, match="b.safetensors was trained for n_layers=1"):
        build_serving(tmp_path, device="cpu")
    (tmp_path / "b.safetensors").unlink()
    with pytest.raises(UserError, match="a.safetensors was trained for base_model=tiny-random-gpt2-seed0"):
        build_serving(tmp_path, model="tiny-llama", device="cpu")
    with pytest.raises(UserError, match="is not a folder"):
        build_serving(tmp_path / "a.safetensors", device="cpu")


def test_empty_folder_serves_with_model_and_picks_up_files(tmp_path, write_prefix, serve, mrs):
    served = serve(tmp_path, model="tiny-gpt2")
    assert served.client.get("/v1/models").json()["data"] == []
    kv = write_prefix(tmp_path / "late.safetensors")
    assert served.text("late", mrs[0], max_tokens=4) == served.offline(kv, mrs[0], max_tokens=4)


def test_serve_command_answers_on_loopback(tmp_path, write_prefix, mrs):
    write_prefix(tmp_path / "a.safetensors")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "prefix_tuning.serve", "--prefixes", str(tmp_path), "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        response = httpx.post(
            f"{url}/v1/completions", json={"model": "a", "prompt": mrs[0], "max_tokens": 4}, timeout=60
        )
        assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] <= 4
    finally:
        server.terminate()
        server.wait(timeout=30)
