"""Serving load: N concurrent clients on loopback against `python -m prefix_tuning.serve`, K distinct prefixes.

    python benchmarks/serve_load.py [--clients 8] [--requests 32] [--max-tokens 40] [--beams 1] [--prefix FILE]
                                    [--rounds 3]

Starts the server in a subprocess with N prefixes of the embedded SmolLM2-135M (L=10: the activations of
"table-to-text", the paper's init, plus a little noise per user so each is distinct; `--prefix` starts from a
trained prefix file instead), then runs the same real E2E test MRs twice per round: K=1 (every client uses one
prefix) and K=N (client i uses prefix i, so every batch mixes prefixes), `--rounds` rounds back to back (this
host's speed drifts by 10-20% within minutes, so one pair of runs is not a measurement). Each client sends its
next request when the last one is answered. Per run: requests/s, generated tokens/s, p50/p95 latency, errors
(non-200 answers: must be 0) and the mean batch size; a round's ratio is K=N's generated tokens/s over K=1's;
`mixed_over_single` is the median round's (target >= 0.9), whose runs are `runs`; every round is in
`rounds`. Then a streaming run (the same closed loop with `stream: true`; time to the first text chunk, p50/p95)
and an overload round: `--overload` one-shot clients at once against the server's `--max-queue` bound, counting
429s, other errors and hangs (no answer within the client timeout) and the p95 latency of the accepted requests.
Prints a table and writes results/benchmarks/serve.json.
"""

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from prefix_tuning.core.geometry import KVGeometry  # noqa: E402
from prefix_tuning.prefix.file_format import load_prefix, save_prefix  # noqa: E402
from prefix_tuning.prefix.word_init import word_activations  # noqa: E402
from prefix_tuning.serving.base_model import load_served_model, model_config_named  # noqa: E402
from prefix_tuning.tasks.e2e.data import load_eval  # noqa: E402


