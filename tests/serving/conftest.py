"""Serving fixtures: folders of random prefixes for the tiny models, a served app with its test client, and
the offline answer (`decode` with the prefix alone) every served answer must equal."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import torch
from fastapi.testclient import TestClient

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.generation.decode import decode
from prefix_tuning.prefix.causal import PrefixLM
from prefix_tuning.prefix.encoder import FixedPrefix
from prefix_tuning.prefix.file_format import save_prefix
from prefix_tuning.serving.app import create_app
from prefix_tuning.serving.startup import build_serving
from prefix_tuning.serving.task_decoding import task_decoding

IDENTITIES = {
    "tiny-gpt2": {"base_model": "tiny-random-gpt2-seed0", "architecture": "gpt2"},
    "tiny-llama": {"base_model": "tiny-random-llama-seed0", "architecture": "llama"},
}
GEOMETRIES = {  # configs/model/tiny-*.yaml
    "tiny-gpt2": KVGeometry(n_layers=2, n_kv_heads=4, head_dim=16, hidden_size=64),
    "tiny-llama": KVGeometry(n_layers=2, n_kv_heads=2, head_dim=16, hidden_size=64),
}
MRS = [
    "name : The Vaults | Type : pub | price : more than £ 30 | customer rating : 5 out of 5 | near : Café Adriatic",
    "name : Aromi | Type : coffee shop | food : English | area : riverside",
    "name : Zizzi",
    "name : The Eagle | eatType : coffee shop | food : Japanese | priceRange : less than £ 20 | area : city centre",
]


@pytest.fixture
def mrs() -> list[str]:
    """Four E2E meaning representations of different lengths (hand-written: no data needed)."""
    return MRS


@pytest.fixture
def write_prefix(random_kv):
    """write_prefix(path, model="tiny-gpt2", length=4, seed=0, task="e2e") -> P: a random prefix file."""

    def write(path, model: str = "tiny-gpt2", length: int = 4, seed: int = 0, task: str = "e2e") -> torch.Tensor:
        kv = random_kv(GEOMETRIES[model], length, seed=seed)
        save_prefix(path, kv, {**IDENTITIES[model], "task": task}, {"prefix": {"prefix_length": length}})
        return kv

    return write


class Served:
    """A running app (the worker started) over a prefix folder, with its client and the offline reference."""

    def __init__(self, directory, client: TestClient, serving):
        self.directory, self.client, self.serving = directory, client, serving
        self.batcher = serving.batcher

    def complete(self, model: str, prompt: str, **fields):
        return self.client.post("/v1/completions", json={"model": model, "prompt": prompt, **fields})

    def text(self, model: str, prompt: str, **fields) -> str:
        response = self.complete(model, prompt, **fields)
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["text"]

    def together(self, requests: list[tuple[str, str, dict]]) -> list[str]:
        """Send requests from threads while the worker is paused, so they all wait and form one batch."""
        self.batcher.pause()
        with ThreadPoolExecutor(len(requests)) as pool:
            futures = [pool.submit(self.text, model, prompt, **fields) for model, prompt, fields in requests]
            self.wait_until(lambda s: s["queued"] == len(requests))
            self.batcher.resume()
            return [f.result() for f in futures]

    def wait_until(self, condition, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while not condition(self.batcher.snapshot()):
            assert time.monotonic() < deadline, self.batcher.snapshot()
            time.sleep(0.01)

    def offline(self, kv: torch.Tensor, prompt: str, max_tokens: int | None = None, num_beams: int | None = None):
        """What `decode` (prefix_tuning.evaluate's decoding) gives for the prompt with this prefix alone, through
        Hugging Face `generate` (engine=False): an independent reference for the server's beam engine."""
        settings = task_decoding("e2e").settings
        max_new = max_tokens or settings.max_new_tokens
        settings = replace(
            settings,
            num_beams=num_beams or settings.num_beams,
            max_new_tokens=max_new,
            min_new_tokens=min(settings.min_new_tokens, max_new),
        )
        model = PrefixLM(self.batcher.lm, FixedPrefix(kv))
        return decode(model, self.serving.tokenizer, [prompt], settings, engine=False)[0]


@pytest.fixture
def serve():
    """serve(directory, client=True, **build_serving options) -> Served, its app running under TestClient
    (client=False: no client and no worker yet; a test runs the app under uvicorn). Stopped after the test."""
    started = []

    def start(directory, client: bool = True, **options) -> Served:
        serving = build_serving(directory, device="cpu", **options)
        test_client = TestClient(create_app(serving)) if client else None
        if test_client is not None:
            test_client.__enter__()
        started.append((test_client, serving.batcher))
        return Served(directory, test_client, serving)

    yield start
    for test_client, batcher in started:
        if test_client is not None:
            test_client.__exit__(None, None, None)
        batcher.stop()