def write_prefixes(directory: Path, count: int, model: str, base: Path | None, seed: int = 0) -> dict:
    """`count` distinct prefix files p0..p{count-1} for the model; returns the identity they carry."""
    lm, tok, identity = load_served_model(model_config_named(model), "cpu")
    identity = {**identity, "task": "e2e"}
    if base is None:
        kv = word_activations(lm, tok, "table-to-text")
    else:
        kv = load_prefix(base, identity, KVGeometry.of(lm.config))
    generator = torch.Generator().manual_seed(seed)
    for i in range(count):
        noise = 0 if i == 0 else torch.randn(kv.shape, generator=generator) * 0.01 * kv.float().std()
        save_prefix(directory / f"p{i}.safetensors", kv + noise, identity, {"prefix": {"prefix_length": kv.shape[-2]}})
    return identity


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(directory: Path, port: int, max_batch: int, max_queue: int) -> subprocess.Popen:
    """The server, its output in DIR/server.log (a file the server does not take for a prefix)."""
    command = [sys.executable, "-m", "prefix_tuning.serve", "--prefixes", str(directory), "--port", str(port),
               "--max-batch", str(max_batch), "--max-queue", str(max_queue)]  # fmt: skip
    log = directory / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("server did not start in 300 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def run_load(url: str, sources: list[str], clients: int, prefixes: int, max_tokens: int, beams: int) -> dict:
    """Closed loop: each client sends its next MR (from one shared list) when its last answer arrives."""
    work = iter(range(len(sources)))
    lock = threading.Lock()
    latencies, tokens, errors = [], [], []
    before = httpx.get(f"{url}/health").json()

    def client(index: int):
        with httpx.Client(timeout=600) as http:
            while True:
                with lock:
                    item = next(work, None)
                if item is None:
                    return
                body = {"model": f"p{index % prefixes}", "prompt": sources[item], "max_tokens": max_tokens,
                        "num_beams": beams}  # fmt: skip
                start = time.perf_counter()
                try:
                    response = http.post(f"{url}/v1/completions", json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError as err:
                    response, ok = err, False
                with lock:
                    latencies.append(time.perf_counter() - start)
                    if ok:
                        tokens.append(response.json()["usage"]["completion_tokens"])
                    else:
                        errors.append(str(getattr(response, "text", response))[:200])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    after = httpx.get(f"{url}/health").json()
    steps = after["steps"] - before["steps"]
    return {
        "clients": clients, "prefixes": prefixes, "requests": len(sources), "seconds": seconds,
        "requests_per_second": len(sources) / seconds, "generated_tokens": sum(tokens),
        "generated_tokens_per_second": sum(tokens) / seconds,
        "latency_p50_s": percentile(latencies, 0.5), "latency_p95_s": percentile(latencies, 0.95),
        "errors": len(errors), "error_examples": errors[:3],
        "decode_steps": steps, "mean_batch": (after["item_steps"] - before["item_steps"]) / max(steps, 1),
    }  # fmt: skip


def run_streaming(url: str, sources: list[str], clients: int, max_tokens: int, beams: int) -> dict:
    """The closed loop with `stream: true`: seconds from sending a request to its first text chunk."""
    work, lock, first, errors = iter(range(len(sources))), threading.Lock(), [], []

    def client(index: int):
        with httpx.Client(timeout=600) as http:
            while (item := next(work, None)) is not None:
                body = {"model": f"p{index}", "prompt": sources[item], "max_tokens": max_tokens, "num_beams": beams,
                        "stream": True}  # fmt: skip
                start = time.perf_counter()
                with http.stream("POST", f"{url}/v1/completions", json=body) as response:
                    seen = None
                    for line in response.iter_lines():
                        if seen is None and line.startswith("data: {") and json.loads(line[6:])["choices"][0]["text"]:
                            seen = time.perf_counter() - start
                    with lock:
                        (first.append(seen) if response.status_code == 200 and seen else errors.append(item))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"clients": clients, "requests": len(sources), "ttft_p50_s": percentile(first, 0.5),
            "ttft_p95_s": percentile(first, 0.95), "errors": len(errors)}  # fmt: skip


def run_overload(url: str, sources: list[str], burst: int, max_queue: int, max_tokens: int, beams: int) -> dict:
    """`burst` clients at once, one request each: 429s counted, other errors and hangs too (both must be 0)."""
    outcomes, lock = [], threading.Lock()

    def client(index: int):
        body = {"model": f"p{index % 8}", "prompt": sources[index % len(sources)], "max_tokens": max_tokens,
                "num_beams": beams}  # fmt: skip
        start = time.perf_counter()
        try:
            status = httpx.post(f"{url}/v1/completions", json=body, timeout=300).status_code
        except httpx.TimeoutException:
            status = "hang"
        except httpx.HTTPError as err:
            status = type(err).__name__
        with lock:
            outcomes.append((status, time.perf_counter() - start))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [seconds for status, seconds in outcomes if status == 200]
    statuses = [status for status, _ in outcomes]
    return {"clients": burst, "max_queue": max_queue, "accepted": len(accepted), "rejected_429": statuses.count(429),
            "hangs": statuses.count("hang"), "other_errors": sum(s not in (200, 429, "hang") for s in statuses),
            "accepted_latency_p95_s": percentile(accepted, 0.95)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="N concurrent clients (and prefixes in the mixed run)")
    parser.add_argument("--requests", type=int, default=32, help="requests per run (the first E2E test MRs)")
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--beams", type=int, default=1, help="1: greedy")
    parser.add_argument("--model", default="smollm2-135m", help="configs/model name")
    parser.add_argument("--prefix", type=Path, help="a trained prefix file to start from (default: word init)")
    parser.add_argument("--rounds", type=int, default=3, help="single/mixed pairs; the median one is reported")
    parser.add_argument("--max-queue", type=int, default=16, help="the server's --max-queue (rows waiting)")
    parser.add_argument("--overload", type=int, default=64, help="clients sent at once in the overload round")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "serve.json")
    args = parser.parse_args()
    sources = [item.source for item in load_eval("test")][: args.requests]
    with tempfile.TemporaryDirectory() as tmp:
        identity = write_prefixes(Path(tmp), args.clients, args.model, args.prefix)
        port = free_port()
        server = start_server(Path(tmp), port, max_batch=max(args.clients, 1), max_queue=args.max_queue)
        url = f"http://127.0.0.1:{port}"
        try:
            run_load(url, sources[: args.clients], args.clients, 1, args.max_tokens, args.beams)  # warm-up
            rounds = []
            for _ in range(max(args.rounds, 1)):
                pair = {
                    name: run_load(url, sources, args.clients, prefixes, args.max_tokens, args.beams)
                    for name, prefixes in (("single", 1), ("mixed", args.clients))
                }
                speed = {name: run["generated_tokens_per_second"] for name, run in pair.items()}
                rounds.append({**pair, "mixed_over_single": speed["mixed"] / speed["single"]})
                print(f"round {len(rounds)}: mixed_over_single {rounds[-1]['mixed_over_single']:.3f}", flush=True)
            streaming = run_streaming(url, sources, args.clients, args.max_tokens, args.beams)
            overload = run_overload(url, sources, args.overload, args.max_queue, args.max_tokens, args.beams)
        finally:
            server.terminate()
            server.wait(timeout=60)
    median = sorted(rounds, key=lambda r: r["mixed_over_single"])[(len(rounds) - 1) // 2]
    runs, ratio = {name: median[name] for name in ("single", "mixed")}, median["mixed_over_single"]
    result = {
        "base_model": identity["base_model"], "device": "cuda" if torch.cuda.is_available() else "cpu",
        "max_tokens": args.max_tokens, "num_beams": args.beams, "runs": runs, "mixed_over_single": ratio,
        "rounds": rounds,
        "mixed_over_single_requests": runs["mixed"]["requests_per_second"] / runs["single"]["requests_per_second"],
        "errors": sum(r[name]["errors"] for r in rounds for name in ("single", "mixed")),
        "streaming": streaming, "overload": overload,
        "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    print(f"{'run':<8}{'K':>4}{'N':>4}{'req/s':>9}{'tok/s':>9}{'p50 s':>8}{'p95 s':>8}{'batch':>7}{'errors':>8}")
    for name, run in runs.items():
        print(
            f"{name:<8}{run['prefixes']:>4}{run['clients']:>4}{run['requests_per_second']:>9.2f}"
            f"{run['generated_tokens_per_second']:>9.1f}{run['latency_p50_s']:>8.2f}{run['latency_p95_s']:>8.2f}"
            f"{run['mean_batch']:>7.1f}{run['errors']:>8}"
        )
    print(f"mixed_over_single (generated tokens/s), median of {len(rounds)} rounds: {ratio:.3f}  (target >= 0.9)")
    print(
        f"streaming: time to first text chunk p50 {streaming['ttft_p50_s']:.2f} s, p95 {streaming['ttft_p95_s']:.2f} s, "
        f"{streaming['errors']} errors"
    )
    print(
        f"overload: {overload['clients']} clients at once, --max-queue {overload['max_queue']}: {overload['accepted']} "
        f"accepted (p95 {overload['accepted_latency_p95_s']:.2f} s), {overload['rejected_429']} refused with 429, "
        f"{overload['other_errors']} other errors, {overload['hangs']} hangs"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
